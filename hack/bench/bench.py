#!/usr/bin/env python3
"""tenantrun benchmarks: one run, commands alternated, medians and ratios.

Called by hack/bench/run.sh (`make bench`); writes docs/benchmarks.md and docs/benchmarks.svg.
Everything it creates lives under one scratch directory and uses container ids with one
random prefix, so the cleanup (also on failure or Ctrl-C) only ever touches its own
containers, cgroups, mounts and processes. Sizes come from the environment (see run.sh).
"""

import datetime
import glob
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.join(REPO, "hack", "bench")
sys.path.insert(0, HERE)
import svgplot  # noqa: E402


def env_int(name, default):
    v = os.environ.get(name, "")
    return int(v) if v.strip() else default


CFG = {
    "N": env_int("BENCH_N", 40),  # lifecycle rounds (each round runs every runtime once)
    "WARMUP": env_int("BENCH_WARMUP", 3),
    "EXEC_N": env_int("BENCH_EXEC_N", 30),
    "LIST_COUNT": env_int("BENCH_LIST_COUNT", 1000),
    "LIST_N": env_int("BENCH_LIST_N", 20),
    "CONC": env_int("BENCH_CONC", 200),
    "TENANTS": env_int("BENCH_TENANTS", 20),
    "CONC_PAR": env_int("BENCH_CONC_PAR", 0),  # 0: all at once
    "PHASE_N": env_int("BENCH_PHASE_N", 15),
    "STRACE": env_int("BENCH_STRACE", 1),
    "BENCHTIME": os.environ.get("BENCH_GO_BENCHTIME", "2000x"),
    "ABL_N": env_int("BENCH_ABLATION_N", 25),  # rounds of the libcontainer ablation (0: skip)
    "PERF_N": env_int("BENCH_PERF_N", 20),  # `run`s under perf record for the CPU attribution (0: skip)
}
TENANTRUN = os.environ.get("TENANTRUN_BIN", os.path.join(REPO, "bin", "tenantrun"))
RUNC = os.environ.get("BENCH_RUNC", "/usr/sbin/runc")
CRUN = os.environ.get("BENCH_CRUN", shutil.which("crun") or "/usr/bin/crun")
OUT_MD = os.environ.get("BENCH_OUT", os.path.join(REPO, "docs", "benchmarks.md"))
OUT_SVG = os.path.splitext(OUT_MD)[0] + ".svg"
PREFIX = "trb" + os.urandom(3).hex()  # every container id of this run starts with it
LIST_PER_TENANT = 150
LIST_TENANTS = max(1, -(-CFG["LIST_COUNT"] // LIST_PER_TENANT))



def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# running commands with wall time, CPU time and peak RSS (wait4 rusage of the child, which
# includes its waited-for descendants: the runtime's own init child for run/exec)


class Res:
    __slots__ = ("argv", "code", "wall", "cpu", "maxrss", "out", "err")

    def __str__(self):
        return "%s: exit %s, %.1f ms\nstderr: %s" % (" ".join(self.argv), self.code, self.wall * 1e3,
                                                    self.err.strip()[-2000:])


class Runner:
    """Runs commands through hack/bench/spawn.c (a small C parent measuring wall, rusage and
    peak RSS of exactly the command: see the comment there)."""

    def __init__(self, work):
        self.work = work
        self.outp = os.path.join(work, "cmd.out")
        self.errp = os.path.join(work, "cmd.err")
        self.spawn = os.path.join(work, "spawn")
        r = sh(["gcc", "-O2", "-o", self.spawn, os.path.join(HERE, "spawn.c")])
        if r.returncode != 0:
            raise SystemExit("bench: cannot build hack/bench/spawn.c: " + r.stderr)

    def run(self, argv, cwd=None, mntns=None, env=None, capture=True, timeout=120):
        rr, rw = os.pipe()
        out = open(self.outp, "w") if capture else subprocess.DEVNULL
        err = open(self.errp, "w")
        try:
            p = subprocess.Popen([self.spawn, mntns or "-", str(timeout), str(rw)] + argv, cwd=cwd, env=env,
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=err, pass_fds=(rw,))
        finally:
            os.close(rw)
        rep = b""
        with os.fdopen(rr, "rb") as f:
            rep = f.read()
        p.wait()
        if capture:
            out.close()
        err.close()
        r = Res()
        r.argv = argv
        f = rep.split()
        if len(f) == 5:
            r.wall = int(f[0]) / 1e9
            r.cpu = (int(f[1]) + int(f[2])) / 1e6
            r.maxrss = int(f[3])
            r.code = int(f[4])
        else:
            r.wall, r.cpu, r.maxrss, r.code = float("nan"), float("nan"), 0, -1
        r.out = open(self.outp, errors="replace").read() if capture else ""
        r.err = open(self.errp, errors="replace").read()
        return r


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, text=True, **kw)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def pct(xs, p):
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = (len(s) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def ms(x):
    return "%.1f" % (x * 1e3) if x == x else "n/a"


# ---------------------------------------------------------------------------------------------
# machine description


def machine():
    m = {}
    m["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    m["kernel"] = os.uname().release
    cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")]
    m["cpu"] = "%d × %s" % (len(cpu), cpu[0] if cpu else "?")
    mem = [l for l in open("/proc/meminfo") if l.startswith("MemTotal")]
    m["mem"] = "%.1f GiB" % (int(mem[0].split()[1]) / 1048576) if mem else "?"
    try:
        osr = dict(l.rstrip().split("=", 1) for l in open("/etc/os-release") if "=" in l)
        m["os"] = osr.get("PRETTY_NAME", "?").strip('"')
    except OSError:
        m["os"] = "?"
    fs = sh(["stat", "-fc", "%T", "/sys/fs/cgroup"]).stdout.strip()
    uni = os.path.ismount("/sys/fs/cgroup/unified")
    m["cgroup"] = {"cgroup2fs": "v2 (unified)", "tmpfs": "v1 hybrid (v2 at /sys/fs/cgroup/unified)" if uni else "v1"}.get(fs, fs)
    m["tenantrun"] = sh([TENANTRUN, "--version"]).stdout.strip().replace("\n", "; ")
    m["commit"] = sh(["git", "-C", REPO, "describe", "--always", "--dirty"]).stdout.strip()
    m["go"] = sh(["go", "version"]).stdout.strip()
    m["runc"] = sh([RUNC, "--version"]).stdout.strip().split("\n")[0] if os.path.exists(RUNC) else "missing"
    m["crun"] = sh([CRUN, "--version"]).stdout.strip().split("\n")[0] if os.path.exists(CRUN) else "missing"
    m["libseccomp"] = sh(["dpkg-query", "-W", "-f=${Version}", "libseccomp2"]).stdout.strip()
    m["load"] = open("/proc/loadavg").read().split()[:3]
    return m


# ---------------------------------------------------------------------------------------------
# bundles and runtimes


def tenant_config(path, ntenants):
    lines = ["# written by hack/bench: the built-in default tenant plus %d bench tenants" % ntenants,
             "[defaults]", 'fallback_tenant = "default"', "",
             "[tenants.default]", 'uid_range = "1000000:65536"', 'foreign_idmap = "override"', ""]
    # benchlist<j> hold the 1,000 created containers of the list measurement: a created
    # container's init is a Go process (~5 threads, a few MiB), which the default tenant quota
    # (256 pids, 512 MiB) caps at ~50 containers. Each container also gets a session keyring
    # owned by its root's host uid, and kernel.keys.maxkeys (200 here) caps one uid at 200
    # keys: the 1,000 are spread over LIST_TENANTS tenants of at most 150 containers.
    for j in range(LIST_TENANTS):
        n = "benchlist%d" % j
        lines += ["[tenants.%s]" % n, 'uid_range = "%d:65536"' % (2000000 + j * 65536 * 2 + 5000000),
                  'foreign_idmap = "override"',
                  "[tenants.%s.quota]" % n, 'memory = "64G"', "pids = 1000000", "cpus = 2.0",
                  "[tenants.%s.container]" % n, 'memory = "64M"', "pids = 64", "cpus = 1.0", ""]
    for i in range(ntenants):
        lines += ["[tenants.bench%02d]" % i, 'uid_range = "%d:65536"' % (3000000 + i * 65536),
                  'foreign_idmap = "override"', ""]
    open(path, "w").write("\n".join(lines))


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)


class Bench:
    def __init__(self):
        self.work = tempfile.mkdtemp(prefix="tenantrun-bench.", dir=os.environ.get("BENCH_TMP", "/tmp"))
        os.chmod(self.work, 0o755)
        self.R = Runner(self.work)
        self.roots = {k: os.path.join(self.work, "state-" + k) for k in ("tenantrun", "runc", "crun", "list")}
        self.mntns_pid = None
        self.mntns_fd = None
        self.results = {"cfg": CFG, "notes": [], "errors": []}
        self.seq = 0

    def nid(self, tag):
        self.seq += 1
        return "%s-%s%d" % (PREFIX, tag, self.seq)

    def mkbundle(self, name, spec):
        """W/name with its own copy of the busybox rootfs (the policy wants root.path inside
        the bundle) and spec as config.json (root.path "rootfs")."""
        d = os.path.join(self.work, name)
        os.makedirs(d, exist_ok=True)
        if not os.path.isdir(os.path.join(d, "rootfs")):
            r = sh(["cp", "-a", self.template, os.path.join(d, "rootfs")])
            if r.returncode != 0:
                raise SystemExit("bench: copying the rootfs: " + r.stderr)
        spec = json.loads(json.dumps(spec))
        spec["root"]["path"] = "rootfs"
        write_json(os.path.join(d, "config.json"), spec)
        return d

    # ---- setup
    def setup(self):
        w = self.work
        self.template = os.path.join(w, "rootfs-template")
        r = sh([os.path.join(REPO, "hack", "rootfs", "mk-busybox.sh"), self.template])
        if r.returncode != 0:
            raise SystemExit("mk-busybox: " + r.stderr)
        # mount points the policy adds (scratch tmpfs); crun cannot create them in a root-owned
        # rootfs from inside the user namespace
        os.makedirs(os.path.join(self.template, "var", "tmp"), exist_ok=True)
        # the plain bundle: `runc spec` with /bin/true, no terminal
        tmp = os.path.join(w, "runc-spec")
        os.makedirs(tmp)
        r = sh([RUNC, "spec", "--bundle", tmp])
        if r.returncode != 0:
            raise SystemExit("runc spec: " + r.stderr)
        spec = json.load(open(os.path.join(tmp, "config.json")))
        spec["process"]["terminal"] = False
        spec["process"]["args"] = ["/bin/true"]
        self.plain_spec = spec
        plain = self.mkbundle("plain", spec)
        self.cfgfile = os.path.join(w, "tenants.toml")
        tenant_config(self.cfgfile, CFG["TENANTS"])
        self.tr_global = [TENANTRUN, "--root", self.roots["tenantrun"], "--config", self.cfgfile]

        # tenantrun gets the plain bundle (its policy rewrites it); if the policy refuses it,
        # the starter config of `tenantrun spec` is used instead and that is recorded.
        self.b = {"plain": plain}
        trb = plain
        probe = self.R.run(self.tr_global + ["run", self.nid("probe")], cwd=plain)
        if probe.code != 0:
            alt = os.path.join(w, "trspec")
            os.makedirs(alt)
            s = sh([TENANTRUN, "spec", "--bundle", alt])
            if s.returncode == 0:
                sp = json.load(open(os.path.join(alt, "config.json")))
                sp["process"]["args"] = ["/bin/true"]
                sp["process"]["terminal"] = False
                trb = self.mkbundle("trspec", sp)
                self.results["notes"].append("the policy refused the plain `runc spec` bundle (%s); "
                                             "tenantrun runs the `tenantrun spec` starter bundle instead"
                                             % probe.err.strip().splitlines()[-1][:200])
                probe = self.R.run(self.tr_global + ["run", self.nid("probe")], cwd=trb)
            if probe.code != 0:
                raise SystemExit("tenantrun cannot run the bench bundle:\n%s" % probe)
        self.b["tenantrun"] = trb
        self.tr_mode = self.policy_mode(trb)

        # runc with equivalent hardening: what tenantrun's policy produced if it can tell
        # (policy explain), else plain + userns + the embedded web seccomp profile + ro root
        hs, how = self.hardened_spec(trb)
        self.b["runc-hardened"] = self.mkbundle("hardened", hs)
        self.hardened_how = how
        # crun: the plain bundle with ociVersion 1.0.2, run in a private mount namespace with
        # /sys/fs/cgroup/unified unmounted (crun 1.8.1 refuses a v1+v2 hybrid)
        cs = json.loads(json.dumps(spec))
        cs["ociVersion"] = "1.0.2"
        self.b["crun"] = self.mkbundle("crun", cs)
        # crun with the same hardened config as runc-hardened: what a policy front-end that
        # hands the rewritten bundle to crun would run
        chs = json.loads(json.dumps(hs))
        chs["ociVersion"] = "1.0.2"
        self.b["crun-hardened"] = self.mkbundle("crun-hardened", chs)
        if os.path.exists(CRUN):
            self.start_mntns()
        # sleeping variants for exec and list
        for k in list(self.b):
            s = json.load(open(os.path.join(self.b[k], "config.json")))
            s["process"]["args"] = ["/bin/sleep", "100000"]
            self.b[k + "-sleep"] = self.mkbundle(k + "-sleep", s)

    def policy_mode(self, bundle):
        """What the tenant policy did to the bundle (the sidecar tenantrun keeps per container)."""
        id_ = self.nid("mode")
        r = self.R.run(self.tr_global + ["create", id_], cwd=bundle)
        info = {}
        if r.code == 0:
            side = os.path.join(self.roots["tenantrun"], id_, "tenantrun.json")
            try:
                info = json.load(open(side))
            except (OSError, ValueError):
                pass
            st = os.path.join(self.roots["tenantrun"], id_, "state.json")
            try:
                s = json.load(open(st))
                c = s.get("config", {})
                sc = c.get("seccomp") or {}
                info["_seccomp_syscalls"] = sum(len(x.get("names", []) or [1]) for x in (sc.get("syscalls") or []))
                info["_userns"] = bool(c.get("uid_mappings"))
                info["_readonly"] = bool(c.get("readonlyfs"))
                info["_mounts"] = len(c.get("mounts") or [])
                info["_state_bytes"] = os.path.getsize(st)
            except (OSError, ValueError):
                pass
            self.R.run(self.tr_global + ["delete", "--force", id_])
        return info

    def hardened_spec(self, trbundle):
        r = sh(self.tr_global[:1] + ["policy", "explain", "--help"])
        if r.returncode == 0 and "format" in r.stdout + r.stderr:
            e = sh(self.tr_global + ["policy", "explain", "--format", "json", "--bundle", trbundle])
            if e.returncode == 0:
                try:
                    doc = json.loads(e.stdout)
                    s = doc.get("config") or doc.get("spec") or doc
                    if isinstance(s, dict) and "process" in s and s.get("linux", {}).get("seccomp"):
                        s["linux"].pop("cgroupsPath", None)
                        flags = s["linux"]["seccomp"].pop("flags", None)
                        s["ociVersion"] = "1.0.2"
                        return s, ("exactly the config.json `tenantrun policy explain --format json` prints for the "
                                   "same bundle (user namespace, seccomp profile, read-only root, masks, mounts, "
                                   "resources), with cgroupsPath dropped (runc's default), ociVersion 1.0.2%s; "
                                   "the rootfs is not idmapped (runc 1.1.5 cannot)" %
                                   (" and seccomp flags %s removed (runc 1.1.5 refuses them)" % flags if flags else ""))
                except ValueError:
                    pass
        s = json.loads(json.dumps(self.plain_spec))
        prof = json.load(open(os.path.join(REPO, "seccomp-profiles", "web.json")))
        s["root"]["readonly"] = True
        lin = s.setdefault("linux", {})
        lin["namespaces"] = [n for n in lin.get("namespaces", []) if n["type"] != "user"] + [{"type": "user"}]
        lin["uidMappings"] = [{"containerID": 0, "hostID": 1000000, "size": 65536}]
        lin["gidMappings"] = [{"containerID": 0, "hostID": 1000000, "size": 65536}]
        # runc 1.1.5 refuses seccomp flags ("not yet supported"); TSYNC changes nothing for a
        # single-threaded init
        flags = prof.pop("flags", None)
        lin["seccomp"] = prof
        n = sum(len(x.get("names", [])) for x in prof.get("syscalls", []))
        return s, ("the plain bundle + user namespace (0→1000000, 65536) + seccomp-profiles/web.json "
                   "(%d syscall names%s) + read-only root" % (n, ", without its flags %s, which runc 1.1.5 refuses" % flags if flags else ""))

    def start_mntns(self):
        p = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                              "umount /sys/fs/cgroup/unified 2>/dev/null; echo ready; exec sleep 100000"],
                             stdout=subprocess.PIPE, text=True)
        p.stdout.readline()
        self.mntns_proc = p
        self.mntns_fd = "/proc/%d/ns/mnt" % p.pid

    # ---- runtimes
    def rt(self, name):
        """argv prefix, bundle, mount namespace for one runtime."""
        if name == "tenantrun":
            return self.tr_global, self.b["tenantrun"], None
        if name == "runc":
            return [RUNC, "--root", self.roots["runc"]], self.b["plain"], None
        if name == "runc-hardened":
            return [RUNC, "--root", self.roots["runc"]], self.b["runc-hardened"], None
        if name in ("crun", "crun-hardened"):
            return [CRUN, "--root", self.roots["crun"], "--cgroup-manager=cgroupfs"], self.b[name], self.mntns_fd
        raise KeyError(name)

    def runtimes(self):
        names = ["tenantrun", "runc", "runc-hardened"]
        if self.mntns_fd is not None:
            names += ["crun", "crun-hardened"]
        return names

    # ---- lifecycle
    def bench_lifecycle(self):
        names = self.runtimes()
        data = {n: {"wall": [], "cpu": [], "rss": [], "fail": 0, "errs": []} for n in names}
        # the policy alone in a fresh process (decode + tenant + Enforce, no container), alternated
        # with the rest: the front-end cost if the rewritten bundle were handed to another runtime
        pol = "tenantrun policy explain"
        data[pol] = {"wall": [], "cpu": [], "rss": [], "fail": 0, "errs": []}
        for rnd in range(CFG["WARMUP"] + CFG["N"]):
            order = names[rnd % len(names):] + names[:rnd % len(names)]  # rotate: no fixed position
            for n in order + [pol]:
                if n == pol:
                    r = self.R.run(self.tr_global + ["policy", "explain", "--format", "json", "--bundle",
                                                     self.b["tenantrun"]], capture=False)
                    if rnd >= CFG["WARMUP"] and r.code == 0:
                        data[pol]["wall"].append(r.wall)
                        data[pol]["cpu"].append(r.cpu)
                        data[pol]["rss"].append(r.maxrss)
                    elif rnd >= CFG["WARMUP"]:
                        data[pol]["fail"] += 1
                    continue
                g, b, ns = self.rt(n)
                r = self.R.run(g + ["run", self.nid("l")], cwd=b, mntns=ns, capture=False)
                if rnd < CFG["WARMUP"]:
                    continue
                d = data[n]
                if r.code != 0:
                    d["fail"] += 1
                    if len(d["errs"]) < 3:
                        d["errs"].append(str(r))
                    continue
                d["wall"].append(r.wall)
                d["cpu"].append(r.cpu)
                d["rss"].append(r.maxrss)
        self.results["policy_cli"] = data.pop(pol)
        self.results["lifecycle"] = data
        log("lifecycle: " + ", ".join("%s %s ms" % (n, ms(median(data[n]["wall"]))) for n in names))

    # ---- exec
    def bench_exec(self):
        # crun-hardened is left out: crun 1.8.1's exec into it fails ("capset: Operation not
        # permitted", the bounding set is reduced and exec asks for the default set)
        names = [n for n in self.runtimes() if n != "crun-hardened"]
        ids = {}
        data = {n: {"wall": [], "cpu": [], "rss": [], "fail": 0, "errs": []} for n in names}
        try:
            for n in names:
                g, b, ns = self.rt(n)
                id_ = self.nid("x")
                r = self.R.run(g + ["run", "-d", id_], cwd=self.b[("tenantrun" if n == "tenantrun" else
                                                                   "plain" if n == "runc" else n) + "-sleep"],
                               mntns=ns, capture=False)
                if r.code != 0:
                    data[n]["fail"] += 1
                    data[n]["errs"].append("run -d: " + str(r))
                    continue
                ids[n] = id_
            for rnd in range(CFG["WARMUP"] + CFG["EXEC_N"]):
                order = names[rnd % len(names):] + names[:rnd % len(names)]
                for n in order:
                    if n not in ids:
                        continue
                    g, b, ns = self.rt(n)
                    r = self.R.run(g + ["exec", ids[n], "/bin/true"], mntns=ns, capture=False)
                    if rnd < CFG["WARMUP"]:
                        continue
                    if r.code != 0:
                        data[n]["fail"] += 1
                        if len(data[n]["errs"]) < 3:
                            data[n]["errs"].append(str(r))
                        continue
                    data[n]["wall"].append(r.wall)
                    data[n]["cpu"].append(r.cpu)
                    data[n]["rss"].append(r.maxrss)
        finally:
            for n, id_ in ids.items():
                g, b, ns = self.rt(n)
                self.R.run(g + ["delete", "--force", id_], mntns=ns)
        self.results["exec"] = data
        log("exec: " + ", ".join("%s %s ms" % (n, ms(median(data[n]["wall"]))) for n in names))

    # ---- state and list with many containers
    def bench_list(self):
        count = CFG["LIST_COUNT"]
        root = self.roots["list"]
        g = [TENANTRUN, "--root", root, "--config", self.cfgfile]
        sb = self.b["tenantrun-sleep"]
        ids = ["%s-n%04d" % (PREFIX, i) for i in range(count)]
        res = {"count": count, "created": 0, "create_fail": 0, "errs": []}
        t0 = time.perf_counter()
        running = []
        try:
            # two at a time (2 cores); Popen, stdio to files so create returns
            pending = list(ids)
            devnull = open(os.devnull, "w")
            errf = open(os.path.join(self.work, "list-create.err"), "a")
            while pending or running:
                while pending and len(running) < 2:
                    id_ = pending.pop(0)
                    tn = ["--tenant", "benchlist%d" % (int(id_.rsplit("-n", 1)[1]) // LIST_PER_TENANT)]
                    running.append((id_, subprocess.Popen(g + tn + ["create", id_], cwd=sb, stdin=subprocess.DEVNULL,
                                                          stdout=devnull, stderr=errf)))
                id_, p = running.pop(0)
                if p.wait(timeout=120) == 0:
                    res["created"] += 1
                else:
                    res["create_fail"] += 1
            res["create_s"] = time.perf_counter() - t0
            errf.flush()
            if res["create_fail"]:
                res["errs"] += sorted(set(l.strip()[:300] for l in open(errf.name, errors="replace")
                                          if l.strip()))[:3]
            present = [i for i in ids if os.path.isdir(os.path.join(root, i))]
            log("list: %d containers created in %.0f s" % (len(present), res["create_s"]))
            meas = {"state": [], "list": [], "list -q": [], "list --format json": []}
            rss = {k: [] for k in meas}
            cpu = {k: [] for k in meas}
            for rnd in range(CFG["LIST_N"] + 2):
                for k in meas:
                    if k == "state":
                        r = self.R.run(g + ["state", random.choice(present)])
                    else:
                        r = self.R.run(g + k.split())
                    if rnd < 2:
                        continue
                    if r.code != 0:
                        res["errs"].append(str(r))
                        continue
                    if k == "list -q":
                        res["listed"] = len(r.out.split())
                    meas[k].append(r.wall)
                    rss[k].append(r.maxrss)
                    cpu[k].append(r.cpu)
            res["wall"], res["rss"], res["cpu"] = meas, rss, cpu
            res["present"] = len(present)
            # runc for comparison on the same count is too slow for the 10-minute budget;
            # state of one container in an almost empty root is the baseline instead.
        finally:
            # creates still in flight (interrupted run) finish first, so delete sees them
            for _, p in running:
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
            t1 = time.perf_counter()
            self.delete_all(g, root)
            res["delete_s"] = time.perf_counter() - t1
        left = os.listdir(root) if os.path.isdir(root) else []
        res["left"] = left
        self.results["list"] = res
        log("list: state %s ms, list %s ms; deleted in %.0f s" % (ms(median(res.get("wall", {}).get("state", []))),
                                                                  ms(median(res.get("wall", {}).get("list", []))),
                                                                  res["delete_s"]))

    def delete_all(self, g, root, mntns=None):
        """delete --force every container under root, two at a time; then once more serially."""
        if not os.path.isdir(root):
            return
        for attempt in range(2):
            ids = sorted(os.listdir(root))
            if not ids:
                return
            running = []
            for id_ in ids:
                pre = ["nsenter", "--mount=" + mntns] if mntns else []
                running.append(subprocess.Popen(pre + g + ["delete", "--force", id_], stdin=subprocess.DEVNULL,
                                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                if len(running) >= 2 - attempt:
                    running.pop(0).wait(timeout=60)
            for p in running:
                p.wait(timeout=60)

    # ---- ablation: what each part of the hardening costs inside libcontainer
    def bench_ablation(self):
        """Variants of the hardened bundle, run by hack/bench/lcrun (libcontainer v1.5.3 as
        tenantrun embeds it, with no policy in between), alternated round-robin."""
        w = self.work
        builds = {}
        for name, tags, ld in (("lcrun", "seccomp", ""),
                               ("lcrun-static", "seccomp netgo osusergo", "-extldflags -static")):
            out = os.path.join(w, name)
            cmd = ["nice", "go", "build", "-tags", tags, "-o", out]
            if ld:
                cmd += ["-ldflags", ld]
            r = sh(cmd + ["./hack/bench/lcrun"], cwd=REPO, env=dict(os.environ, GOFLAGS="-mod=mod", CGO_ENABLED="1"))
            if r.returncode == 0:
                builds[name] = out
            else:
                self.results["notes"].append("ablation: building %s failed: %s" % (name, r.stderr.strip()[-300:]))
        if "lcrun" not in builds:
            self.results["ablation"] = None
            return
        base = json.load(open(os.path.join(self.b["runc-hardened"], "config.json")))
        base["process"].get("capabilities", {}).pop("ambient", None)
        big = self.all_syscalls_profile(base["linux"]["seccomp"])

        def variant(tag, f):
            s = json.loads(json.dumps(base))
            f(s)
            return self.mkbundle("abl-" + tag, s)

        def nocg(s):
            s["mounts"] = [m for m in s["mounts"] if m["destination"] != "/sys/fs/cgroup"]

        def noseccomp(s):
            s["linux"].pop("seccomp", None)

        def bigsc(s):
            s["linux"]["seccomp"] = big

        def nouserns(s):
            s["linux"]["namespaces"] = [n for n in s["linux"]["namespaces"] if n["type"] != "user"]
            s["linux"].pop("uidMappings", None)
            s["linux"].pop("gidMappings", None)

        def mindev(s):
            nocg(s)
            s["mounts"] = [m for m in s["mounts"] if m["destination"] not in ("/dev/pts", "/dev/mqueue", "/dev/shm")]

        def nomask(s):
            s["linux"].pop("maskedPaths", None)
            s["linux"].pop("readonlyPaths", None)

        nbig = sum(len(x["names"]) for x in big["syscalls"])
        nweb = sum(len(x.get("names", [])) for x in base["linux"]["seccomp"]["syscalls"])
        V = [("H: userns + web seccomp (%d) + ro root, `runc spec` mounts" % nweb, "lcrun", variant("h", lambda s: None)),
             ("H − the v1 /sys/fs/cgroup mount", "lcrun", variant("nocg", nocg)),
             ("H − /sys/fs/cgroup, /dev/pts, /dev/shm, /dev/mqueue mounts", "lcrun", variant("mindev", mindev)),
             ("H − maskedPaths/readonlyPaths", "lcrun", variant("nomask", nomask)),
             ("H − seccomp", "lcrun", variant("nosc", noseccomp)),
             ("H with a %d-syscall allowlist" % nbig, "lcrun", variant("big", bigsc)),
             ("H − user namespace", "lcrun", variant("nouserns", nouserns)),
             ("plain `runc spec` bundle (no hardening)", "lcrun", self.b["plain"])]
        if "lcrun-static" in builds:
            V.append(("H, static binary (netgo, osusergo, -extldflags -static)", "lcrun-static", V[0][2]))
        root = os.path.join(w, "state-lcrun")
        self.roots["lcrun"] = root
        data = [{"label": l, "wall": [], "cpu": [], "rss": [], "fail": 0, "errs": []} for l, _, _ in V]
        for rnd in range(2 + CFG["ABL_N"]):
            idx = list(range(len(V)))
            idx = idx[rnd % len(idx):] + idx[:rnd % len(idx)]
            for i in idx:
                label, binname, bundle = V[i]
                r = self.R.run([builds[binname], "--root", root, "run", self.nid("a")], cwd=bundle, capture=False)
                if rnd < 2:
                    continue
                d = data[i]
                if r.code != 0:
                    d["fail"] += 1
                    if len(d["errs"]) < 2:
                        d["errs"].append(str(r))
                    continue
                d["wall"].append(r.wall)
                d["cpu"].append(r.cpu)
                d["rss"].append(r.maxrss)
        self.results["ablation"] = data
        log("ablation: " + "; ".join("%s %s ms" % (d["label"][:20], ms(median(d["wall"]))) for d in data))

    def all_syscalls_profile(self, web):
        r = sh(["go", "list", "-m", "-f", "{{.Dir}}", "golang.org/x/sys"], cwd=REPO, env=dict(os.environ, GOFLAGS="-mod=mod"))
        names = set()
        try:
            src = open(os.path.join(r.stdout.strip(), "unix", "zsysnum_linux_amd64.go")).read()
            names = {m.lower() for m in re.findall(r"\bSYS_([A-Z0-9_]+)\s*=", src)}
        except OSError:
            pass
        for x in web.get("syscalls", []):
            names.update(x.get("names", []))
        prof = json.loads(json.dumps(web))
        prof["syscalls"] = [{"names": sorted(names), "action": "SCMP_ACT_ALLOW"}]
        return prof

    # ---- phase breakdown from the --debug phase timer
    def bench_phases(self):
        g, b, _ = self.rt("tenantrun")
        phases = {}
        exeseal = set()
        order = []
        for i in range(CFG["PHASE_N"] + 1):
            r = self.R.run(g[:1] + ["--debug"] + g[1:] + ["run", self.nid("p")], cwd=b, capture=False)
            for line in r.err.splitlines():
                if "exeseal" in line:
                    m = re.search(r'msg="([^"]*)"', line)
                    exeseal.add(m.group(1) if m else line)
                m = re.search(r"phases (\S+) \S+: (.*)", line)
                if not m or i == 0:
                    continue
                verb = m.group(1)
                parts = []
                for kv in m.group(2).rstrip('"').split():
                    if "=" in kv:
                        k, v = kv.split("=", 1)
                        parts.append((k, godur(v)))
                tot = dict(parts).get("total")
                if tot is not None:
                    rest = tot - sum(v for k, v in parts if k != "total")
                    parts.insert(len(parts) - 1, ("rest of the verb (for run: the container runs and exits, then delete)", rest))
                for k, v in parts:
                    key = (verb, k)
                    if key not in phases:
                        phases[key] = []
                        order.append(key)
                    phases[key].append(v)
        self.results["phases"] = {"order": order, "data": {"%s %s" % k: v for k, v in phases.items()},
                                  "exeseal": sorted(exeseal)}

    # ---- strace timeline of one run, and syscall totals
    def bench_strace(self):
        if not CFG["STRACE"] or not shutil.which("strace"):
            self.results["strace"] = None
            return
        g, b, _ = self.rt("tenantrun")
        out = {}
        tl = os.path.join(self.work, "strace.tl")
        self.R.run(["/usr/bin/strace", "-f", "-ttt", "-T", "-s", "120", "-o", tl] + g + ["run", self.nid("s")],
                   cwd=b, capture=False)
        out["timeline"] = strace_timeline(tl)
        summ = os.path.join(self.work, "strace.c")
        self.R.run(["/usr/bin/strace", "-f", "-c", "-S", "time", "-o", summ] + g + ["run", self.nid("s")],
                   cwd=b, capture=False)
        out["summary"] = open(summ).read() if os.path.exists(summ) else ""
        # the same for runc plain, for comparison of the syscall counts
        g2, b2, _ = self.rt("runc")
        summ2 = os.path.join(self.work, "strace-runc.c")
        self.R.run(["/usr/bin/strace", "-f", "-c", "-S", "time", "-o", summ2] + g2 + ["run", self.nid("s")],
                   cwd=b2, capture=False)
        out["summary_runc"] = open(summ2).read() if os.path.exists(summ2) else ""
        self.results["strace"] = out

    # ---- CPU attribution with perf: which functions the CPU time of one `run` goes to
    def bench_perf(self):
        if not CFG["PERF_N"] or not shutil.which("perf") or not shutil.which("addr2line"):
            self.results["perf"] = None
            return
        g, b, _ = self.rt("tenantrun")
        data = os.path.join(self.work, "perf.data")
        ids = " ".join(self.nid("f") for _ in range(CFG["PERF_N"]))
        loop = "for id in %s; do %s run $id </dev/null >/dev/null 2>&1; done" % (ids, " ".join(g))
        freq = 4999
        r = sh(["perf", "record", "-q", "-F", str(freq), "-g", "-o", data, "--", "sh", "-c", loop], cwd=b)
        if r.returncode != 0:
            self.results["perf"] = {"error": r.stderr.strip()[-500:]}
            return
        scr = sh(["perf", "script", "-i", data, "-F", "comm,ip,sym,dso"], cwd=b).stdout
        self.results["perf"] = perf_attribution(scr, TENANTRUN, freq, CFG["PERF_N"])

    # ---- Go package init cost (runs in the CLI and again in every `tenantrun init` child)
    def bench_inittrace(self):
        env = dict(os.environ, GODEBUG="inittrace=1")
        tot = []
        pk = {}
        for i in range(7):
            r = self.R.run([TENANTRUN, "--version"], env=env)
            t = 0.0
            for line in r.err.splitlines():
                m = re.match(r"init (\S+) @\S+ ms, ([\d.]+) ms clock, (\d+) bytes, (\d+) allocs", line)
                if m:
                    t += float(m.group(2))
                    pk.setdefault(m.group(1), []).append(float(m.group(2)))
            tot.append(t)
        top = sorted(((median(v), k) for k, v in pk.items()), reverse=True)[:8]
        self.results["inittrace"] = {"total_ms": median(tot), "top": top, "n": len(pk)}

    # ---- policy rewrite (Go benchmarks: hardening's Enforce/DecodeSpec, tests/bench per bundle)
    def bench_enforce(self):
        res = {"ok": False, "rows": {}, "cmds": []}
        r = sh("grep -l 'func BenchmarkEnforce' hardening/*_test.go 2>/dev/null", cwd=REPO)
        runs = []
        if r.stdout.strip():
            runs.append(["-bench", "^Benchmark(Enforce|DecodeSpec)$", "-benchtime", CFG["BENCHTIME"], "./hardening/"])
        else:
            res["why"] = "hardening has no BenchmarkEnforce yet"
        runs.append(["-bench", "^BenchmarkPolicyPerBundle$", "-benchtime", "300x", "./tests/bench/"])
        for extra in runs:
            cmd = ["nice", "go", "test", "-tags", "seccomp", "-run", "^$", "-benchmem", "-count", "3"] + extra
            r = sh(cmd, cwd=REPO, env=dict(os.environ, GOFLAGS="-mod=mod"))
            res["cmds"].append(" ".join(cmd[1:]))
            got = False
            for line in r.stdout.splitlines():
                m = re.match(r"(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$", line)
                if not m:
                    continue
                vals = dict((u, float(v)) for v, u in re.findall(r"([\d.]+) (\S+/op)", m.group(2)))
                if "ns/op" in vals:
                    res["rows"].setdefault(m.group(1), []).append(vals)
                    got = True
            if not got:
                res.setdefault("why", "")
                res["why"] += " go test %s failed: %s" % (extra[-1], (r.stdout + r.stderr).strip()[-600:])
        res["rows"] = {k: {u: median([x.get(u, float("nan")) for x in v]) for u in v[0]} for k, v in res["rows"].items()}
        res["ok"] = "BenchmarkEnforce" in res["rows"]
        self.results["enforce"] = res

    # ---- 200 concurrent lifecycles across 20 tenants (tests/bench, with the shared leak checker)
    def bench_concurrent(self):
        res = {}
        rj = os.path.join(self.work, "concurrent.json")
        env = dict(os.environ, BENCH_RESULT=rj, BENCH_CONC=str(CFG["CONC"]), BENCH_TENANTS=str(CFG["TENANTS"]),
                   BENCH_CONC_PAR=str(CFG["CONC_PAR"]), TENANTRUN_BIN=TENANTRUN, GOFLAGS="-mod=mod")
        cmd = ["go", "test", "-tags", "seccomp", "-count=1", "-run", "^TestConcurrentLifecycles$", "-v",
               "-timeout", "10m", "./tests/bench/"]
        t0 = time.perf_counter()
        r = sh(cmd, cwd=REPO, env=env)
        res["go_test_s"] = time.perf_counter() - t0
        res["passed"] = r.returncode == 0
        res["cmd"] = "go test " + " ".join(cmd[2:])
        try:
            res.update(json.load(open(rj)))
        except (OSError, ValueError):
            pass
        if r.returncode != 0:
            res["output"] = (r.stdout + r.stderr)[-3000:]
        self.results["concurrent"] = res
        log("concurrent: %s, %s failures, leaks %s" % ("pass" if res["passed"] else "FAIL", res.get("failures"),
                                                       len(res.get("leaks") or [])))

    # ---- cleanup (always)
    def cleanup(self):
        for k, root in self.roots.items():
            if k == "crun":
                if self.mntns_fd is not None:
                    self.delete_all([CRUN, "--root", root, "--cgroup-manager=cgroupfs"], root, mntns=self.mntns_fd)
            elif k == "runc":
                self.delete_all([RUNC, "--root", root], root)
            elif k == "lcrun":
                # lcrun destroys its containers itself; a leftover (crash) is gone with runc's delete
                self.delete_all([RUNC, "--root", root], root)
            else:
                self.delete_all([TENANTRUN, "--root", root, "--config", self.cfgfile], root)
        leaks = leak_scan(self.work, PREFIX, list(self.roots.values()))
        if self.mntns_fd is not None:
            self.mntns_proc.kill()
            self.mntns_proc.wait()
        # cgroups left by crashed containers of this run: remove (only ours, by id prefix)
        for d in leaks["cgroups"]:
            for sub in sorted(glob.glob(d + "/**/", recursive=True), key=len, reverse=True):
                try:
                    os.rmdir(sub)
                except OSError:
                    pass
        self.results["leaks"] = leaks
        if os.environ.get("BENCH_KEEP") != "1":
            shutil.rmtree(self.work, ignore_errors=True)


def yn(v):
    return "?" if v is None else ("yes" if v else "no")


def godur(s):
    m = re.fullmatch(r"([\d.]+)(ns|µs|us|ms|s|m)", s)
    if not m:
        parts = re.findall(r"([\d.]+)(h|ms|µs|us|ns|m|s)", s)
        return sum(godur(a + b) for a, b in parts) if parts else float("nan")
    mult = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(2)]
    return float(m.group(1)) * mult


def leak_scan(work, prefix, roots):
    """Everything of this run still on the host: state entries, cgroup dirs (every hierarchy),
    mounts, processes (by cgroup or cwd)."""
    out = {"state": [], "cgroups": [], "mounts": [], "procs": []}
    for r in roots:
        if os.path.isdir(r):
            out["state"] += [os.path.join(r, e) for e in os.listdir(r)]
    for h in glob.glob("/sys/fs/cgroup/*"):
        if not os.path.isdir(h):
            continue
        for dp, dns, _ in os.walk(h):
            for d in dns:
                if d.startswith(prefix) or prefix in d:
                    out["cgroups"].append(os.path.join(dp, d))
    for line in open("/proc/self/mountinfo"):
        if work in line or prefix in line:
            out["mounts"].append(line.split()[4])
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            cg = open("/proc/%s/cgroup" % p).read()
            cwd = os.readlink("/proc/%s/cwd" % p)
        except OSError:
            continue
        if prefix in cg or cwd.startswith(work):
            out["procs"].append(p)
    return out


PERF_GROUPS = [  # (label, comm regex)
    ("tenantrun CLI process", r"^tenantrun$"),
    ("container init (runc:[0:PARENT], [1:CHILD], [2:INIT])", r"^runc:\["),
]
PERF_FUNCS = [  # (label, function-name regex); inclusive CPU per run
    ("whole process group", r"^__ALL__$"),
    ("libcontainer.Init (container setup in the child; runs from main's init())", r"libcontainer\.Init$"),
    ("Go package init (runtime.doInit1, without libcontainer.Init)", (r"^runtime\.doInit1$", r"libcontainer\.Init$")),
    ("Go code after init (runtime.main → main.main)", r"^main\.main$"),
    ("Go background (sysmon, GC workers, scheduler)", r"^runtime\.(sysmon|gcBgMarkWorker|bgsweep|bgscavenge|mstart1)$"),
    ("Go runtime start (runtime.schedinit)", r"^runtime\.schedinit$"),
    ("dynamic loader (ld-linux)", r"ld-linux"),
    ("page faults (exc_page_fault)", r"^exc_page_fault$"),
    ("execve", r"^__x64_sys_execve$"),
    ("process exit (do_exit)", r"^do_exit$"),
    ("policy: preparePolicy", r"runtime\.preparePolicy$"),
    ("policy: strict decode", r"runtime\.decodeSpec$|hardening\.DecodeSpec$"),
    ("policy: LoadConfig (TOML)", r"hardening\.LoadConfig$"),
    ("policy: Enforce", r"hardening\.Enforce$"),
    ("policy: seccomp profile load", r"profiles\.Load$"),
    ("policy: PolicyDigest", r"hardening\.PolicyDigest$"),
    ("host setup: tenant parent cgroup", r"runtime\.ensureTenantParent$"),
    ("host setup: idmapped rootfs", r"runtime\.idmapRootfs$|runtime\.\(\*prepared\)\.mountRootfs$"),
    ("specconv.CreateLibcontainerConfig", r"specconv\.CreateLibcontainerConfig$"),
    ("libcontainer.Create", r"libcontainer\.Create$"),
    ("libcontainer (*Container).Run/Start", r"libcontainer\.\(\*Container\)\.(Run|Start)$"),
    ("  binary sealing (exeseal)", r"exeseal\."),
    ("  parent cgroup Apply (v1 hierarchies)", r"\(\*Manager\)\.Apply$"),
    ("  cgroup Set (limits)", r"\(\*Manager\)\.Set$"),
    ("  sync messages (parseSync)", r"libcontainer\.parseSync$"),
    ("  saveState / state.json", r"libcontainer\.\(\*Container\)\.saveState$"),
    ("encoding/json (all)", r"^encoding/json\.(Unmarshal|Marshal|\(\*Decoder\)\.Decode|\(\*Encoder\)\.Encode)$"),
    ("run: wait for the container (forward)", r"runtime\.\(\*forwarder\)\.forward$"),
    ("run: delete at the end (destroyContainer)", r"runtime\.destroyContainer$"),
    ("  libcontainer Destroy", r"libcontainer\.\(\*Container\)\.Destroy$"),
    ("init: nsexec (C)", r"^nsexec$|^nsexec_"),
    ("init: prepareRootfs (all mounts, pivot)", r"libcontainer\.prepareRootfs$"),
    ("init:   v1 /sys/fs/cgroup mount", r"libcontainer\.mountCgroupV1$"),
    ("init:   /dev setup (device nodes, symlinks)", r"libcontainer\.(doSetupDev|createDevices|setupDevSymlinks)$"),
    ("init:   maskedPaths / readonlyPaths", r"libcontainer\.(maskPaths|readonlyPath|maskPath)$"),
    ("init: loopback (setupNetwork)", r"libcontainer\.setupNetwork$"),
    ("init: seccomp compile + load", r"seccomp\.InitSeccomp$"),
    ("init:   libseccomp.so", r"libseccomp"),
    ("init: finalizeNamespace (caps, uid)", r"libcontainer\.finalizeNamespace$"),
    ("mount syscalls", r"^__x64_sys_(mount|fsopen|fsconfig|fsmount|move_mount|open_tree|mount_setattr|umount)"),
    ("cgroupfs writes/mkdir/rmdir", r"^(cgroup_file_write|cgroup_mkdir|cgroup_rmdir|cgroup1_)"),
]


def perf_attribution(script, binary, freq, runs):
    """Inclusive CPU ms per run for PERF_FUNCS, per PERF_GROUPS, from `perf script` output.
    The init child runs from a sealed copy of the binary perf cannot read: its frames are
    resolved with addr2line on the binary itself."""
    samples = []
    cur = None
    comm = None
    for ln in script.splitlines():
        if not ln.strip():
            if cur is not None:
                samples.append((comm, cur))
            cur = None
            continue
        if not ln[0].isspace():
            comm = ln.strip()
            cur = []
            continue
        m = re.match(r"\s*([0-9a-f]+) (.*) \((.*)\)$", ln.rstrip())
        if m and cur is not None:
            cur.append((int(m.group(1), 16), m.group(2), m.group(3)))
    if cur is not None:
        samples.append((comm, cur))
    base = 0
    for ln in sh(["readelf", "-lW", binary]).stdout.splitlines():
        f = ln.split()
        if f and f[0] == "LOAD":
            base = int(f[2], 16) - int(f[1], 16)
            break
    unk = sorted({a for _, s in samples for a, sym, d in s if sym.startswith("[unknown]") and
                  os.path.basename(d) == "tenantrun"})
    names = {}
    for i in range(0, len(unk), 2000):
        chunk = unk[i:i + 2000]
        out = sh(["addr2line", "-f", "-e", binary] + ["%x" % (a + base) for a in chunk]).stdout.split("\n")
        for j, a in enumerate(chunk):
            if 2 * j < len(out):
                names[a] = out[2 * j]
    res = {"runs": runs, "freq": freq, "samples": len(samples), "groups": []}
    pats = [(l, (re.compile(p[0]), re.compile(p[1])) if isinstance(p, tuple) else (re.compile(p), None))
            for l, p in PERF_FUNCS]
    for glabel, gre in PERF_GROUPS:
        gr = re.compile(gre)
        counts = [0] * len(pats)
        n = 0
        for c, st in samples:
            if not gr.search(c or ""):
                continue
            n += 1
            fr = set()
            for a, sym, d in st:
                nm = names.get(a, sym) if sym.startswith("[unknown]") else sym
                fr.add(nm)
                if "ld-linux" in d:
                    fr.add("ld-linux")
                if "libseccomp" in d:
                    fr.add("libseccomp")
            fr.add("__ALL__")
            for i, (_, (p, notp)) in enumerate(pats):
                if any(p.search(x) for x in fr) and not (notp and any(notp.search(x) for x in fr)):
                    counts[i] += 1
        per = 1000.0 / freq / runs
        res["groups"].append({"label": glabel, "samples": n,
                              "rows": [(l, round(c * per, 2)) for (l, _), c in zip(pats, counts) if c]})
    return res


def strace_timeline(path):
    """Milestones of one `tenantrun run` from strace -f -ttt -T output (times in ms since the
    first line; strace inflates syscall-heavy parts, so read the shares, not the totals)."""
    try:
        lines = open(path, errors="replace").read().splitlines()
    except OSError:
        return []
    evs = []
    t0 = None
    first = {}
    pending = {}
    nsc = 0
    for ln in lines:
        m = re.match(r"(\d+)\s+(\d+\.\d+)\s+(.*)", ln)
        if not m:
            continue
        pid, t, rest = int(m.group(1)), float(m.group(2)), m.group(3)
        # join "<unfinished ...>" calls with their "<... X resumed>" ends
        if rest.endswith("<unfinished ...>"):
            pending[pid] = rest[:-len("<unfinished ...>")]
            continue
        if rest.startswith("<... ") and pid in pending:
            rest = pending.pop(pid) + rest.split(">", 1)[1]
        if t0 is None:
            t0 = t
        nsc += 1
        rel = (t - t0) * 1e3

        def mark(name):
            if name not in first:
                first[name] = rel
                evs.append((rel, name, pid))

        if rest.startswith("execve(") and "init" in rest and "tenantrun" in rest:
            mark("re-exec `tenantrun init` (nsexec starts)")
        elif rest.startswith("execve(") and "/bin/true" in rest:
            mark("execve /bin/true (container process)")
        elif re.match(r"clone3?\(.*CLONE_NEWUSER", rest):
            mark("clone with CLONE_NEWUSER")
        elif rest.startswith("unshare(") and "CLONE_NEW" in rest:
            mark("unshare namespaces")
        elif rest.startswith("mkdir(\"/sys/fs/cgroup") or rest.startswith("mkdirat(AT_FDCWD, \"/sys/fs/cgroup"):
            mark("first cgroup mkdir")
        elif rest.startswith("mount(") or rest.startswith("fsmount(") or rest.startswith("move_mount("):
            mark("first mount")
            first["last mount"] = rel
        elif rest.startswith("pivot_root("):
            mark("pivot_root")
        elif ("SECCOMP_SET_MODE_FILTER" in rest or "PR_SET_SECCOMP" in rest) and "NULL" not in rest \
                and re.search(r"= 0( <|$)", rest):
            mark("seccomp filter loaded")
        elif rest.startswith("fsopen(\"overlay\"") or rest.startswith("fsopen(\"overlay"):
            mark("exeseal overlay (fsopen)")
        elif rest.startswith("open_tree(") or rest.startswith("mount_setattr("):
            mark("idmapped rootfs (open_tree/mount_setattr)")
        elif rest.startswith("+++ exited") or "exit_group(" in rest:
            first["last exit"] = rel
        elif rest.startswith("rmdir(\"/sys/fs/cgroup") or rest.startswith("unlinkat(") and "/sys/fs/cgroup" in rest:
            mark("first cgroup removal (destroy)")
    if "last mount" in first:
        evs.append((first["last mount"], "last mount(2) call seen", 0))
    if lines and t0 is not None:
        m = re.match(r"(\d+)\s+(\d+\.\d+)", lines[-1])
        if m:
            evs.append(((float(m.group(2)) - t0) * 1e3, "runtime exits", 0))
    evs.sort()
    return [(round(t, 2), n) for t, n, _ in evs] + [(nsc, "syscalls traced")]


# ---------------------------------------------------------------------------------------------
# report


def write_report(bench, m, elapsed):
    R = bench.results
    L = []
    a = L.append
    lc = R.get("lifecycle", {})
    med = {n: median(d["wall"]) for n, d in lc.items()}
    cpu = {n: median(d["cpu"]) for n, d in lc.items()}
    a("# tenantrun benchmarks")
    a("")
    a("Generated by `make bench` (`hack/bench/run.sh` → `hack/bench/bench.py`) in one run on %s; "
      "the whole run took %.0f s. Do not edit by hand: rerun `make bench`." % (m["date"], elapsed))
    a("Sizes: lifecycle %d rounds (+%d warm-up), exec %d, list/state %d rounds with %d containers, "
      "%d concurrent lifecycles over %d tenants. Override with BENCH_N, BENCH_EXEC_N, BENCH_LIST_N, "
      "BENCH_LIST_COUNT, BENCH_CONC, BENCH_TENANTS (see hack/bench/run.sh)." %
      (CFG["N"], CFG["WARMUP"], CFG["EXEC_N"], CFG["LIST_N"], CFG["LIST_COUNT"], CFG["CONC"], CFG["TENANTS"]))
    a("")
    a("## Machine")
    a("")
    a("| | |")
    a("|---|---|")
    for k, label in (("cpu", "CPU"), ("mem", "memory"), ("os", "OS"), ("kernel", "kernel"), ("cgroup", "cgroups"),
                     ("tenantrun", "tenantrun"), ("commit", "tree"), ("go", "Go"), ("runc", "runc"), ("crun", "crun"),
                     ("libseccomp", "libseccomp")):
        a("| %s | %s |" % (label, m.get(k, "?")))
    a("| load before the run | %s |" % " ".join(m["load"]))
    a("")
    a("The machine is shared (2 cores, other builds may run): every measurement alternates the "
      "commands being compared (round-robin with a rotating start), so background load hits all "
      "of them alike; medians are reported.")
    a("")

    # acceptance
    a("## Acceptance targets (issue 9)")
    a("")
    a("| target | measured | |")
    a("|---|---|---|")

    def verdict(ok):
        return "**pass**" if ok else "**FAIL**"

    if "tenantrun" in med and "runc" in med:
        r = med["tenantrun"] / med["runc"]
        a("| hardened tenantrun lifecycle ≤ 0.8 × runc plain (median wall) | %.2f × (%s vs %s ms) | %s |" %
          (r, ms(med["tenantrun"]), ms(med["runc"]), verdict(r <= 0.8)))
    if "tenantrun" in med and "crun" in med:
        r = med["tenantrun"] / med["crun"]
        a("| hardened tenantrun lifecycle ≤ 1.5 × crun (median wall) | %.2f × (%s vs %s ms) | %s |" %
          (r, ms(med["tenantrun"]), ms(med["crun"]), verdict(r <= 1.5)))
    en = R.get("enforce", {})
    if en.get("ok"):
        v = en["rows"]["BenchmarkEnforce"]
        t = v.get("cpu-ns/op", v["ns/op"])
        a("| policy rewrite ≤ 200 µs (`BenchmarkEnforce`, CPU per op) | %.1f µs (wall %.1f µs) | %s |" %
          (t / 1e3, v["ns/op"] / 1e3, verdict(t <= 200e3)))
        d = en["rows"].get("BenchmarkDecodeSpec")
        if d:
            td = d.get("cpu-ns/op", d["ns/op"])
            a("| the same including the strict decode of config.json (`BenchmarkDecodeSpec` + `BenchmarkEnforce`, CPU) | %.1f µs | %s |" %
              ((t + td) / 1e3, verdict(t + td <= 200e3)))
    else:
        a("| policy rewrite ≤ 200 µs | not measured: %s | **FAIL** |" % en.get("why", "?").replace("\n", " ")[:300])
    li = R.get("list", {})
    lw = median(li.get("wall", {}).get("list", []))
    a("| `list` with %d containers < 50 ms | %s ms (%d present) | %s |" % (li.get("count", 0), ms(lw),
                                                                         li.get("present", 0),
                                                                         verdict(lw < 0.05 and li.get("present", 0) >= li.get("count", 1))))
    co = R.get("concurrent", {})
    a("| %d concurrent lifecycles over %d tenants: 0 failures, nothing leaked | %s failures, %s leaks | %s |" %
      (CFG["CONC"], CFG["TENANTS"], co.get("failures", "?"), len(co.get("leaks") or []) if "leaks" in co else "?",
       verdict(co.get("passed") and co.get("failures") == 0 and not co.get("leaks"))))
    lk = R.get("leaks", {})
    nleak = sum(len(v) for v in lk.values())
    a("| whole bench run leaves nothing behind | %d leftovers | %s |" % (nleak, verdict(nleak == 0)))
    a("")

    # lifecycle
    a("## Lifecycle: `run` of /bin/true (create → start → exit → delete)")
    a("")
    a("![lifecycle medians](%s)" % os.path.basename(OUT_SVG))
    a("")
    a("| runtime | median wall ms | p10 | p90 | median CPU ms (user+sys, incl. children) | peak RSS KiB (median) | × runc plain | × crun | failures |")
    a("|---|---|---|---|---|---|---|---|---|")
    for n, d in lc.items():
        a("| %s | %s | %s | %s | %s | %s | %s | %s | %d |" % (
            n, ms(med[n]), ms(pct(d["wall"], 10)), ms(pct(d["wall"], 90)), ms(cpu[n]),
            "%d" % median(d["rss"]) if d["rss"] else "n/a",
            "%.2f" % (med[n] / med["runc"]) if "runc" in med else "",
            "%.2f" % (med[n] / med["crun"]) if "crun" in med else "", d["fail"]))
    a("")
    a("What each line runs (same busybox rootfs, same /bin/true, stdio to /dev/null):")
    a("")
    mode = bench.tr_mode
    a("- **tenantrun**: `tenantrun --root … --config tenants.toml run ID` on the plain bundle; the "
      "full default tenant policy (tenant `default`, configured as the built-in one) rewrites it. What "
      "libcontainer got: user namespace %s, read-only root %s, %s seccomp syscall names, %s mounts, "
      "state.json %s bytes; policy mode `%s`." % (yn(mode.get("_userns")), yn(mode.get("_readonly")), mode.get("_seccomp_syscalls", "?"),
                             mode.get("_mounts", "?"), mode.get("_state_bytes", "?"), mode.get("Mode", mode.get("mode", "?"))))
    a("- **runc**: Debian's runc (`%s`) on the plain bundle (`runc spec`, args /bin/true, terminal false)." % m["runc"])
    a("- **runc-hardened**: runc with equivalent hardening: %s." % bench.hardened_how)
    a("- **crun**: crun 1.8.1 refuses this v1+v2 hybrid host (\"cgroups in hybrid mode not supported\"), so "
      "each crun command runs in a private mount namespace (made once with `unshare -m --propagation private`, "
      "entered with setns before exec) where /sys/fs/cgroup/unified is unmounted, with "
      "`--cgroup-manager=cgroupfs` (v1 controllers), and the bundle's ociVersion rewritten to 1.0.2. The "
      "host's mounts are untouched.")
    a("- **crun-hardened**: crun as above on the runc-hardened config.json (the policy's output).")
    for note in R["notes"]:
        a("- note: " + note)
    pc = R.get("policy_cli")
    if pc and pc["wall"] and "crun-hardened" in med and "runc" in med and "crun" in med:
        pw, cw = median(pc["wall"]), med["crun-hardened"]
        a("")
        a("A policy front-end that hands the rewritten bundle to crun: `tenantrun policy explain --format json` "
          "(fresh process: strict decode, tenant, Enforce; no container) took %s ms wall / %s ms CPU "
          "(median, alternated with the lines above); plus crun-hardened %s ms gives ≈ %s ms, %.2f × runc plain "
          "and %.2f × crun. This is an estimate of a different architecture (exec crun after the policy, "
          "crun's hybrid-cgroup limitation handled as above), not something tenantrun does." %
          (ms(pw), ms(median(pc["cpu"])), ms(cw), ms(pw + cw), (pw + cw) / med["runc"], (pw + cw) / med["crun"]))
    for n, d in lc.items():
        for e in d["errs"]:
            a("- %s failure: `%s`" % (n, e.replace("\n", " ")[:400]))
    a("")

    # exec
    ex = R.get("exec", {})
    a("## exec latency (`exec ID /bin/true` into a running container)")
    a("")
    a("| runtime | median wall ms | p90 | median CPU ms | peak RSS KiB | failures |")
    a("|---|---|---|---|---|---|")
    for n, d in ex.items():
        a("| %s | %s | %s | %s | %s | %d |" % (n, ms(median(d["wall"])), ms(pct(d["wall"], 90)), ms(median(d["cpu"])),
                                             "%d" % median(d["rss"]) if d["rss"] else "n/a", d["fail"]))
        for e in d["errs"][:2]:
            a("| | `%s` | | | | |" % e.replace("\n", " ").replace("|", "/")[:300])
    a("")

    # list
    a("## `state` and `list` with %d containers (tenantrun)" % li.get("count", 0))
    a("")
    a("%d containers made with `create` (sleep bundle, two at a time) in %.0f s, deleted with "
      "`delete --force` in %.0f s; %d create failures; %s left in the state root afterwards." %
      (li.get("present", 0), li.get("create_s", 0), li.get("delete_s", 0), li.get("create_fail", 0),
       len(li.get("left", []))))
    a("")
    a("| command | median wall ms | p90 | median CPU ms | peak RSS KiB |")
    a("|---|---|---|---|---|")
    for k, v in li.get("wall", {}).items():
        a("| `%s` | %s | %s | %s | %s |" % (k, ms(median(v)), ms(pct(v, 90)), ms(median(li["cpu"][k])),
                                          "%d" % median(li["rss"][k]) if li["rss"][k] else "n/a"))
    for e in li.get("errs", [])[:3]:
        a("- error: `%s`" % e.replace("\n", " ")[:300])
    a("")

    # memory
    a("## Peak memory of the runtime process")
    a("")
    a("wait4() rusage of the runtime command: ru_maxrss is the larger of the command itself and the "
      "children it waited for (for `run` and `exec`, libcontainer's `init` child).")
    a("")
    a("| command | tenantrun | runc | runc-hardened | crun |")
    a("|---|---|---|---|---|")
    for label, src in (("run", lc), ("exec", ex)):
        a("| %s | %s |" % (label, " | ".join("%s KiB" % int(max(src[n]["rss"])) if n in src and src[n]["rss"] else "n/a"
                                             for n in ("tenantrun", "runc", "runc-hardened", "crun"))))
    for k in ("list", "list --format json", "state"):
        v = li.get("rss", {}).get(k, [])
        a("| %s (%d containers) | %s | | | |" % (k, li.get("count", 0), "%d KiB" % max(v) if v else "n/a"))
    a("")

    # enforce
    a("## Policy rewrite (Go benchmark)")
    a("")
    for c in en.get("cmds", []):
        a("- `%s`" % c)
    a("")
    a("Medians of 3. cpu-ns/op is the process's CPU time per op (robust on this shared machine); "
      "BenchmarkPolicyPerBundle decodes configs Docker/Podman/ctr wrote, with and without their "
      "linux.seccomp section (which the policy replaces anyway).")
    a("")
    if en.get("rows"):
        a("| benchmark | ns/op | cpu-ns/op | B/op | allocs/op |")
        a("|---|---|---|---|---|")
        for k, v in sorted(en["rows"].items()):
            a("| %s | %.0f | %s | %s | %s |" % (k, v["ns/op"], "%.0f" % v["cpu-ns/op"] if "cpu-ns/op" in v else "",
                                               "%.0f" % v["B/op"] if "B/op" in v else "",
                                               "%.0f" % v["allocs/op"] if "allocs/op" in v else ""))
    if en.get("why"):
        a("")
        a("Not (fully) measured: %s" % en["why"].replace("\n", " ")[:600])
    a("")

    # concurrency
    a("## %d concurrent lifecycles across %d tenants" % (CFG["CONC"], CFG["TENANTS"]))
    a("")
    if co:
        a("`%s` (tests/bench/concurrent_test.go): %s. %s `run` commands of /bin/true, tenant i%%%d, "
          "%s; the shared leak checker (internal/testutil: state root, cgroup dirs in every hierarchy, "
          "mounts, processes) ran afterwards." % (co.get("cmd", "?"), "passed" if co.get("passed") else "FAILED",
                                                   co.get("total", "?"), CFG["TENANTS"],
                                                   "all started at once" if not CFG["CONC_PAR"] else "%d at a time" % CFG["CONC_PAR"]))
        a("")
        a("| | |")
        a("|---|---|")
        for k, label in (("failures", "failures"), ("wall_s", "wall time for all, s"),
                         ("median_ms", "median per-command wall ms"), ("p90_ms", "p90 ms"),
                         ("max_ms", "max ms"), ("tenant_cgroups_left", "per-tenant parent cgroups left")):
            if k in co:
                v = co[k]
                a("| %s | %s |" % (label, "none" if v is None or v == [] else ("%.1f" % v if isinstance(v, float) else v)))
        a("| leaks | %s |" % ("none" if not co.get("leaks") else "; ".join(co["leaks"])[:1500]))
        for e in (co.get("errors") or [])[:5]:
            a("- failure: `%s`" % e.replace("\n", " ")[:400])
        if co.get("output"):
            a("")
            a("```")
            a(co["output"][-2000:])
            a("```")
    a("")

    ab = R.get("ablation")
    if ab:
        a("## What each part of the hardening costs inside libcontainer (ablation)")
        a("")
        a("`hack/bench/lcrun` is a minimal runner on the same libcontainer v1.5.3 (no tenant policy, "
          "stdio /dev/null): it runs variants of the runc-hardened bundle alternately, %d rounds. "
          "Deltas are against the first line; negative = that part costs this much." % CFG["ABL_N"])
        a("")
        a("| variant | median wall ms | Δ wall | median CPU ms | Δ CPU | peak RSS KiB | failures |")
        a("|---|---|---|---|---|---|---|")
        w0, c0 = median(ab[0]["wall"]), median(ab[0]["cpu"])
        for d in ab:
            w, c = median(d["wall"]), median(d["cpu"])
            a("| %s | %s | %+.1f | %s | %+.1f | %s | %d |" % (d["label"], ms(w), (w - w0) * 1e3, ms(c), (c - c0) * 1e3,
                                                          "%d" % median(d["rss"]) if d["rss"] else "n/a", d["fail"]))
        for d in ab:
            for e in d["errs"]:
                a("- %s: `%s`" % (d["label"], e.replace("\n", " ")[:300]))
        a("")

    # phases
    ph = R.get("phases", {})
    a("## Where the time goes")
    a("")
    a("### tenantrun phase timer (`--debug`, median of %d `run`s)" % CFG["PHASE_N"])
    a("")
    if ph.get("order"):
        a("| verb | phase | median ms | p90 ms |")
        a("|---|---|---|---|")
        for key in ph["order"]:
            v = ph["data"]["%s %s" % key]
            a("| %s | %s | %s | %s |" % (key[0], key[1], ms(median(v)), ms(pct(v, 90))))
    a("")
    a("Binary sealing path (libcontainer debug log): %s." % ("; ".join(ph.get("exeseal", [])) or "not logged"))
    a("")
    st = R.get("strace")
    if st:
        a("### libcontainer-internal milestones (`strace -f -ttt -T` on one `tenantrun run`)")
        a("")
        a("strace stops at every syscall, so the absolute times are inflated (more where there are "
          "many syscalls); the order and the relative gaps show where the time is spent.")
        a("")
        a("| ms since start | milestone |")
        a("|---|---|")
        tl = st["timeline"]
        for t, n in tl[:-1]:
            a("| %.1f | %s |" % (t, n))
        if tl:
            a("| | %d %s |" % tl[-1])
        a("")
        a("`strace -f -c` (tenantrun run, whole process tree), top lines:")
        a("")
        a("```")
        a("\n".join(st["summary"].splitlines()[:22]))
        a("```")
        a("")
        a("The same for runc plain:")
        a("")
        a("```")
        a("\n".join(st["summary_runc"].splitlines()[:14]))
        a("```")
        a("")
    pf = R.get("perf")
    if pf and pf.get("groups"):
        a("### CPU attribution (`perf record -g`, %d `tenantrun run`s, %d Hz)" % (pf["runs"], pf["freq"]))
        a("")
        a("Inclusive CPU milliseconds per `run` (a function and everything it calls; rows overlap). "
          "The init child's frames come from a sealed copy of the binary and are resolved with addr2line.")
        a("")
        for grp in pf["groups"]:
            a("| %s (%d samples) | CPU ms / run |" % (grp["label"], grp["samples"]))
            a("|---|---|")
            for l, v in grp["rows"]:
                a("| %s | %.2f |" % (l, v))
            a("")
    elif pf and pf.get("error"):
        a("perf record failed: `%s`" % pf["error"])
        a("")
    it = R.get("inittrace")
    if it:
        a("### Go package init (`GODEBUG=inittrace=1 tenantrun --version`, median of 7)")
        a("")
        a("Every container start runs these twice: in the CLI and again in the re-executed "
          "`tenantrun init` child. Total %.2f ms over %d packages; the largest:" % (it["total_ms"], it["n"]))
        a("")
        a("| package | ms |")
        a("|---|---|")
        for v, k in it["top"]:
            a("| %s | %.3f |" % (k, v))
        a("")
    fpath = os.path.join(HERE, "findings.md")
    if os.path.exists(fpath):
        a(open(fpath).read().rstrip())
        a("")
    a("## Leftovers after the whole run")
    a("")
    if nleak:
        for k, v in lk.items():
            for x in v:
                a("- %s: `%s`" % (k, x))
    else:
        a("None: no state entry, cgroup dir (any hierarchy), mount or process of this run remained.")
    a("")
    os.makedirs(os.path.dirname(OUT_MD), exist_ok=True)
    open(OUT_MD, "w").write("\n".join(L))
    # plot
    series = [(n, [x * 1e3 for x in lc[n]["wall"]], [x * 1e3 for x in lc[n]["cpu"]]) for n in lc]
    marks = []
    if "runc" in med and med["runc"] == med["runc"]:
        marks.append((0.8 * med["runc"] * 1e3, "target 0.8 × runc"))
    if "crun" in med and med["crun"] == med["crun"]:
        marks.append((1.5 * med["crun"] * 1e3, "target 1.5 × crun"))
    open(OUT_SVG, "w").write(svgplot.lifecycle_svg(series, "run of /bin/true: wall and CPU per runtime (%s)" % m["date"],
                                                   marks))


def main():
    if os.geteuid() != 0:
        msg = "bench: needs root (real containers)"
        print(msg, file=sys.stderr)
        sys.exit(1)
    for b in (TENANTRUN, RUNC):
        if not os.access(b, os.X_OK):
            sys.exit("bench: %s is missing (make build; apt-get install runc)" % b)
    t0 = time.perf_counter()
    m = machine()
    bench = Bench()

    def on_signal(sig, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, on_signal)
    only = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))
    failed = False
    try:
        bench.setup()
        for name, fn in (("lifecycle", bench.bench_lifecycle), ("exec", bench.bench_exec),
                         ("phases", bench.bench_phases), ("strace", bench.bench_strace),
                         ("perf", bench.bench_perf), ("inittrace", bench.bench_inittrace),
                         ("ablation", bench.bench_ablation),
                         ("list", bench.bench_list),
                         ("enforce", bench.bench_enforce), ("concurrent", bench.bench_concurrent)):
            if only and name not in only:
                continue
            log("--", name)
            try:
                fn()
            except KeyboardInterrupt:
                raise
            except Exception as e:  # keep going: report what was measured
                import traceback
                bench.results["errors"].append("%s: %s" % (name, traceback.format_exc()[-1500:]))
                log(name, "failed:", e)
                failed = True
    except KeyboardInterrupt:
        log("interrupted: cleaning up")
        failed = True
        bench.cleanup()
        sys.exit(130)
    finally:
        if "leaks" not in bench.results:
            bench.cleanup()
    if bench.results["errors"]:
        bench.results["notes"] += ["section error: " + e.replace("\n", " ") for e in bench.results["errors"]]
    write_report(bench, m, time.perf_counter() - t0)
    log("wrote", OUT_MD, "and", OUT_SVG, "in %.0f s" % (time.perf_counter() - t0))
    if os.environ.get("BENCH_JSON"):
        json.dump(bench.results, open(os.environ["BENCH_JSON"], "w"), default=str, indent=1)
    leaks = sum(len(v) for v in bench.results.get("leaks", {}).values())
    if leaks:
        log("LEAKS:", bench.results["leaks"])
    sys.exit(1 if failed or leaks else 0)


if __name__ == "__main__":
    main()
