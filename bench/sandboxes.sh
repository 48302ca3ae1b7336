#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Side-by-side benchmark of sprite-env's sandboxes (POST /v1/sandboxes, docs/sandboxes.md) against
# podman containers run with runc (`podman run -d` + `podman exec`), on the same busybox root
# filesystem. Needs root, the built binary, python3 (stdlib only), Debian's podman, conmon, runc
# and busybox-static (`scripts/deps.sh bench`), curl and findmnt. Run from anywhere:
#
#   bench/sandboxes.sh            # or: make bench
#   bench/sandboxes.sh --quick    # 10 sandboxes, 1 warm-up (also SANDBOX_BENCH_QUICK=1)
#
# Set-up, all in one temporary directory: a root filesystem made of Debian's static busybox
# (rootfs/bin/busybox, a relative symlink rootfs/bin/APPLET -> busybox for every applet of
# `busybox --list`, the usual mount points, etc/passwd and etc/group with root), and a copy of it
# for podman (podman writes /etc/hosts and the like into a --rootfs directory; sprite-env never
# writes its rootfs: it is the shared lower layer of every sandbox's overlay).
#
# sprite-env: a copy of build/sprite-env (a rebuild during the run must not touch the daemon,
# which executes its own binary again to make and destroy sandboxes) as a host daemon with its
# own write directory (SPRITE_WRITE_DIR), a token, `-listen unix:WORK/api.sock`. A python helper (one process, http.client) keeps one
# keep-alive connection for the host routes (create, destroy); the proxied sandbox routes close
# their connection after the response, so each exec opens a new one. For each of N sandboxes:
#     t0; POST /v1/sandboxes {"rootfs": ROOTFS, "name": TAG-i} -> 201 (the agent answers);   t1
#     new connection; POST /v1/sandboxes/ID/exec {"cmd":"echo","args":["hi"]} -> 200 with
#     "stdout": "hi\n" (the exec route answers once the process has exited, output included); t2
# podman: podman 4.3 with private storage (--root, --runroot, --tmpdir, --volumepath and
# --network-config-dir in the temporary directory, the vfs storage driver, file locks instead of
# /dev/shm/libpod_lock and the events log there: containers.conf), --runtime runc,
# --cgroup-manager cgroupfs, every container under one --cgroup-parent (named after the temporary
# directory). runc keeps its state in its default root, /run/runc/ID: with --runtime-flag
# root=DIR, `podman rm -f` left most containers' runc state and libpod-ID cgroups behind (conmon's
# exit command, `podman container cleanup`, does not get the flag, so its `runc delete` looks in
# /run/runc). For each of N containers:
#     t0; podman run -d --name TAG-i --network none --cgroup-parent /CG
#         --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 (no CAP_SYS_RESOURCE on our
#         machines: runc's init cannot raise the limits to podman's defaults)
#         --rootfs ROOTFS sleep infinity -> the id on stdout, exit 0;                       t1
#     podman exec ID echo hi: t2 when the first byte of its stdout arrives (then it must
#         print "hi" and exit 0; the exit is t3)
# For both: create = t1 - t0, exec = t2 - t1, create-to-first-output = t2 - t0 (the target);
# "exec to exit" for podman is t3 - t1 (sprite-env's exec has exited at t2 already).
#
# Then, with all N alive and idle (SETTLE seconds after the last exec), the host memory per
# sandbox, from /proc and the memory cgroups:
#   - PSS (reported, and checked against the target): the sum of Pss (/proc/PID/smaps_rollup) of
#     every process of every sandbox, divided by N. sprite-env: the processes in each sandbox's
#     memory cgroup (the agent, PID 1 of the sandbox; the `echo` has exited), plus the daemon's
#     own growth: its Pss now minus its Pss before the first create (after the warm-up). The agent
#     is the sprite-env binary run from the host's files, so its text and libraries are shared
#     with the daemon and with each other: Pss splits shared pages between their users, so the
#     sum is the memory that the N sandboxes added. podman (no daemon): each container's
#     processes (its memory cgroup libpod-ID: the `sleep`) plus its conmon
#     (podman inspect .State.ConmonPid); `podman exec`'s own conmon has exited by then.
#   - RSS, the same processes' VmRSS summed (shared pages counted in full each time), per sandbox.
#   - memory cgroup: memory.usage_in_bytes (v1) / memory.current (v2) of the cgroups those
#     processes are in (each cgroup once; podman's conmons share one, CG/conmon), divided by N.
#     It includes the kernel memory charged to them (page tables, slab) and the page cache they
#     touched first, but not the daemon's growth, nor what was allocated before the process
#     joined the cgroup (namespaces, mounts made by the runtime).
#   (Not measured: the machine-wide used memory before and after, which would include kernel
#   objects such as namespaces and mounts too: on a shared machine it is noise.)
# Then every sandbox is destroyed, one at a time, each timed: DELETE /v1/sandboxes/ID -> 204, and
# `podman rm -f -t 0 ID`. Afterwards nothing of them may be left (sprite-env: the sandboxes'
# cgroups, 2 s later; podman: `podman ps -a`, the libpod-ID cgroups 2 s later, /run/runc/ID);
# the report says what was.
# WARMUP untimed create + exec + destroy cycles of each go first. sprite-env runs first, then
# podman (one after the other, never both at once).
#
# Printed: median, p90, mean, min and max of each time (ms); the memory figures per sandbox
# (KiB); the ratios sprite-env / podman (below 1 is better for sprite-env).
# Targets checked at the end: create-to-first-output median under 50 ms, idle memory (PSS) under
# 3 MiB per sandbox.
#
# The exit trap (also on Ctrl-C) stops the helper, destroys whatever sandboxes the daemon still
# has, stops it, kills what is left in the sandboxes' cgroups and removes them, removes podman's
# containers (`podman rm -f -t 0 --all`), kills what is left in podman's cgroups and removes them,
# deletes with `runc delete --force` the runc state of every container the run made (their ids
# are written down as they are made), unmounts whatever is mounted under the temporary directory
# and removes it; /run/runc and the sandboxes' parent cgroup are removed if the run made them.
#
# Environment: SANDBOX_BENCH_N (sandboxes of each kind, default 100; 10 in quick mode),
#              SANDBOX_BENCH_QUICK=1 (or --quick), WARMUP (default 3; 1 in quick mode),
#              SETTLE (seconds before the memory is read, default 2), PODMAN=0 to skip podman,
#              PODMAN_ROOTFS_OVERLAY=1 to give podman `--rootfs DIR:O` (an overlay per container,
#              like sprite-env's) instead of the shared directory, SPRITE_ENV_BIN (default
#              build/sprite-env), BENCH_STRICT=1 to exit 1 when a target is missed (default:
#              report only).
set -euo pipefail

