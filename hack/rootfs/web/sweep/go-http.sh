# A Go net/http server (a static binary, as Go services are shipped).
PORT=8095
goserver -listen 127.0.0.1:$PORT >"$W/server.log" 2>&1 &
pid=$!
get http://127.0.0.1:$PORT/hello
kill $pid
