#!/bin/sh
# Inside the Debian web rootfs: python3 -m http.server on loopback, one request, body printed.
set -eu
W=${WORK:-/tmp}/python
PORT=${PORT:-8081}
mkdir -p "$W/www"
echo "python http.server says hello" >"$W/www/index.html"
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$W/www" >"$W/server.log" 2>&1 &
pid=$!
i=0
until body=$(curl -fsS "http://127.0.0.1:$PORT/index.html" 2>"$W/curl.err"); do
  i=$((i + 1))
  if [ $i -ge 100 ]; then echo "no answer from python3:" >&2; cat "$W/curl.err" "$W/server.log" >&2; exit 1; fi
  sleep 0.1
done
echo "BODY: $body"
kill $pid
