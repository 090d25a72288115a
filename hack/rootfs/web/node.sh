#!/bin/sh
# Inside the Debian web rootfs: a node http server on loopback, one request, body printed.
set -eu
W=${WORK:-/tmp}/node
PORT=${PORT:-8082}
mkdir -p "$W"
cat >"$W/server.js" <<'JS'
const http = require("http");
http.createServer((req, res) => res.end(`node ${process.version} says hello to ${req.url}\n`))
  .listen(Number(process.env.PORT), "127.0.0.1");
JS
PORT=$PORT node "$W/server.js" >"$W/server.log" 2>&1 &
pid=$!
i=0
until body=$(curl -fsS "http://127.0.0.1:$PORT/ping" 2>"$W/curl.err"); do
  i=$((i + 1))
  if [ $i -ge 100 ]; then echo "no answer from node:" >&2; cat "$W/curl.err" "$W/server.log" >&2; exit 1; fi
  sleep 0.1
done
echo "BODY: $body"
kill $pid
