#!/bin/sh
# Inside the busybox rootfs: busybox httpd on loopback, one request with busybox wget.
set -eu
W=${WORK:-/tmp}/httpd
PORT=${PORT:-8083}
mkdir -p "$W/www"
echo "busybox httpd says hello" >"$W/www/index.html"
httpd -p "127.0.0.1:$PORT" -h "$W/www"
i=0
until body=$(wget -q -O - "http://127.0.0.1:$PORT/index.html" 2>"$W/wget.err"); do
  i=$((i + 1))
  if [ $i -ge 100 ]; then echo "no answer from busybox httpd:" >&2; cat "$W/wget.err" >&2; exit 1; fi
  sleep 0.1
done
echo "BODY: $body"
pkill httpd 2>/dev/null || killall httpd 2>/dev/null || true
