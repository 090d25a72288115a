# node's cluster module: a primary forks one worker per CPU (at least 2), which share the
# listening socket; a few requests reach the workers.
PORT=8093
cat >"$W/server.js" <<'JS'
const cluster = require("cluster"), http = require("http"), os = require("os");
if (cluster.isPrimary) {
  for (let i = 0; i < Math.max(2, os.cpus().length); i++) cluster.fork();
} else {
  http.createServer((req, res) => res.end(`node ${process.version} cluster worker says hello\n`))
    .listen(Number(process.env.PORT), "127.0.0.1");
}
JS
PORT=$PORT node "$W/server.js" >"$W/server.log" 2>&1 &
pid=$!
get http://127.0.0.1:$PORT/
for i in 1 2 3 4; do get http://127.0.0.1:$PORT/ >/dev/null; done
echo "BODY: node workers $(children $pid)"
kill $pid
