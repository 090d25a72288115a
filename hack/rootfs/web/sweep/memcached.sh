# memcached as a web app's object cache: set and get over its text protocol.
PORT=11290
memcached -u root -l 127.0.0.1 -p $PORT -m 16 -d -P "$W/memcached.pid" -vv >"$W/memcached.log" 2>&1 || fail "memcached did not start"
# the client: a socket from python3 (busybox nc stops reading at the end of its input)
cat >"$W/client.py" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"set greeting 0 60 22\r\nmemcached says hello!!\r\nget greeting\r\nquit\r\n")
data = b""
while chunk := s.recv(4096):
    data += chunk
lines = data.decode().split("\r\n")
print(lines[lines.index(next(l for l in lines if l.startswith("VALUE"))) + 1])
PY
until_ok python3 "$W/client.py" $PORT
kill "$(cat "$W/memcached.pid")"
