#!/bin/sh
# Inside the Debian web rootfs: nginx -> php-fpm over a unix socket, one request on loopback,
# the body printed. Writes only under $WORK (default /tmp: the container's tmpfs scratch).
set -eu
W=${WORK:-/tmp}/nginx-php
PORT=${PORT:-8080}
mkdir -p "$W/www" "$W/run" "$W/tmp"
cat >"$W/www/index.php" <<'PHP'
<?php echo "php-fpm ", PHP_VERSION, " says ", 6 * 7, " via ", php_sapi_name(), "\n";
PHP
cat >"$W/fpm.conf" <<FPM
[global]
pid = $W/run/fpm.pid
error_log = $W/fpm.log
daemonize = yes
[www]
listen = $W/run/fpm.sock
listen.mode = 0666
pm = static
pm.max_children = 2
FPM
cat >"$W/nginx.conf" <<NGX
worker_processes 1;
pid $W/run/nginx.pid;
error_log $W/nginx-error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $W/tmp/body;
  fastcgi_temp_path $W/tmp/fastcgi;
  proxy_temp_path $W/tmp/proxy;
  uwsgi_temp_path $W/tmp/uwsgi;
  scgi_temp_path $W/tmp/scgi;
  server {
    listen 127.0.0.1:$PORT;
    root $W/www;
    location ~ \.php\$ {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
      fastcgi_pass unix:$W/run/fpm.sock;
    }
  }
}
NGX
chmod -R a+rX "$W"
php-fpm -R -y "$W/fpm.conf"
nginx -e "$W/nginx-error.log" -c "$W/nginx.conf"
i=0
until body=$(curl -fsS "http://127.0.0.1:$PORT/index.php" 2>"$W/curl.err"); do
  i=$((i + 1))
  if [ $i -ge 100 ]; then
    echo "no answer from nginx/php-fpm:" >&2
    cat "$W/curl.err" "$W/nginx-error.log" "$W/fpm.log" >&2 || true
    exit 1
  fi
  sleep 0.1
done
echo "BODY: $body"
kill "$(cat "$W/run/nginx.pid")" "$(cat "$W/run/fpm.pid")" 2>/dev/null || true
