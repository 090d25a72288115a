# redis as a web app's cache and session store: SET, GET, INCR, EXPIRE with redis-cli.
PORT=6390
redis-server --port $PORT --bind 127.0.0.1 --dir "$W" --save "" --appendonly no --daemonize yes \
  --pidfile "$W/redis.pid" --logfile "$W/redis.log" || fail "redis-server did not start"
until_ok redis-cli -p $PORT PING
redis-cli -p $PORT SET greeting "redis says hello" >/dev/null
redis-cli -p $PORT INCR hits >/dev/null
redis-cli -p $PORT EXPIRE greeting 60 >/dev/null
echo "BODY: $(redis-cli -p $PORT GET greeting), hits $(redis-cli -p $PORT GET hits)"
kill "$(cat "$W/redis.pid")"
