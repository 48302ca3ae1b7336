#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Side-by-side benchmark of sprite-env's Docker-compatible API against podman's, both driven by
# the real docker CLI. Needs root, the built binary, the docker CLI (/usr/local/bin/docker or on
# PATH), Debian's podman, runc and busybox-static (`scripts/deps.sh bench`), curl and findmnt.
# Run from anywhere:
#
#   bench/docker.sh
#
# Measures, in one run, N rounds; each round times once each (bash's $EPOCHREALTIME around the
# command, so the fork and exec of the CLI count):
#   a) `docker exec sprite true` against sprite-env (DOCKER_HOST=unix://…/api.sock, the token in
#      DOCKER_CUSTOM_HEADERS): the whole CLI run — ping, inspect, exec create, hijacked start,
#      exec inspect — and the CLI's own start-up and exit.
#   b) `docker exec bench true`, the same CLI against `podman system service` (Debian's podman,
#      runc, cgroupfs), where `bench` is a running container (`sleep`) whose root filesystem is a
#      directory made here from Debian's static busybox (no image, no registry, no network).
#   c) `docker --version`: the CLI starting and exiting without talking to any daemon.
# The rounds interleave a, b and c so that drift of the machine hits all three alike; WARMUP
# untimed rounds go first. Printed: mean and median of each, the ratio sprite-env / podman, and
# the share of each exec that is the CLI's own start-up (c / a, c / b).
#
# Target checked at the end: docker exec latency at most 0.3 of podman's (means).
#
# Everything lives in one temporary directory: the daemon's state, podman's storage, run, tmp and
# network-config directories, runc's state, lock files, events log and the docker CLI's config;
# podman's container and conmons go in a cgroup of their own (named after that directory). The
# exit trap kills podman's conmons (one stays 5 minutes after each exec), removes the container,
# stops both daemons, unmounts what podman left mounted under the directory, removes the cgroups
# and then the directory.
#
# Environment: N (rounds, default 50), WARMUP (default 3), SPRITE_ENV_BIN (default
#              build/sprite-env), DOCKER (default /usr/local/bin/docker, else docker on PATH),
#              BENCH_STRICT=1 to exit 1 when the target is missed (default: report only).
set -euo pipefail

cd "$(dirname "$0")/.."

N=${N:-50}
WARMUP=${WARMUP:-3}

