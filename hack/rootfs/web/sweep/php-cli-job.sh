# A cron-style PHP CLI job: what a CMS's scheduled task does (file locks, JSON, gzip,
# hashing, a child process, temp files, sleeping), run by php-cli.
cat >"$W/job.php" <<'PHP'
<?php
$w = getenv("W");
$lock = fopen("$w/job.lock", "c");
if (!flock($lock, LOCK_EX | LOCK_NB)) { fwrite(STDERR, "locked\n"); exit(1); }
$data = [];
for ($i = 0; $i < 1000; $i++) { $data[] = ["id" => $i, "h" => hash("sha256", "row$i")]; }
file_put_contents("compress.zlib://$w/export.json.gz", json_encode($data));
$back = json_decode(file_get_contents("compress.zlib://$w/export.json.gz"), true);
$tmp = tempnam(sys_get_temp_dir(), "job");
file_put_contents($tmp, "x"); unlink($tmp);
usleep(10000);
$child = trim(shell_exec("date -u +%Y"));
printf("php-cli %s job: %d rows, child says %s, peak %d KiB\n", PHP_VERSION, count($back), $child, memory_get_peak_usage() / 1024);
flock($lock, LOCK_UN);
PHP
TMPDIR=$W; export TMPDIR W
until_ok php -d opcache.enable_cli=1 "$W/job.php"
