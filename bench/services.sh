#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Side-by-side benchmark of sprite-env's service supervision against supervisord (Debian package
# `supervisor`; install it with `scripts/deps.sh bench`). Needs root, the built binary and python3
# (stdlib only). Run from anywhere:
#
#   bench/services.sh        # or: make bench
#
# The workload: 50 trivial services in 5 dependency levels of 10 (LEVELS x WIDTH). Every one runs
# the same program under both supervisors:
#     /bin/sh -c ': >"$0"; echo 2>/dev/null >&3; exec sleep 100000 3>&-' MARKS/<name>
# It creates its marker file, writes a newline on fd 3 (sprite-env's notification fd; under
# supervisord fd 3 is closed and the echo fails quietly), then becomes `sleep 100000`.
#   - sprite-env: the services are the config file's "components"; a service of level k "needs"
#     FANIN services of level k-1 (by default all 10) and has the readiness check
#     "ready": {"notify_fd": 3}, so level k is spawned only once level k-1 has said it is ready.
#     The notification fd is the cheapest check (no process, no connection); READY=command uses
#     "ready": {"command": ["test", "-e", MARKER]} instead (a process per attempt, every
#     READY_INTERVAL, sprite-env's default when empty), READY=none no check (a service is then
#     ready once spawned: that measures what the checks cost). The main process (the command after
#     --) starts only once all 50 are ready; it creates MARKS/.main, then sleeps.
#   - supervisord: 50 [program:x] with priority = 10 x level, autostart=true, startsecs=0 (RUNNING
#     as soon as it is spawned), autorestart=false. supervisord has no dependencies and no
#     readiness checks: the priority only orders the spawns, nothing waits for anything.
#     `supervisord -n -c CONF`, with its log, pid file, child logs and control socket all in the
#     temporary directory (a system supervisord, if one runs, is not touched).
# Both daemons are started by the same python helper, with the same environment plus a tag
# variable, SPRITE_BENCH_TAG, by which every process they start can be found again.
#
# Measures, for each daemon (every time from just before the helper spawns the daemon):
#   1) boot to all 50 markers: until the 50th marker file exists. The helper watches the marker
#      directory with inotify (it sleeps in select(), no polling), so this is the same clock and
#      the same method for both. Split into launch to the first marker (the daemon's own start-up:
#      exec, config, for supervisord the python interpreter and its first main-loop tick) and
#      first to last marker (the spawning: sprite-env 5 levels in turn, each waiting for the
#      readiness of the one below; supervisord 50 spawns in a row). supervisord's main loop ticks
#      once a second (poll timeout 1 s, not configurable): its first spawns come at the first tick,
#      about 1 s after it started, and it marks programs RUNNING at the tick after that.
#   2) boot to all ready, by the daemon's own account: sprite-env's is its main process starting
#      (MARKS/.main appears; sprite-env starts it once every service is ready); supervisord's is the
#      last "success: X entered RUNNING state" line of its log (its timestamps are wall clock to
#      the millisecond; the helper reads the log as it grows and compares with the wall-clock
#      launch time). The helper also checks, for sprite-env, that no service's marker came before
#      the markers of what it needs (with a readiness check), and after the boot (and the idle
#      time) the daemon's view: GET /v1/system (Bearer token) and GET /health must say
#      "state": "running" with 50 of 50 services running; `supervisorctl status`, 50 RUNNING.
#   3) the daemon's own CPU time from its launch to SETTLE seconds after it was all ready (the
#      on-CPU time of /proc/PID/task/*/schedstat), its VmRSS then, and the wall time of its
#      shutdown (SIGTERM until it has exited, after stopping every service).
#   4) idle: in one more boot of each (after the timed ones), from SETTLE seconds after it was all
#      ready, the daemon's CPU time over IDLE_SECS seconds (utime+stime of /proc/PID/stat, 10 ms
#      ticks, and the exact on-CPU time of schedstat), its context switches (how often it woke up),
#      and its VmRSS at the end. Only the daemon process: for supervisord the python `supervisord`
#      process, not its children; sprite-env is one process.
# Runs are interleaved (RUNS of each, alternating which goes first), after WARMUP untimed runs of
# each; the tables give medians, means and minima over the RUNS. After every shutdown the helper
# looks for processes that carry the run's tag (the daemon, every sh and `sleep 100000` it
# started), counts them as left behind and kills them; the EXIT trap (also on Ctrl-C) kills any
# tagged process, which stops a daemon still running, and removes the temporary directory.
#
# Ratios are sprite-env / supervisord: below 1 is better for sprite-env.
# Targets checked at the end: boot to all ready by sprite-env's own signal (with the ordering and
# the readiness checks) no slower than supervisord's boot to all 50 markers (medians); idle CPU
# (schedstat) no more than supervisord's; idle VmRSS under 4 MiB (the README's figure for the
# daemon) with the 50 services; no process left behind by sprite-env.
#
# Environment: RUNS (default 10), WARMUP (default 1), IDLE_SECS (default 10; 0 skips the idle
#              part), SETTLE (default 1), LEVELS (default 5), WIDTH (default 10), FANIN (needs per
#              service, default WIDTH), READY (notify, command or none; default notify),
#              READY_INTERVAL (READY=command: a duration such as 10ms; default sprite-env's),
#              BOOT_TIMEOUT (seconds, default 60), SPRITE_ENV_BIN (default build/sprite-env),
#              BENCH_STRICT=1 to exit 1 when a target is missed (default: report only).
set -euo pipefail

