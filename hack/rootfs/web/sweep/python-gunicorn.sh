# A WSGI application under gunicorn with two sync workers, as a Django or Flask app runs.
PORT=8094
cat >"$W/app.py" <<'PY'
import os, sys
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"gunicorn worker {os.getpid()} on python {sys.version.split()[0]} says hello\n".encode()]
PY
gunicorn --chdir "$W" --bind 127.0.0.1:$PORT --workers 2 --worker-tmp-dir "$W" --pid "$W/gunicorn.pid" \
  --log-file "$W/gunicorn.log" --daemon app:application || fail "gunicorn did not start"
get http://127.0.0.1:$PORT/ | sed 's/worker [0-9]*/worker/'
kill "$(cat "$W/gunicorn.pid")"