cd "$(dirname "$0")/.."

QUICK=${SANDBOX_BENCH_QUICK:-0}
for arg in "$@"; do
    case "$arg" in
    --quick) QUICK=1 ;;
    *)
        echo "usage: $0 [--quick]" >&2
        exit 2
        ;;
    esac
done
if [ "$QUICK" = 1 ]; then
    N=${SANDBOX_BENCH_N:-10}
    WARMUP=${WARMUP:-1}
else
    N=${SANDBOX_BENCH_N:-100}
    WARMUP=${WARMUP:-3}
fi
SETTLE=${SETTLE:-2}
USE_PODMAN=${PODMAN:-1}

die() {
    echo "bench: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root"
[[ $N =~ ^[1-9][0-9]*$ ]] || die "SANDBOX_BENCH_N must be a positive integer"
[ "$N" -le 2000 ] || die "SANDBOX_BENCH_N: at most 2000"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer"
[[ $SETTLE =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "SETTLE must be a number of seconds"
tools=(python3 busybox curl findmnt timeout)
[ "$USE_PODMAN" = 0 ] || tools+=(podman conmon runc)
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null || die "$tool is missing (scripts/deps.sh bench)"
done
# The rootfs gets a copy of busybox, so it must be busybox-static's (a dynamic one would not run
# there); the first exec of each kind checks that it does.
BUSYBOX=$(command -v busybox)

make --no-print-directory all >&2
SPRITE=$(realpath "${SPRITE_ENV_BIN:-build/sprite-env}")
[ -x "$SPRITE" ] || die "$SPRITE was not built"

WORK=$(mktemp -d /tmp/sprite-bench-sandboxes.XXXXXX)
chmod 755 "$WORK"
TAG=sbs-${WORK##*.}      # prefix of every sandbox and container name of this run
CGROUP=$(basename "$WORK") # podman's --cgroup-parent
SOCK=$WORK/api.sock
PD=$WORK/podman
DAEMON_PID=
HELPER_PID=
# The parent cgroup of the sandboxes is shared with any other sprite-env daemon: removed at the
# end only if this run made it (and it is empty).
SBX_PARENT_EXISTED=0
for d in /sys/fs/cgroup/sprite-sandboxes /sys/fs/cgroup/*/sprite-sandboxes; do
    [ -d "$d" ] && SBX_PARENT_EXISTED=1
done
RUNC_ROOT_EXISTED=0
[ ! -d /run/runc ] || RUNC_ROOT_EXISTED=1

PODMAN_CMD=(podman --root "$PD/root" --runroot "$PD/run" --tmpdir "$PD/tmp" --volumepath "$PD/volumes"
    --network-config-dir "$PD/net" --storage-driver vfs --runtime runc
    --cgroup-manager cgroupfs --events-backend file)

export SPRITE_HTTP_API_TOKEN=bench-token
export SPRITE_WRITE_DIR=$WORK/state
unset SPRITE_KEEP_ALIVE_ON_ERROR CONTAINER_HOST CONTAINER_CONNECTION
# What podman has no flag for: file locks (under --tmpdir) instead of the host-wide
# /dev/shm/libpod_lock segment, and the events log here. conmon and the exit commands it runs
# inherit CONTAINERS_CONF.
export CONTAINERS_CONF=$PD/containers.conf

# shellcheck disable=SC2317  # called by cleanup
stop_pid() { # pid: TERM, up to 10 s, then KILL
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317  # called by cleanup
kill_cgroup_dirs() { # dirs...: SIGKILL every process in them and below, until none; then rmdir
    local d pid i left
    for ((i = 0; i < 100; i++)); do
        left=0
        for d in "$@"; do
            [ -d "$d" ] || continue
            while read -r pid; do
                [ -n "$pid" ] || continue
                kill -KILL "$pid" 2>/dev/null
                left=1
            done < <(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null)
        done
        [ "$left" = 0 ] && break
        sleep 0.1
    done
    for d in "$@"; do
        [ -d "$d" ] || continue
        find "$d" -depth -type d -exec rmdir {} + 2>/dev/null ||
            echo "bench: could not remove cgroup $d" >&2
    done
}

# shellcheck disable=SC2317  # called by cleanup
sandbox_ids() { # every sandbox the daemon has on disk (also one it died creating)
    local d
    for d in "$SPRITE_WRITE_DIR"/sandboxes/* "$SPRITE_WRITE_DIR"/sandboxes/.containers/*; do
        [ -d "$d" ] && basename "$d"
    done | sort -u
    return 0
}

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    local id ids m dirs=()
    set +e
    if [ -n "$HELPER_PID" ]; then
        stop_pid "$HELPER_PID"
        HELPER_PID=
    fi
    # sprite-env: destroy through the daemon while it runs, then stop it, then whatever is left
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        ids=$(curl -sf --max-time 10 --unix-socket "$SOCK" \
            -H "Authorization: Bearer $SPRITE_HTTP_API_TOKEN" http://sprite/v1/sandboxes |
            python3 -c 'import json, sys; print("\n".join(s["id"] for s in json.load(sys.stdin)))')
        for id in $ids; do
            curl -sf --max-time 30 -X DELETE --unix-socket "$SOCK" \
                -H "Authorization: Bearer $SPRITE_HTTP_API_TOKEN" "http://sprite/v1/sandboxes/$id" ||
                echo "bench: DELETE /v1/sandboxes/$id failed" >&2
        done
    fi
    if [ -n "$DAEMON_PID" ]; then
        stop_pid "$DAEMON_PID"
        DAEMON_PID=
    fi
    for id in $(sandbox_ids); do
        for m in /sys/fs/cgroup/sprite-sandboxes/"$id" /sys/fs/cgroup/*/sprite-sandboxes/"$id"; do
            [ -d "$m" ] && dirs+=("$m")
        done
    done
    if [ ${#dirs[@]} -gt 0 ]; then
        echo "bench: removing ${#dirs[@]} sandbox cgroup directories left behind" >&2
        kill_cgroup_dirs "${dirs[@]}"
    fi
    if [ "$SBX_PARENT_EXISTED" = 0 ]; then
        rmdir /sys/fs/cgroup/sprite-sandboxes /sys/fs/cgroup/*/sprite-sandboxes 2>/dev/null
    fi
    # podman: its containers, then anything left in its cgroups (conmons, containers)
    if [ -d "$PD/root" ]; then
        timeout 120 "${PODMAN_CMD[@]}" rm -f -t 0 --all >/dev/null 2>>"$WORK/podman.cleanup.err" ||
            echo "bench: podman rm --all failed: $(tail -3 "$WORK/podman.cleanup.err")" >&2
    fi
    dirs=()
    for m in /sys/fs/cgroup/"$CGROUP" /sys/fs/cgroup/*/"$CGROUP"; do
        [ -d "$m" ] && dirs+=("$m")
    done
    [ ${#dirs[@]} -eq 0 ] || kill_cgroup_dirs "${dirs[@]}"
    if [ -f "$WORK/podman.ids" ]; then
        while read -r id; do
            [ -e "/run/runc/$id" ] || continue
            echo "bench: runc state of $id left: runc delete --force" >&2
            timeout 30 runc delete --force "$id" >/dev/null 2>&1
            rm -rf "/run/runc/${id:?}"
        done <"$WORK/podman.ids"
    fi
    [ "$RUNC_ROOT_EXISTED" = 1 ] || rmdir /run/runc 2>/dev/null
    # what may be left mounted (podman's /dev/shm of a container); deepest first
    while read -r m; do
        echo "bench: unmounting $m" >&2
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
    done < <(findmnt -rn -o TARGET | grep -F "$WORK/" | sort -r)
    if findmnt -rn -o TARGET | grep -qF "$WORK/"; then
        echo "bench: mounts left under $WORK, not removing it" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The daemon runs a copy: it executes its own binary again (/proc/self/exe) to make and destroy
# sandboxes, and a rebuild of build/sprite-env during the run must not change it, or break it.
mkdir "$WORK/bin"
cp "$SPRITE" "$WORK/bin/sprite-env"
SPRITE=$WORK/bin/sprite-env
"$SPRITE" -version >/dev/null 2>&1 || die "$SPRITE -version failed (a rebuild in progress?)"

# ---- the root filesystems -----------------------------------------------------------------

echo "bench: building the busybox rootfs in $WORK" >&2
RFS=$WORK/rootfs
for d in bin dev proc sys tmp etc root run mnt; do mkdir -p "$RFS/$d"; done
chmod 1777 "$RFS/tmp"
cp "$BUSYBOX" "$RFS/bin/busybox"
while read -r applet; do
    [ "$applet" = busybox ] || [[ $applet == */* ]] || ln -s busybox "$RFS/bin/$applet"
done < <("$BUSYBOX" --list)
for applet in sh echo sleep; do
    [ -e "$RFS/bin/$applet" ] || die "$BUSYBOX has no $applet"
done
echo "root:x:0:0:root:/root:/bin/sh" >"$RFS/etc/passwd"
echo "root:x:0:" >"$RFS/etc/group"
if [ "$USE_PODMAN" != 0 ]; then
    mkdir -p "$PD/tmp" "$PD/volumes" "$PD/net"
    cp -a "$RFS" "$PD/rootfs"
    cat >"$CONTAINERS_CONF" <<EOF
[engine]
lock_type = "file"
events_logfile_path = "$PD/events.log"
EOF
fi

# ---- the helper -----------------------------------------------------------------------------

cat >"$WORK/helper.py" <<'EOF'
"""bench/sandboxes.sh's helper.
  helper.py sprite OUT SOCK ROOTFS N WARMUP SETTLE TAG DAEMON_PID
  helper.py podman OUT ROOTFS N WARMUP SETTLE TAG CGPARENT IDS_FILE -- PODMAN_ARGV...
Writes OUT.create, OUT.exec, OUT.total, OUT.destroy (and OUT.exec_exit for podman): one time a
line, microseconds; OUT.mem: "key value" lines (KiB, counts).
"""
import http.client
import json
import os
import socket
import subprocess
import sys
import time

CG = "/sys/fs/cgroup"
V2 = os.path.exists(f"{CG}/cgroup.controllers")


def now():
    return time.perf_counter()


def us(t):
    return round(t * 1e6)


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


# ---- memory ----


def rollup(pid):
    """(Pss, Rss) in KiB of a process; (0, 0) when it is gone or a zombie."""
    pss = rss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return pss, rss


def mem_cgroup(pid):
    """The directory of the memory cgroup of a process (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            for line in f:
                _, ctrls, path = line.rstrip("\n").split(":", 2)
                if V2 and ctrls == "":
                    return f"{CG}{path}"
                if not V2 and "memory" in ctrls.split(","):
                    return f"{CG}/memory{path}"
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None


def cgroup_procs(d):
    """Every process in the cgroup directory d and below."""
    out = []
    for dp, _, _ in os.walk(d):
        try:
            with open(f"{dp}/cgroup.procs") as f:
                out += [int(p) for p in f.read().split()]
        except FileNotFoundError:
            pass
    return out


def cgroup_usage_kib(d):
    name = "memory.current" if V2 else "memory.usage_in_bytes"
    with open(f"{d}/{name}") as f:
        return int(f.read()) // 1024


def left_after(dirs, secs):
    """How many of dirs still exist after up to secs seconds."""
    deadline = now() + secs
    while True:
        left = sum(1 for d in dirs if os.path.isdir(d))
        if left == 0 or now() >= deadline:
            return left
        time.sleep(0.05)


def write_times(out, name, vals):
    with open(f"{out}.{name}", "w") as f:
        for v in vals:
            f.write(f"{v}\n")


def write_mem(out, d):
    with open(f"{out}.mem", "w") as f:
        for k, v in d.items():
            f.write(f"{k} {v}\n")


# ---- sprite-env ----


class UnixConn(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("sprite", timeout=60)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Sprite:
    def __init__(self, sock):
        self.sock = sock
        self.hdrs = {"Authorization": f"Bearer {os.environ['SPRITE_HTTP_API_TOKEN']}",
                     "Content-Type": "application/json"}
        self.conn = UnixConn(sock)  # keep-alive, for the host routes

    def host(self, method, path, body=None, retry=False):
        data = None if body is None else json.dumps(body)
        try:
            self.conn.request(method, path, data, self.hdrs)
            r = self.conn.getresponse()
            return r.status, r.read()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # the daemon closed the idle keep-alive connection; only idempotent requests again
            self.conn.close()
            self.conn = UnixConn(self.sock)
            if not retry:
                raise
            return self.host(method, path, body)

    def proxied(self, method, path, body):
        c = UnixConn(self.sock)  # the proxied routes close the connection after the response
        try:
            c.request(method, path, json.dumps(body), self.hdrs)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def cycle(self, rootfs, name):
        """create, first exec: (id, pid, t0, t1, t2)"""
        t0 = now()
        st, b = self.host("POST", "/v1/sandboxes", {"rootfs": rootfs, "name": name})
        t1 = now()
        if st != 201:
            sys.exit(f"POST /v1/sandboxes: HTTP {st}: {b[:500]!r}")
        sb = json.loads(b)
        st, b = self.proxied("POST", f"/v1/sandboxes/{sb['id']}/exec",
                             {"cmd": "echo", "args": ["hi"]})
        t2 = now()
        if st != 200:
            sys.exit(f"POST /v1/sandboxes/{sb['id']}/exec: HTTP {st}: {b[:500]!r}")
        o = json.loads(b)
        if o.get("stdout") != "hi\n" or o.get("exit_code") != 0:
            sys.exit(f"exec echo hi in {sb['id']}: {b[:500]!r}")
        return sb["id"], sb["pid"], t0, t1, t2

    def destroy(self, sid):
        t0 = now()
        st, b = self.host("DELETE", f"/v1/sandboxes/{sid}", retry=True)
        t1 = now()
        if st != 204:
            sys.exit(f"DELETE /v1/sandboxes/{sid}: HTTP {st}: {b[:500]!r}")
        return t1 - t0


def run_sprite(out, sock, rootfs, n, warmup, settle, tag, daemon):
    s = Sprite(sock)
    for i in range(warmup):
        sid, *_ = s.cycle(rootfs, f"{tag}-w{i}")
        s.destroy(sid)
    time.sleep(settle)
    daemon_before = rollup(daemon)
    boxes, create, exe, total = [], [], [], []
    for i in range(n):
        sid, pid, t0, t1, t2 = s.cycle(rootfs, f"{tag}-{i}")
        boxes.append((sid, pid))
        create.append(us(t1 - t0))
        exe.append(us(t2 - t1))
        total.append(us(t2 - t0))
    log(f"sprite-env: {n} sandboxes created; idle {settle} s, then the memory")
    time.sleep(settle)
    pss = rss = nproc = 0
    cgs = set()
    for sid, pid in boxes:
        cg = mem_cgroup(pid)
        if cg is None:
            sys.exit(f"sandbox {sid}: its agent (pid {pid}) is gone")
        cgs.add(cg)
        for p in cgroup_procs(cg):
            a, b = rollup(p)
            pss, rss, nproc = pss + a, rss + b, nproc + 1
    cg_kib = sum(cgroup_usage_kib(d) for d in cgs)
    daemon_after = rollup(daemon)
    mem = {
        "pss": (pss + daemon_after[0] - daemon_before[0]) / n,
        "rss": (rss + daemon_after[1] - daemon_before[1]) / n,
        "pss_procs": pss / n,
        "daemon_pss_before": daemon_before[0],
        "daemon_pss_after": daemon_after[0],
        "daemon_rss_before": daemon_before[1],
        "daemon_rss_after": daemon_after[1],
        "cgroup": cg_kib / n,
        "cgroups": len(cgs),
        "procs": nproc / n,
    }
    destroy = [us(s.destroy(sid)) for sid, _ in boxes]
    st, b = s.host("GET", "/v1/sandboxes", retry=True)
    left = len(json.loads(b)) if st == 200 else -1
    mem["left_sandboxes"] = left
    mem["left_cgroups"] = left_after(cgs, 2)
    write_times(out, "create", create)
    write_times(out, "exec", exe)
    write_times(out, "total", total)
    write_times(out, "destroy", destroy)
    write_mem(out, mem)


# ---- podman ----


def run_podman(out, rootfs, n, warmup, settle, tag, cgparent, podman, idsf):
    errf = f"{out}.err"

    def pm(*args, check=True):
        with open(errf, "w") as err:
            r = subprocess.run([*podman, *args], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=err, timeout=120)
        if check and r.returncode != 0:
            with open(errf) as f:
                sys.exit(f"podman {' '.join(args)}: exit {r.returncode}: {f.read()[-1500:]}")
        return r.stdout.decode()

    def cycle(name):
        t0 = now()
        cid = pm("run", "-d", "--name", name, "--network", "none",
                 "--cgroup-parent", f"/{cgparent}",
                 "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                 "--rootfs", rootfs, "sleep", "infinity").strip()
        t1 = now()
        with open(idsf, "a") as f:  # for the exit trap
            f.write(cid + "\n")
        with open(errf, "w") as err:
            p = subprocess.Popen([*podman, "exec", cid, "echo", "hi"], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=err)
        fd = p.stdout.fileno()
        first = os.read(fd, 4096)
        t2 = now()
        data = first
        while True:
            b = os.read(fd, 4096)
            if not b:
                break
            data += b
        rc = p.wait(timeout=120)
        t3 = now()
        p.stdout.close()
        if rc != 0 or data != b"hi\n":
            with open(errf) as f:
                sys.exit(f"podman exec {cid} echo hi: exit {rc}, output {data!r}: "
                         f"{f.read()[-1500:]}")
        return cid, t0, t1, t2, t3

    def destroy(cid):
        t0 = now()
        pm("rm", "-f", "-t", "0", cid)
        return now() - t0

    for i in range(warmup):
        cid, *_ = cycle(f"{tag}-w{i}")
        destroy(cid)
    time.sleep(settle)
    ids, create, exe, exe_exit, total = [], [], [], [], []
    for i in range(n):
        cid, t0, t1, t2, t3 = cycle(f"{tag}-{i}")
        ids.append(cid)
        create.append(us(t1 - t0))
        exe.append(us(t2 - t1))
        exe_exit.append(us(t3 - t1))
        total.append(us(t2 - t0))
    log(f"podman: {n} containers created; idle {settle} s, then the memory")
    time.sleep(settle)
    pss = rss = nproc = 0
    cgs = set()
    lines = pm("inspect", "--format", "{{.Id}} {{.State.Pid}} {{.State.ConmonPid}}",
               *ids).split("\n")
    info = dict((l.split()[0], l.split()[1:]) for l in lines if l.strip())
    for cid in ids:
        pid, conmon = (int(x) for x in info[cid])
        cg = mem_cgroup(pid)
        if cg is None or pid == 0:
            sys.exit(f"container {cid}: its process (pid {pid}) is gone")
        cgs.add(cg)
        procs = cgroup_procs(cg) + [conmon]
        ccg = mem_cgroup(conmon)
        if ccg:
            cgs.add(ccg)
        for p in procs:
            a, b = rollup(p)
            pss, rss, nproc = pss + a, rss + b, nproc + 1
    cg_kib = sum(cgroup_usage_kib(d) for d in cgs)
    mem = {
        "pss": pss / n,
        "rss": rss / n,
        "pss_procs": pss / n,
        "cgroup": cg_kib / n,
        "cgroups": len(cgs),
        "procs": nproc / n,
    }
    destroy_t = [us(destroy(cid)) for cid in ids]
    mem["left_sandboxes"] = len(pm("ps", "-aq").split())
    mem["left_cgroups"] = left_after([d for d in cgs if "libpod-" in d], 2)
    mem["left_runc"] = sum(1 for cid in ids if os.path.exists(f"/run/runc/{cid}"))
    write_times(out, "create", create)
    write_times(out, "exec", exe)
    write_times(out, "exec_exit", exe_exit)
    write_times(out, "total", total)
    write_times(out, "destroy", destroy_t)
    write_mem(out, mem)


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "sprite":
        run_sprite(a[1], a[2], a[3], int(a[4]), int(a[5]), float(a[6]), a[7], int(a[8]))
    elif a[0] == "podman":
        k = a.index("--")
        run_podman(a[1], a[2], int(a[3]), int(a[4]), float(a[5]), a[6], a[7], a[k + 1:], a[8])
    else:
        sys.exit(__doc__)
EOF

# runs the helper in the background, so that a signal is handled at once (bash runs a trap only
# once the foreground command has ended); the trap stops it
helper() {
    python3 "$WORK/helper.py" "$@" </dev/null &
    HELPER_PID=$!
    wait "$HELPER_PID" || die "the helper ($1) failed"
    HELPER_PID=
}

# ---- sprite-env -----------------------------------------------------------------------------

mkdir -p "$SPRITE_WRITE_DIR"
SPRITE_ARGS=(-listen "unix:$SOCK")
if [ $((N + WARMUP)) -gt 200 ]; then # sandboxes.max is 256 by default
    echo "{\"sandboxes\": {\"max\": $((N + WARMUP + 16))}}" >"$WORK/sprite.json"
    SPRITE_ARGS+=(-config "$WORK/sprite.json")
fi
echo "bench: starting sprite-env on unix:$SOCK" >&2
"$SPRITE" "${SPRITE_ARGS[@]}" </dev/null >/dev/null 2>"$WORK/sprite.err" &
DAEMON_PID=$!
for ((i = 0; i < 300; i++)); do
    curl -sf --unix-socket "$SOCK" http://sprite/health >/dev/null 2>&1 && break
    kill -0 "$DAEMON_PID" 2>/dev/null || die "sprite-env exited: $(cat "$WORK/sprite.err")"
    sleep 0.05
done
[ "$i" -lt 300 ] || die "sprite-env not ready after 15 s: $(cat "$WORK/sprite.err")"

echo "bench: sprite-env: $WARMUP warm-up + $N sandboxes: create, exec echo hi; memory; destroy" >&2
helper sprite "$WORK/t.sprite" "$SOCK" "$RFS" "$N" "$WARMUP" "$SETTLE" "$TAG" "$DAEMON_PID"
SPRITE_VERSION=$("$SPRITE" -version 2>/dev/null || echo unknown)
stop_pid "$DAEMON_PID"
DAEMON_PID=

# ---- podman ---------------------------------------------------------------------------------

PODMAN_ROOTFS=$PD/rootfs
PODMAN_VERSION=n/a
RUNC_VERSION=n/a
[ "${PODMAN_ROOTFS_OVERLAY:-0}" = 0 ] || PODMAN_ROOTFS=$PD/rootfs:O
if [ "$USE_PODMAN" != 0 ]; then
    echo "bench: podman: $WARMUP warm-up + $N containers: run -d, exec echo hi; memory; rm" >&2
    helper podman "$WORK/t.podman" "$PODMAN_ROOTFS" "$N" "$WARMUP" "$SETTLE" "$TAG" "$CGROUP" \
        "$WORK/podman.ids" -- "${PODMAN_CMD[@]}"
    PODMAN_VERSION=$("${PODMAN_CMD[@]}" --version 2>/dev/null || echo unknown)
    RUNC_VERSION=$(runc --version 2>/dev/null | head -1 || echo unknown)
fi

# ---- report ---------------------------------------------------------------------------------

# median p90 mean min max, in milliseconds, of a file of microseconds (p90: nearest rank)
stats() {
    sort -n "$1" | awk '{ v[NR] = $1; s += $1 }
        END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              r = int(0.9 * NR); if (r < 0.9 * NR) r++; if (r < 1) r = 1
              printf "%.2f %.2f %.2f %.2f %.2f\n", m / 1000, v[r] / 1000, s / NR / 1000,
                  v[1] / 1000, v[NR] / 1000 }'
}
memval() { # side key
    awk -v k="$2" '$1 == k { printf "%.0f", $2; f = 1 } END { if (!f) print "n/a" }' "$WORK/t.$1.mem"
}
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a != "n/a" && b != "n/a" && b > 0) printf "%.2f", a / b; else print "n/a" }'
}

declare -A MED P90 MEAN MIN MAX
SIDES=(sprite)
[ "$USE_PODMAN" = 0 ] || SIDES+=(podman)
for side in "${SIDES[@]}"; do
    for m in total create exec exec_exit destroy; do
        [ -f "$WORK/t.$side.$m" ] || continue
        read -r "MED[$side.$m]" "P90[$side.$m]" "MEAN[$side.$m]" "MIN[$side.$m]" "MAX[$side.$m]" \
            < <(stats "$WORK/t.$side.$m")
    done
done

FMT='%-40s %17s %17s %7s\n'
row() { # label sprite podman: with the ratio
    # shellcheck disable=SC2059
    printf "$FMT" "$1" "$2" "$3" "$(ratio "$2" "$3")"
}
row0() { # label sprite podman: without
    # shellcheck disable=SC2059
    printf "$FMT" "$1" "$2" "$3" ""
}
timerows() { # key label
    local k=$1 l=$2
    row "$l, median" "${MED[sprite.$k]:-n/a}" "${MED[podman.$k]:-n/a}"
    row "$l, p90" "${P90[sprite.$k]:-n/a}" "${P90[podman.$k]:-n/a}"
    row "$l, mean" "${MEAN[sprite.$k]:-n/a}" "${MEAN[podman.$k]:-n/a}"
    row0 "$l, min / max" "${MIN[sprite.$k]:-n/a} / ${MAX[sprite.$k]:-n/a}" \
        "${MIN[podman.$k]:-n/a} / ${MAX[podman.$k]:-n/a}"
}
pmem() { if [ "$USE_PODMAN" = 0 ]; then echo n/a; else memval podman "$1"; fi; }

echo
echo "sprite-env: $SPRITE_VERSION   podman: $PODMAN_VERSION ($RUNC_VERSION)"
echo "sandboxes: $N of each (+ $WARMUP warm-up)   kernel: $(uname -r)   cpus: $(nproc)"
echo
# shellcheck disable=SC2059
printf "$FMT" "metric (ms, $N sandboxes)" sprite-env podman ratio
timerows total "create to first output"
timerows create "  create (POST / run -d)"
timerows exec "  first exec to output"
row "  exec to exit, median" "${MED[sprite.exec]}" "${MED[podman.exec_exit]:-n/a}"
timerows destroy "destroy (DELETE / rm -f -t 0)"
# shellcheck disable=SC2059
printf "$FMT" "idle memory (KiB per sandbox)" "" "" ""
row "  PSS (target)" "$(memval sprite pss)" "$(pmem pss)"
row "  RSS" "$(memval sprite rss)" "$(pmem rss)"
row "  memory cgroup usage" "$(memval sprite cgroup)" "$(pmem cgroup)"
row0 "  processes per sandbox" "$(memval sprite procs)" "$(pmem procs)"
row0 "left after destroy: sandboxes / cgroups" \
    "$(memval sprite left_sandboxes) / $(memval sprite left_cgroups)" \
    "$(pmem left_sandboxes) / $(pmem left_cgroups)"
echo
echo "note: create to first output = from just before POST /v1/sandboxes (podman run -d) to the"
echo "      exec's output in hand: sprite-env's exec response (sent once echo has exited),"
echo "      podman exec's first stdout byte ('exec to exit': until podman exec has exited)."
echo "      One at a time, from one python client; podman's include the start of the podman"
echo "      CLI (a Go binary) for each command."
echo "note: PSS = Pss of every process of the sandboxes (sprite-env: each sandbox's agent, from its"
echo "      memory cgroup; podman: the container's sleep and its conmon) over N; sprite-env's"
echo "      includes the daemon's Pss growth ($(memval sprite daemon_pss_before) ->" \
    "$(memval sprite daemon_pss_after) KiB: the agents share its pages;"
echo "      agents alone $(memval sprite pss_procs) KiB each). The memory cgroup figure is what"
echo "      the sandboxes' cgroups are charged (their pages, page tables, slab, page cache)."
if [ "$USE_PODMAN" != 0 ]; then
    echo "note: podman left runc state of $(pmem left_runc) containers in /run/runc after rm."
fi
if [ "${PODMAN_ROOTFS_OVERLAY:-0}" = 0 ]; then
    echo "note: podman's containers share one rootfs directory (--rootfs DIR), written in place;"
    echo "      sprite-env gives each sandbox an overlay over it (PODMAN_ROOTFS_OVERLAY=1: DIR:O)."
else
    echo "note: podman's containers each get an overlay over the rootfs (--rootfs DIR:O)."
fi
echo "note: podman: runc, cgroupfs, vfs storage, --network none; sprite-env: network none (the"
echo "      default), no resource limits; both: a pid, mount, uts, ipc and net namespace each."
echo

status=0
check() { # description, pass (0/1), value
    if [ "$2" = 1 ]; then
        printf 'target %-44s PASS (%s)\n' "$1:" "$3"
    else
        printf 'target %-44s FAIL (%s)\n' "$1:" "$3"
        status=1
    fi
}
check "create to first output under 50 ms (median)" \
    "$(awk -v s="${MED[sprite.total]}" 'BEGIN { print (s < 50) ? 1 : 0 }')" \
    "${MED[sprite.total]} ms"
check "idle memory under 3 MiB per sandbox (PSS)" \
    "$(awk -v s="$(memval sprite pss)" 'BEGIN { print (s < 3072) ? 1 : 0 }')" \
    "$(memval sprite pss) KiB"
[ "${BENCH_STRICT:-0}" = 1 ] || status=0
exit $status
