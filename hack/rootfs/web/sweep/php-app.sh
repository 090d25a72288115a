# A PHP application behind nginx as a CMS runs: php-fpm with opcache and the JIT, a page
# that keeps a session, takes an upload, sends mail() through sendmail_path, and calls an
# ImageMagick helper with exec(), the way a CMS makes thumbnails.
PORT=8091
mkdir -p "$W/www" "$W/tmp" "$W/sessions" "$W/uploads"
cat >"$W/sendmail" <<SH
#!/bin/sh
cat >>"$W/mail.out"
SH
chmod 755 "$W/sendmail"
cat >"$W/www/app.php" <<'PHP'
<?php
session_save_path(getenv("W") . "/sessions");
session_start();
$_SESSION["n"] = ($_SESSION["n"] ?? 0) + 1;
$out = ["session" => $_SESSION["n"], "opcache" => (bool)(opcache_get_status(false)["opcache_enabled"] ?? false),
        "jit" => (bool)(opcache_get_status(false)["jit"]["on"] ?? false)];
if (isset($_FILES["f"])) {
  $dst = getenv("W") . "/uploads/" . basename($_FILES["f"]["name"]);
  $out["upload"] = move_uploaded_file($_FILES["f"]["tmp_name"], $dst) ? filesize($dst) : "failed";
  exec("convert " . escapeshellarg($dst) . " -resize 8x8 " . escapeshellarg($dst . ".thumb.png") . " 2>&1", $o, $rc);
  $out["thumbnail"] = $rc == 0 ? getimagesize($dst . ".thumb.png")[0] . "px" : "convert failed: " . implode(" ", $o);
}
$out["mail"] = mail("ops@example.test", "sweep", "hello from php") ? "sent" : "failed";
echo json_encode($out), "\n";
PHP
cat >"$W/fpm.conf" <<FPM
[global]
pid = $W/fpm.pid
error_log = $W/fpm.log
daemonize = yes
[www]
listen = $W/fpm.sock
listen.mode = 0666
pm = dynamic
pm.max_children = 4
pm.start_servers = 2
pm.min_spare_servers = 1
pm.max_spare_servers = 3
env[W] = $W
php_admin_value[sendmail_path] = $W/sendmail -t -i
php_admin_value[upload_tmp_dir] = $W/tmp
FPM
cat >"$W/nginx.conf" <<NGX
worker_processes 2;
pid $W/nginx.pid;
error_log $W/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_max_body_size 4m;
  client_body_temp_path $W/tmp/body; fastcgi_temp_path $W/tmp/fastcgi; proxy_temp_path $W/tmp/proxy;
  uwsgi_temp_path $W/tmp/uwsgi; scgi_temp_path $W/tmp/scgi;
  server {
    listen 127.0.0.1:$PORT; root $W/www;
    location ~ \.php\$ {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
      fastcgi_pass unix:$W/fpm.sock;
    }
  }
}
NGX
convert -size 32x32 xc:orange "$W/in.png" || fail "convert (ImageMagick) does not run"
chmod -R a+rwX "$W"
# opcache and the JIT are set up by the master (shared memory): php.ini settings, not the pool's
php-fpm -R -y "$W/fpm.conf" -d opcache.enable=1 -d opcache.jit_buffer_size=16M -d opcache.jit=tracing || fail "php-fpm did not start"
nginx -e "$W/error.log" -c "$W/nginx.conf" || fail "nginx did not start"
get http://127.0.0.1:$PORT/app.php -c "$W/cookies" -b "$W/cookies"
get http://127.0.0.1:$PORT/app.php -c "$W/cookies" -b "$W/cookies" -F "f=@$W/in.png"
grep -q "hello from php" "$W/mail.out" && echo "BODY: mail delivered to sendmail_path"
kill "$(cat "$W/nginx.pid")" "$(cat "$W/fpm.pid")"
