# nginx as its packages configure it for production: worker_processes and
# worker_cpu_affinity auto (each worker pins itself to a CPU: sched_setaffinity), the
# distribution's dynamic modules loaded, gzip, sendfile, a static file and a gzip request.
PORT=8090
mkdir -p "$W/www" "$W/tmp"
echo "nginx static says hello" >"$W/www/index.html"
cat >"$W/nginx.conf" <<NGX
include /etc/nginx/modules-enabled/*.conf;
worker_processes auto;
worker_cpu_affinity auto;
pid $W/nginx.pid;
error_log $W/error.log;
events { worker_connections 256; }
http {
  include /etc/nginx/mime.types;
  access_log $W/access.log;
  sendfile on; tcp_nopush on; gzip on; gzip_types text/plain; gzip_min_length 1;
  client_body_temp_path $W/tmp/body; fastcgi_temp_path $W/tmp/fastcgi; proxy_temp_path $W/tmp/proxy;
  uwsgi_temp_path $W/tmp/uwsgi; scgi_temp_path $W/tmp/scgi;
  server { listen 127.0.0.1:$PORT; root $W/www; }
}
NGX
chmod -R a+rX "$W"
nginx -e "$W/error.log" -c "$W/nginx.conf" || fail "nginx did not start"
get http://127.0.0.1:$PORT/index.html
get http://127.0.0.1:$PORT/index.html -H 'Accept-Encoding: gzip' --compressed -D "$W/headers"
grep -qi '^content-encoding: gzip' "$W/headers" && echo "BODY: gzip content-encoding"
workers=$(pids_of 'nginx: worker')
echo "BODY: nginx workers $(echo $workers | wc -w), pinned: $(for p in $workers; do taskset -cp "$p" | sed 's/.*: //'; done | tr '\n' ' ')"
if grep -q 'sched_setaffinity() failed' "$W/error.log"; then fail "nginx workers could not pin themselves"; fi
kill "$(cat "$W/nginx.pid")"