cd "$(dirname "$0")/.."

RUNS=${RUNS:-10}
WARMUP=${WARMUP:-1}
IDLE_SECS=${IDLE_SECS:-10}
SETTLE=${SETTLE:-1}
LEVELS=${LEVELS:-5}
WIDTH=${WIDTH:-10}
FANIN=${FANIN:-$WIDTH}
READY=${READY:-notify}
READY_INTERVAL=${READY_INTERVAL:-}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-60}
NSVC=$((LEVELS * WIDTH))

die() {
    echo "bench: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root"
for tool in python3 supervisord supervisorctl; do
    command -v "$tool" >/dev/null || die "$tool is missing: run scripts/deps.sh bench"
done
if [ "$RUNS" -lt 1 ] || [ "$LEVELS" -lt 1 ] || [ "$WIDTH" -lt 1 ]; then
    die "RUNS, LEVELS and WIDTH must be at least 1"
fi
if [ "$FANIN" -lt 1 ] || [ "$FANIN" -gt "$WIDTH" ]; then die "FANIN must be 1..WIDTH"; fi
[ "$NSVC" -le 256 ] || die "at most 256 services (sprite-env's limit)"
# Every path supervisord uses (config, log, pid file, control socket) is ours, under the
# temporary directory, so a supervisord of the Debian package that may be running is not touched.

make --no-print-directory all >&2
SPRITE=$(realpath "${SPRITE_ENV_BIN:-build/sprite-env}")
[ -x "$SPRITE" ] || die "$SPRITE was not built"

WORK=$(mktemp -d /tmp/sprite-bench-services.XXXXXX)
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    local pids
    # The helper stops its daemon when it is interrupted; anything that still carries our tag
    # (a daemon, a service) is killed here.
    for _ in 1 2 3; do
        pids=$(grep -lzsF "SPRITE_BENCH_TAG=$WORK/" /proc/[0-9]*/environ 2>/dev/null |
            awk -F/ '{print $3}' || true)
        [ -n "$pids" ] || break
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
        sleep 0.1
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# sprite-env must not look for a token in, or write one to, the host's state directory. Both
# daemons get this environment.
export SPRITE_HTTP_API_TOKEN=bench-token
export SPRITE_WRITE_DIR=$WORK/sprite/state
unset SPRITE_KEEP_ALIVE_ON_ERROR

# ---- the helper: configurations, one run, statistics -------------------------------------

cat >"$WORK/helper.py" <<'EOF'
"""bench/services.sh's helper.
  helper.py gen LEVELS WIDTH FANIN READY INTERVAL SPRITE_DIR SUPD_DIR   both configurations
  helper.py run KIND DIR GRAPH TAG BOOT_TIMEOUT SETTLE IDLE -- ARGV...
                                                          one boot, check, (idle), stop: a JSON line
  helper.py stat FILE NAME KEY FN     mean|median|min|max of KEY over the timed runs, total: all
"""
import ctypes
import datetime
import http.client
import json
import os
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time

PROG = ': >"$0"; echo 2>/dev/null >&3; exec sleep 100000 3>&-'
MAIN_MARK = ".main"
HZ = os.sysconf("SC_CLK_TCK")


def svc_names(levels, width):
    return [[f"l{k}s{i:02d}" for i in range(width)] for k in range(1, levels + 1)]


def gen(levels, width, fanin, ready, interval, sdir, ddir):
    lv = svc_names(levels, width)
    comps = {}
    for k, names in enumerate(lv):
        for i, n in enumerate(names):
            needs = [] if k == 0 else [lv[k - 1][(i + j) % width] for j in range(fanin)]
            comps[n] = {
                "cmd": "/bin/sh",
                "args": ["-c", PROG, f"{sdir}/marks/{n}"],
                "needs": needs,
                "restart": "no",
            }
            if ready == "notify":
                comps[n]["ready"] = {"notify_fd": 3, "timeout": "60s"}
            elif ready == "command":
                comps[n]["ready"] = {"command": ["test", "-e", f"{sdir}/marks/{n}"],
                                     "timeout": "60s"}
                if interval:
                    comps[n]["ready"]["interval"] = interval
            elif ready != "none":
                sys.exit(f"READY: notify, command or none, not {ready}")
    with open(f"{sdir}/config.json", "w") as f:
        json.dump({"components": comps}, f, indent=1)
    with open(f"{sdir}/graph.json", "w") as f:
        json.dump({"ready": ready, "needs": {name: c["needs"] for name, c in comps.items()}}, f)
    lines = [
        "[supervisord]",
        "nodaemon=true",
        f"logfile={ddir}/supervisord.log",
        f"pidfile={ddir}/supervisord.pid",
        f"childlogdir={ddir}/logs",
        "loglevel=info",
        "",
        "[unix_http_server]",
        f"file={ddir}/supervisor.sock",
        "chmod=0700",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{ddir}/supervisor.sock",
        "",
    ]
    for k, names in enumerate(lv):
        for n in names:
            lines += [
                f"[program:{n}]",
                f"command=/bin/sh -c '{PROG}' {ddir}/marks/{n}",
                f"priority={10 * (k + 1)}",
                "autostart=true",
                "startsecs=0",
                "autorestart=false",
                "stopsignal=TERM",
                "stopwaitsecs=5",
                "",
            ]
    with open(f"{ddir}/supervisord.conf", "w") as f:
        f.write("\n".join(lines))


# ---- /proc ----


def cpu(pid):
    """(utime+stime in ms, on-CPU ns summed over the threads, context switches)."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fl = s[s.rindex(")") + 2:].split()
    ticks = int(fl[11]) + int(fl[12])
    ns = csw = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                ns += int(f.read().split()[0])
            with open(f"/proc/{pid}/task/{t}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        csw += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return ticks * 1000 / HZ, ns, csw


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def tagged(tag):
    """Processes whose environment has SPRITE_BENCH_TAG=tag: [(pid, cmdline)]."""
    want = f"SPRITE_BENCH_TAG={tag}".encode()
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            with open(f"/proc/{p}/environ", "rb") as f:
                if want not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
            if st[st.rindex(")") + 2] == "Z":
                cmd += " (zombie)"
            out.append((int(p), cmd))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
    return out


# ---- inotify ----

IN_CREATE, IN_MOVED_TO, IN_Q_OVERFLOW = 0x100, 0x80, 0x4000


def inotify(path):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
    if fd < 0 or libc.inotify_add_watch(fd, path.encode(), IN_CREATE | IN_MOVED_TO) < 0:
        raise OSError(ctypes.get_errno(), "inotify")
    return fd


def inotify_names(fd):
    try:
        data = os.read(fd, 65536)
    except BlockingIOError:
        return []
    off, names = 0, []
    while off < len(data):
        _wd, mask, _cookie, ln = struct.unpack_from("iIII", data, off)
        if mask & IN_Q_OVERFLOW:
            raise RuntimeError("inotify queue overflow")
        names.append(data[off + 16:off + 16 + ln].rstrip(b"\0").decode())
        off += 16 + ln
    return names


# ---- the daemons' own views ----


class UnixConn(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("sprite", timeout=10)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def check_sprite(d, n):
    token = os.environ["SPRITE_HTTP_API_TOKEN"]
    for path, hdrs in (("/v1/system", {"Authorization": f"Bearer {token}"}), ("/health", {})):
        c = UnixConn(f"{d}/api.sock")
        c.request("GET", path, headers=hdrs)
        r = c.getresponse()
        body = r.read()
        c.close()
        if r.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {r.status}: {body[:300]!r}")
        o = json.loads(body)
        sv = o.get("services") or {}
        if o.get("state") != "running" or sv.get("total") != n or sv.get("running") != n:
            raise RuntimeError(f"GET {path}: not {n} services running: {json.dumps(o)}")


def check_supd(d, n):
    r = subprocess.run(["supervisorctl", "-c", f"{d}/supervisord.conf", "status"],
                       capture_output=True, text=True, timeout=30)
    running = sum(1 for line in r.stdout.splitlines() if " RUNNING " in line)
    if running != n:
        raise RuntimeError(f"supervisorctl status: {running} of {n} RUNNING:\n{r.stdout}{r.stderr}")


def supd_wait_running(d, n, t0_wall_ns, deadline):
    """Reads supervisord's log until every program has entered RUNNING; returns the time of the
    last one, from its log timestamp (wall clock, ms), relative to the launch, in ms."""
    last, seen, buf = None, set(), ""
    with open(f"{d}/supervisord.log") as f:
        while len(seen) < n:
            chunk = f.read()
            if not chunk:
                if time.monotonic_ns() > deadline:
                    raise RuntimeError(f"supervisord's log shows {len(seen)} of {n} programs "
                                       "RUNNING")
                time.sleep(0.02)
                continue
            buf += chunk
            *lines, buf = buf.split("\n")
            for line in lines:
                if " INFO success: " not in line or "entered RUNNING state" not in line:
                    continue
                ts = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                seen.add(line.split(" INFO success: ", 1)[1].split()[0])
                last = ts if last is None else max(last, ts)
    return last * 1000 - t0_wall_ns / 1e6


def check_order(graph, order):
    """Every service's marker came after the markers of everything it needs (the marker is made
    before the service is ready, so this holds with a readiness check, not without one)."""
    pos = {name: i for i, name in enumerate(order)}
    for name, needs in graph.items():
        for dep in needs:
            if pos[dep] > pos[name]:
                raise RuntimeError(f"{name} started before {dep}, which it needs")


# ---- one run ----


def run(kind, d, graph, ready_kind, tag, boot_timeout, settle, idle, argv):
    """One boot of the daemon: prints its figures as a JSON line."""
    n = len(graph)
    res = {"name": kind}
    ifd = inotify(f"{d}/marks")
    env = dict(os.environ, SPRITE_BENCH_TAG=tag)
    logf = open(f"{d}/daemon.log", "wb")
    t0_wall = time.time_ns()
    t0 = time.monotonic_ns()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=env)
    ms = lambda t: (t - t0) / 1e6  # noqa: E731
    deadline = t0 + int(boot_timeout * 1e9)
    try:
        order, t_first, t_marks, t_main = [], None, None, None
        while t_marks is None or (kind == "sprite-env" and t_main is None):
            left = (deadline - time.monotonic_ns()) / 1e9
            if left <= 0:
                raise RuntimeError(f"boot not done within {boot_timeout}s: {len(order)} of {n} "
                                   f"markers, main process started: {t_main is not None}")
            r, _, _ = select.select([ifd], [], [], min(left, 0.1))
            if not r:
                if p.poll() is not None:
                    raise RuntimeError(f"the daemon exited during the boot (status "
                                       f"{p.returncode}): {len(order)} of {n} markers")
                continue
            names = inotify_names(ifd)
            now = time.monotonic_ns()
            for name in names:
                if name == MAIN_MARK:
                    t_main = now
                elif name in graph and name not in order:
                    order.append(name)
                    t_first = t_first or now
                    if len(order) == n:
                        t_marks = now
        res["first_ms"] = ms(t_first)
        res["markers_ms"] = ms(t_marks)
        res["span_ms"] = (t_marks - t_first) / 1e6
        if kind == "sprite-env":
            res["ready_ms"] = ms(t_main)
            if ready_kind != "none":
                check_order(graph, order)
        else:
            res["ready_ms"] = supd_wait_running(d, n, t0_wall, deadline)
        time.sleep(settle)
        c0 = cpu(p.pid)
        res["boot_cpu_ms"] = c0[1] / 1e6 if c0[1] else c0[0]
        res["boot_rss_kib"] = rss_kib(p.pid)
        if idle > 0:
            time.sleep(idle)
            c1 = cpu(p.pid)
            res["idle_cpu_ms"] = c1[0] - c0[0]
            res["idle_sched_ms"] = (c1[1] - c0[1]) / 1e6
            res["idle_csw"] = c1[2] - c0[2]
            res["rss_kib"] = rss_kib(p.pid)
        if kind == "sprite-env":
            check_sprite(d, n)
        else:
            check_supd(d, n)
        ts = time.monotonic_ns()
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise RuntimeError("the daemon did not exit within 60s of SIGTERM")
        res["stop_ms"] = (time.monotonic_ns() - ts) / 1e6
        res["exit_status"] = p.returncode
    except BaseException as e:
        res["error"] = str(e) or type(e).__name__
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    finally:
        logf.close()
    # What the daemon left behind: wait a little for processes that are just exiting.
    left = tagged(tag)
    for _ in range(20):
        if not left:
            break
        time.sleep(0.05)
        left = tagged(tag)
    res["leaked"] = len(left)
    if left:
        res["leaked_list"] = [f"{pid} {cmd}" for pid, cmd in left]
        for pid, _ in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    print(json.dumps(res), flush=True)
    return 1 if "error" in res else 0


def stat(path, name, key, fn):
    vals = []
    with open(path) as f:
        for line in f:
            o = json.loads(line)
            if o.get("name") == name and (fn == "total" or o.get("kind") == "timed") and key in o:
                vals.append(o[key])
    if not vals:
        print("n/a")
        return
    v = {"mean": statistics.mean, "median": statistics.median, "min": min, "max": max,
         "total": sum}[fn](vals)
    print(v if isinstance(v, int) else f"{v:.0f}" if key.endswith("_kib") else f"{v:.1f}")


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "gen":
        gen(int(a[1]), int(a[2]), int(a[3]), a[4], a[5], a[6], a[7])
    elif a[0] == "run":
        i = a.index("--")
        kind, d, graph, tag, bt, settle, idle = a[1:i]
        with open(graph) as f:
            g = json.load(f)
        sys.exit(run(kind, d, g["needs"], g["ready"], tag, float(bt), float(settle), float(idle),
                     a[i + 1:]))
    elif a[0] == "stat":
        stat(*a[1:5])
EOF

SDIR=$WORK/sprite
DDIR=$WORK/supervisord
mkdir -p "$SDIR" "$DDIR"
python3 "$WORK/helper.py" gen "$LEVELS" "$WIDTH" "$FANIN" "$READY" "$READY_INTERVAL" "$SDIR" "$DDIR"

RESULTS=$WORK/results.jsonl
: >"$RESULTS"

# One boot of NAME (sprite-env|supervisord): RUN is a label, KIND warmup|timed|idle, IDLE the
# idle seconds (0: none). Appends the helper's JSON line, marked, to the results.
run_one() {
    local name=$1 run=$2 kind=$3 idle=$4 d argv line
    case "$name" in
    sprite-env)
        d=$SDIR
        rm -rf "$d/marks" "$d/state" "$d/api.sock" "$d/services.sock"
        mkdir -p "$d/marks" "$d/state"
        # shellcheck disable=SC2016  # $0 is the marker, for the inner sh
        argv=("$SPRITE" -config "$d/config.json" -listen "unix:$d/api.sock"
            -services-socket "$d/services.sock"
            -- /bin/sh -c ': >"$0"; exec sleep 100000' "$d/marks/.main")
        ;;
    supervisord)
        d=$DDIR
        rm -rf "$d/marks" "$d/logs" "$d"/supervisord.log* "$d/supervisord.pid" "$d/supervisor.sock"
        mkdir -p "$d/marks" "$d/logs"
        argv=(supervisord -n -c "$d/supervisord.conf")
        ;;
    esac
    if ! line=$(python3 "$WORK/helper.py" run "$name" "$d" "$SDIR/graph.json" "$WORK/$name/$run" \
        "$BOOT_TIMEOUT" "$SETTLE" "$idle" -- "${argv[@]}"); then
        echo "bench: $name, run $run: ${line:-the helper failed}" >&2
        echo "bench: $name's log ($d/daemon.log), last 40 lines:" >&2
        tail -n 40 "$d/daemon.log" >&2 || true
        [ "$name" = supervisord ] && { tail -n 20 "$d/supervisord.log" >&2 || true; }
        exit 1
    fi
    case "$line" in
    *'"leaked": 0'*) ;;
    *) echo "bench: $name, run $run: processes left after the daemon exited: $line" >&2 ;;
    esac
    echo "${line%\}}, \"run\": \"$run\", \"kind\": \"$kind\"}" >>"$RESULTS"
}

NAMES=(sprite-env supervisord)
for ((i = 1; i <= WARMUP; i++)); do
    echo "bench: warm-up $i of $WARMUP" >&2
    for n in "${NAMES[@]}"; do run_one "$n" "w$i" warmup 0; done
done
for ((i = 1; i <= RUNS; i++)); do
    echo "bench: boot $i of $RUNS ($NSVC services each)" >&2
    if ((i % 2)); then order=(sprite-env supervisord); else order=(supervisord sprite-env); fi
    for n in "${order[@]}"; do run_one "$n" "$i" timed 0; done
done
if [ "$IDLE_SECS" != 0 ]; then
    for n in "${NAMES[@]}"; do
        echo "bench: $n: idle for ${IDLE_SECS}s after the boot" >&2
        run_one "$n" idle idle "$IDLE_SECS"
    done
fi

# ---- report ----------------------------------------------------------------------------------

st() { python3 "$WORK/helper.py" stat "$RESULTS" "$1" "$2" "$3"; }
# a value of the idle run
sti() {
    python3 - "$RESULTS" "$1" "$2" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o["name"] == sys.argv[2] and o["kind"] == "idle" and sys.argv[3] in o:
        v = o[sys.argv[3]]
        print(f"{v:.1f}" if isinstance(v, float) else v)
        break
else:
    print("n/a")
EOF
}
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "n/a" || b + 0 <= 0) print "n/a"
        else if (a / b < 0.1) printf "%.3fx", a / b
        else printf "%.2fx", a / b }'
}
row() { # row LABEL SPRITE SUPD
    printf '%-48s %12s %12s %12s\n' "$1" "$2" "$3" "$(ratio "$2" "$3")"
}

# row LABEL KEY FN: the timed runs' FN of KEY, both daemons; rowi LABEL KEY: the idle run's KEY
rowt() { row "$1" "$(st sprite-env "$2" "$3")" "$(st supervisord "$2" "$3")"; }
rowi() { row "$1" "$(sti sprite-env "$2")" "$(sti supervisord "$2")"; }

D_MARK_MED=$(st supervisord markers_ms median)
S_READY_MED=$(st sprite-env ready_ms median)
S_IDLE=$(sti sprite-env idle_sched_ms)
D_IDLE=$(sti supervisord idle_sched_ms)
S_RSS=$(sti sprite-env rss_kib)
S_LEAK=$(st sprite-env leaked total)

echo
echo "sprite-env: $("$SPRITE" -version)   supervisord: $(supervisord --version)" \
    "  kernel: $(uname -r)   cpus: $(nproc)"
echo "$NSVC services: $LEVELS levels x $WIDTH, each needs $FANIN of the level below (sprite-env);"
case "$READY" in
notify) rd="notify fd 3" ;;
command) rd="ready command \`test -e MARKER\`, interval ${READY_INTERVAL:-default}" ;;
none) rd="none" ;;
esac
echo "readiness: $rd (sprite-env), none (supervisord: priority 10 x level, startsecs=0)"
echo
printf '%-48s %12s %12s %12s\n' "metric ($RUNS boots each, interleaved)" \
    sprite-env supervisord "sprite/supd"
rowt "boot to all $NSVC markers, median (ms)" markers_ms median
rowt "boot to all $NSVC markers, mean (ms)" markers_ms mean
rowt "boot to all $NSVC markers, min (ms)" markers_ms min
rowt "  launch to the first marker, median (ms)" first_ms median
rowt "  first to last marker, median (ms) [3]" span_ms median
rowt "boot to all ready, own signal, median (ms) [1]" ready_ms median
rowt "boot to all ready, own signal, mean (ms)" ready_ms mean
rowt "daemon CPU, launch to ready+${SETTLE}s, mean (ms)" boot_cpu_ms mean
rowt "daemon RSS at ready+${SETTLE}s, mean (KiB)" boot_rss_kib mean
rowt "stop, SIGTERM to exit, median (ms)" stop_ms median
if [ "$IDLE_SECS" != 0 ]; then
    rowi "idle ${IDLE_SECS}s: CPU, utime+stime (ms) [2]" idle_cpu_ms
    rowi "idle ${IDLE_SECS}s: CPU, schedstat (ms)" idle_sched_ms
    rowi "idle ${IDLE_SECS}s: context switches" idle_csw
    rowi "idle ${IDLE_SECS}s: VmRSS at the end (KiB)" rss_kib
fi
rowt "processes left after shutdown (all runs)" leaked total
echo
echo "[1] sprite-env: its main process starts (it does once all $NSVC are ready, in dependency"
echo "    order); supervisord: the last 'entered RUNNING state' in its log (no readiness: RUNNING"
echo "    at spawn)."
echo "[2] /proc/PID/stat counts in $((1000 / $(getconf CLK_TCK))) ms ticks; schedstat is the exact"
echo "    on-CPU time."
echo "[3] sprite-env: $LEVELS levels, each spawned once the one below is ready; supervisord:"
echo "    $NSVC spawns in a row, nothing waited for. supervisord's main loop ticks once a second:"
echo "    it spawns at its first tick, about 1 s after it started, and marks RUNNING at the next."
echo "note: the daemon process only (supervisord is python; its children are not counted)."
echo

status=0
check() { # check LABEL OK(0|1) DETAIL
    if [ "$2" = 1 ]; then
        printf 'target %-58s PASS (%s)\n' "$1" "$3"
    else
        printf 'target %-58s FAIL (%s)\n' "$1" "$3"
        status=1
    fi
}
ok=$(awk -v a="$S_READY_MED" -v b="$D_MARK_MED" 'BEGIN { print (a != "n/a" && a <= b) ? 1 : 0 }')
check "boot to all ready no slower than supervisord's to all markers:" "$ok" \
    "$(ratio "$S_READY_MED" "$D_MARK_MED")"
if [ "$IDLE_SECS" != 0 ]; then
    ok=$(awk -v a="$S_IDLE" -v b="$D_IDLE" 'BEGIN { print (a != "n/a" && a <= b) ? 1 : 0 }')
    check "idle CPU (schedstat) no more than supervisord's:" "$ok" "$S_IDLE ms vs $D_IDLE ms"
    ok=$(awk -v a="$S_RSS" 'BEGIN { print (a != "n/a" && a < 4096) ? 1 : 0 }')
    check "idle VmRSS under 4 MiB with $NSVC services:" "$ok" "$S_RSS KiB"
fi
check "no process left behind by sprite-env:" "$([ "$S_LEAK" = 0 ] && echo 1 || echo 0)" "$S_LEAK"
[ "${BENCH_STRICT:-0}" = 1 ] || status=0
exit $status
