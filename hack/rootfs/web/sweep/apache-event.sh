# Apache httpd 2.4 with mpm_event, as Debian runs it: a master as root, workers as
# www-data, a static file and a CGI-free status page.
PORT=8092
mkdir -p "$W/www" "$W/run" "$W/lock"
echo "apache httpd says hello" >"$W/www/index.html"
cat >"$W/httpd.conf" <<CONF
ServerRoot /etc/apache2
ServerName localhost
PidFile $W/run/httpd.pid
Mutex file:$W/lock default
DefaultRuntimeDir $W/run
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
LoadModule dir_module /usr/lib/apache2/modules/mod_dir.so
LoadModule status_module /usr/lib/apache2/modules/mod_status.so
User www-data
Group www-data
StartServers 2
ServerLimit 2
ThreadsPerChild 8
MaxRequestWorkers 16
Listen 127.0.0.1:$PORT
ErrorLog $W/error.log
TypesConfig /etc/mime.types
DocumentRoot $W/www
<Directory $W/www>
  Require all granted
</Directory>
<Location /server-status>
  SetHandler server-status
  Require all granted
</Location>
CONF
chmod -R a+rX "$W"
chmod a+w "$W/run" "$W/lock"
apache2 -f "$W/httpd.conf" -k start || fail "apache2 did not start"
get http://127.0.0.1:$PORT/index.html
get "http://127.0.0.1:$PORT/server-status?auto" >/dev/null
echo "BODY: $(grep -E '^ServerMPM' "$W/body")"
kill "$(cat "$W/run/httpd.pid")"