die() {
    echo "bench: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root"
[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer"
if [ -n "${DOCKER:-}" ]; then
    :
elif [ -x /usr/local/bin/docker ]; then
    DOCKER=/usr/local/bin/docker
else
    DOCKER=$(command -v docker) || die "the docker CLI is missing"
fi
[ -x "$DOCKER" ] || die "$DOCKER is not executable"
for tool in podman runc busybox curl findmnt timeout; do
    command -v "$tool" >/dev/null || die "$tool is missing (scripts/deps.sh bench)"
done
# The rootfs gets a copy of busybox, so it must be busybox-static's (a dynamic one would not run
# there); `docker exec bench echo ok` below checks that it does.
BUSYBOX=$(command -v busybox)

make --no-print-directory all >&2
SPRITE=$(realpath "${SPRITE_ENV_BIN:-build/sprite-env}")
[ -x "$SPRITE" ] || die "$SPRITE was not built"

WORK=$(mktemp -d /tmp/sprite-bench-docker.XXXXXX)
PD=$WORK/podman
CGROUP=$(basename "$WORK") # podman's --cgroup-parent, one per run
DAEMON_PID=
SERVICE_PID=
CTR_STARTED=0

PODMAN=(podman --root "$PD/root" --runroot "$PD/run" --tmpdir "$PD/tmp" --volumepath "$PD/volumes"
    --runtime runc --runtime-flag "root=$PD/runc" --cgroup-manager cgroupfs --events-backend file
    --network-config-dir "$PD/net")

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

cgroup_dirs() { # this run's cgroup in every hierarchy (v1 controllers and the v2 mount)
    local d
    for d in /sys/fs/cgroup/"$CGROUP" /sys/fs/cgroup/*/"$CGROUP"; do
        [ -d "$d" ] && echo "$d"
    done
    return 0
}

# shellcheck disable=SC2317  # called by cleanup
kill_cgroup() { # [sub]: SIGKILL every process in this run's cgroups (or their SUB child), until none
    local d pid i left
    for ((i = 0; i < 100; i++)); do
        left=0
        while read -r d; do
            [ -d "$d/${1:-}" ] || continue
            while read -r pid; do
                [ -n "$pid" ] || continue
                kill -KILL "$pid" 2>/dev/null
                left=1
            done < <(find "$d/${1:-}" -name cgroup.procs -exec cat {} + 2>/dev/null)
        done < <(cgroup_dirs)
        [ "$left" = 0 ] && return 0
        sleep 0.1
    done
}

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    local d m
    set +e
    if [ -n "$DAEMON_PID" ]; then
        stop_pid "$DAEMON_PID"
        DAEMON_PID=
    fi
    # conmon first (podman puts it in <cgroup-parent>/conmon): the container's would run
    # `podman container cleanup` when the container stops, and that command does not get
    # --runtime-flag, so its runc would use the host's /run/runc; each exec session's conmon
    # would linger 5 minutes (--exit-delay 300) and then run the same.
    kill_cgroup conmon
    if [ "$CTR_STARTED" = 1 ]; then
        timeout 60 "${PODMAN[@]}" rm -f -t 0 bench >/dev/null 2>>"$WORK/podman.cleanup.err"
    fi
    if [ -n "$SERVICE_PID" ]; then
        stop_pid "$SERVICE_PID"
        SERVICE_PID=
    fi
    kill_cgroup # anything else podman started (the container, if rm failed)
    # what podman may leave mounted (the container's /dev/shm, the overlay driver's home, which
    # stays mounted now and then); deepest first.
    while read -r m; do
        echo "bench: unmounting $m" >&2
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
    done < <(findmnt -rn -o TARGET | grep -F "$WORK/" | sort -r)
    while read -r d; do
        find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    done < <(cgroup_dirs)
    if findmnt -rn -o TARGET | grep -qF "$WORK/"; then
        echo "bench: mounts left under $WORK, not removing it" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The CLI's config, not the host's ~/.docker (contexts, HttpHeaders); podman reads it too (for
# registry logins) and wants the file to exist.
export DOCKER_CONFIG=$WORK/docker-config
mkdir -p "$DOCKER_CONFIG"
echo '{}' >"$DOCKER_CONFIG/config.json"
# sprite-env must not look for a token in, or write one to, the host's state directory.
export SPRITE_HTTP_API_TOKEN=bench-token
export SPRITE_WRITE_DIR=$WORK/state
unset SPRITE_KEEP_ALIVE_ON_ERROR DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
mkdir -p "$SPRITE_WRITE_DIR"
SOCK=$WORK/api.sock
PSOCK=$WORK/podman.sock

now_ns() { date +%s%N; }

wait_ready() { # name pid err-file curl-args...: until curl succeeds, or the process exits
    local name=$1 pid=$2 err=$3 deadline
    shift 3
    deadline=$(($(now_ns) + 30000000000))
    until curl -sf "$@" >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || die "$name exited: $(cat "$err")"
        [ "$(now_ns)" -lt "$deadline" ] || die "$name not ready after 30 s: $(cat "$err")"
        sleep 0.05
    done
}

# ---- sprite-env -----------------------------------------------------------------------------

echo "bench: starting sprite-env on unix:$SOCK" >&2
"$SPRITE" -listen "unix:$SOCK" </dev/null >/dev/null 2>"$WORK/sprite.err" &
DAEMON_PID=$!
wait_ready sprite-env "$DAEMON_PID" "$WORK/sprite.err" --unix-socket "$SOCK" http://sprite/health

# ---- podman ---------------------------------------------------------------------------------

echo "bench: starting podman system service on unix:$PSOCK" >&2
mkdir -p "$PD/rootfs/bin" "$PD/tmp" "$PD/volumes" "$PD/runc" "$PD/net"
for d in dev proc sys tmp etc root; do mkdir -p "$PD/rootfs/$d"; done
cp "$BUSYBOX" "$PD/rootfs/bin/busybox"
while read -r applet; do
    [ "$applet" = busybox ] || ln -s busybox "$PD/rootfs/bin/$applet"
done < <("$BUSYBOX" --list)
for applet in sleep true echo; do
    [ -e "$PD/rootfs/bin/$applet" ] || die "$BUSYBOX has no $applet"
done
# What has no command-line flag: file locks (under --tmpdir) instead of the host-wide
# /dev/shm/libpod_lock segment, and the events log in the temp dir. conmon and the exit commands
# it runs inherit CONTAINERS_CONF.
cat >"$PD/containers.conf" <<EOF
[engine]
lock_type = "file"
events_logfile_path = "$PD/events.log"
EOF
export CONTAINERS_CONF=$PD/containers.conf
unset CONTAINER_HOST CONTAINER_CONNECTION

"${PODMAN[@]}" system service --time=0 "unix://$PSOCK" </dev/null >/dev/null 2>"$WORK/podman.err" &
SERVICE_PID=$!
wait_ready "podman system service" "$SERVICE_PID" "$WORK/podman.err" \
    --unix-socket "$PSOCK" http://podman/_ping

CTR_STARTED=1
# --rootfs is a switch: the first argument is then a directory instead of an image. Without the
# explicit limits, runc's init fails to raise RLIMIT_NOFILE to podman's default (no
# CAP_SYS_RESOURCE on our machines).
"${PODMAN[@]}" run -d --name bench --network none --cgroup-parent "/$CGROUP" \
    --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --rootfs "$PD/rootfs" sleep 2147483647 \
    >/dev/null 2>"$WORK/podman.run.err" ||
    die "podman run failed: $(cat "$WORK/podman.run.err")"

# ---- correctness, then the rounds ------------------------------------------------------------

# shellcheck disable=SC2317  # called through check_echo and time_one
sprite_docker() {
    DOCKER_HOST=unix://$SOCK DOCKER_CUSTOM_HEADERS="Authorization=Bearer $SPRITE_HTTP_API_TOKEN" \
        "$DOCKER" "$@"
}
# The same header for podman (which ignores it), so that the CLI does the same work on both sides.
# shellcheck disable=SC2317  # called through check_echo and time_one
podman_docker() {
    DOCKER_HOST=unix://$PSOCK DOCKER_CUSTOM_HEADERS="Authorization=Bearer $SPRITE_HTTP_API_TOKEN" \
        "$DOCKER" "$@"
}

check_echo() { # label, runner, container
    local out
    out=$("$2" exec "$3" echo ok 2>"$WORK/$1.check.err") ||
        die "$1: docker exec $3 echo ok failed (exit $?): $(cat "$WORK/$1.check.err")"
    [ "$out" = ok ] || die "$1: docker exec $3 echo ok printed '$out', expected 'ok'"
}
check_echo sprite-env sprite_docker sprite
check_echo podman podman_docker bench
"$DOCKER" --version >/dev/null || die "$DOCKER --version failed"

us_now() { echo "${EPOCHREALTIME/./}"; }

# One timed run of "$@" (stdout discarded), microseconds appended to FILE; a failure is fatal.
time_one() {
    local file=$1 t0 t1
    shift
    t0=$(us_now)
    "$@" >/dev/null 2>"$WORK/last.err" || die "$* failed (exit $?): $(cat "$WORK/last.err")"
    t1=$(us_now)
    echo $((t1 - t0)) >>"$file"
}

echo "bench: $WARMUP warm-up + $N timed rounds of: docker exec (sprite-env), docker exec" \
    "(podman), docker --version" >&2
for ((i = 0; i < WARMUP; i++)); do
    time_one "$WORK/warmup" sprite_docker exec sprite true
    time_one "$WORK/warmup" podman_docker exec bench true
    time_one "$WORK/warmup" "$DOCKER" --version
done
: >"$WORK/t.sprite"
: >"$WORK/t.podman"
: >"$WORK/t.version"
for ((i = 0; i < N; i++)); do
    time_one "$WORK/t.sprite" sprite_docker exec sprite true
    time_one "$WORK/t.podman" podman_docker exec bench true
    time_one "$WORK/t.version" "$DOCKER" --version
done

# mean and median in milliseconds of a file of microseconds
stats() {
    sort -n "$1" | awk '{ v[NR] = $1; s += $1 }
        END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%.2f %.2f %.2f %.2f\n", s / NR / 1000, m / 1000, v[1] / 1000, v[NR] / 1000 }'
}
read -r S_MEAN S_MED S_MIN S_MAX < <(stats "$WORK/t.sprite")
read -r P_MEAN P_MED P_MIN P_MAX < <(stats "$WORK/t.podman")
read -r V_MEAN V_MED _ _ < <(stats "$WORK/t.version")
SPRITE_VERSION=$("$SPRITE" -version 2>/dev/null || echo unknown)
PODMAN_VERSION=$("${PODMAN[@]}" --version 2>/dev/null || echo unknown)
RUNC_VERSION=$(runc --version 2>/dev/null | head -1 || echo unknown)
CLI_VERSION=$("$DOCKER" --version)
# lingering exec sessions: one conmon (two processes) per `docker exec`, for 5 minutes
CONMONS=$(cgroup_dirs | while read -r d; do find "$d" -name cgroup.procs -exec cat {} +; done |
    sort -u | grep -c . || true)

# ---- report ---------------------------------------------------------------------------------

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "n/a" }'; }

echo
echo "sprite-env: $SPRITE_VERSION   podman: $PODMAN_VERSION ($RUNC_VERSION)"
echo "client: $CLI_VERSION   kernel: $(uname -r)   cpus: $(nproc)"
echo
printf '%-36s %15s %15s %8s\n' "metric (ms, $N runs)" sprite-env podman ratio
printf '%-36s %15s %15s %8s\n' "docker exec ENV true, mean" "$S_MEAN" "$P_MEAN" \
    "$(ratio "$S_MEAN" "$P_MEAN")"
printf '%-36s %15s %15s %8s\n' "docker exec ENV true, median" "$S_MED" "$P_MED" \
    "$(ratio "$S_MED" "$P_MED")"
printf '%-36s %15s %15s %8s\n' "docker exec ENV true, min / max" "$S_MIN / $S_MAX" \
    "$P_MIN / $P_MAX" ""
printf '%-36s %15s %15s %8s\n' "docker --version, mean / median" "$V_MEAN / $V_MED" "" ""
printf '%-36s %15s %15s %8s\n' "CLI start-up share of exec (mean)" "$(pct "$V_MEAN" "$S_MEAN")" \
    "$(pct "$V_MEAN" "$P_MEAN")" ""
printf '%-36s %15s %15s %8s\n' "exec minus CLI start-up (mean)" \
    "$(awk -v a="$S_MEAN" -v b="$V_MEAN" 'BEGIN { printf "%.2f", a - b }')" \
    "$(awk -v a="$P_MEAN" -v b="$V_MEAN" 'BEGIN { printf "%.2f", a - b }')" \
    "$(awk -v a="$S_MEAN" -v b="$P_MEAN" -v v="$V_MEAN" \
        'BEGIN { if (b - v > 0) printf "%.2f", (a - v) / (b - v); else print "n/a" }')"
echo
echo "note: each figure is the wall time of one whole CLI run, fork and exec of the CLI included"
echo "      (5 requests for an exec: ping, container inspect, exec create, hijacked start, exec"
echo "      inspect). Rounds interleave sprite-env, podman and --version; $WARMUP warm-up rounds."
echo "note: sprite-env runs 'true' as a process beside itself; podman runs it in the running"
echo "      container 'bench' (busybox rootfs, --network none) through conmon and runc exec."
echo "note: the CLI start-up row is 'docker --version': the CLI's own start and exit, no daemon"
echo "      asked; 'exec minus CLI start-up' is what is left for the API and the daemon."
echo "note: podman left $CONMONS processes in its cgroup (an exec session's conmon stays 5 minutes)."
echo

status=0
check() { # description, pass (0/1), value
    if [ "$2" = 1 ]; then
        printf 'target %-42s PASS (%s)\n' "$1:" "$3"
    else
        printf 'target %-42s FAIL (%s)\n' "$1:" "$3"
        status=1
    fi
}
check "docker exec latency at most 0.3 of podman" \
    "$(awk -v s="$S_MEAN" -v p="$P_MEAN" 'BEGIN { print (s <= 0.3 * p) ? 1 : 0 }')" \
    "$(ratio "$S_MEAN" "$P_MEAN")"
[ "${BENCH_STRICT:-0}" = 1 ] || status=0
exit $status
