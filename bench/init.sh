#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Side-by-side benchmark of sprite-env against tini and dumb-init (Debian packages; install them
# with `scripts/deps.sh bench`). Needs root (PID namespaces). Run from anywhere:
#
#   bench/init.sh            # or: make bench
#
# Measures, for each init:
#   a) idle RSS: VmRSS of the init while it supervises `sleep 1000`. sprite-env always serves its
#      HTTP API (here on a unix socket), so its number includes the API server.
#   b) start-and-exit: wall time of `INIT -- true` (hyperfine -N when available, else a loop).
#   c) reaping 1000 orphans: wall time of
#        unshare --pid --fork --mount-proc INIT -- build/helpers/orphans -w 1000
#      The helper makes 1000 orphans that exit at once, then waits until every one of them is gone
#      from /proc (that is, reaped by the init, PID 1 of the namespace) before it exits, so the
#      init exits only after it has reaped all of them.
#
# Targets checked at the end: start-and-exit within 2x of tini; idle RSS under 4 MiB.
#
# Environment: RUNS (start-and-exit runs, default 300), REAP_RUNS (default 10),
#              ORPHANS (default 1000), SPRITE_ENV_BIN (default build/sprite-env),
#              BENCH_STRICT=1 to exit 1 when a target is missed (default: report only).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

RUNS=${RUNS:-300}
REAP_RUNS=${REAP_RUNS:-10}
ORPHANS=${ORPHANS:-1000}

die() {
    echo "bench: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root (it uses PID namespaces)"
for tool in tini dumb-init unshare; do
    command -v "$tool" >/dev/null || die "$tool is missing: run scripts/deps.sh bench"
done

make --no-print-directory all >&2
SPRITE=$(realpath "${SPRITE_ENV_BIN:-build/sprite-env}")
ORPHAN_HELPER=$ROOT/build/helpers/orphans
[ -x "$SPRITE" ] || die "$SPRITE was not built"
[ -x "$ORPHAN_HELPER" ] || die "$ORPHAN_HELPER was not built"

WORK=$(mktemp -d /tmp/sprite-bench.XXXXXX)
BG_PID=
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    if [ -n "$BG_PID" ]; then
        kill -KILL "$BG_PID" 2>/dev/null || true
        wait "$BG_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# sprite-env must not look for a token in, or write one to, the host's state directory.
export SPRITE_HTTP_API_TOKEN=bench-token
export SPRITE_WRITE_DIR=$WORK
unset SPRITE_KEEP_ALIVE_ON_ERROR

SOCK=$WORK/api.sock
NAMES=(sprite-env tini dumb-init)
# How each init runs a command. tini gets -s (child subreaper) because sprite-env registers as one
# too when it is not PID 1, and without it tini prints a warning on every start.
init_argv() {
    case "$1" in
    sprite-env) echo "$SPRITE -listen unix:$SOCK --" ;;
    tini) echo "tini -s --" ;;
    dumb-init) echo "dumb-init --" ;;
    esac
}
init_argv_pid1() {
    case "$1" in
    sprite-env) echo "$SPRITE -listen unix:$SOCK --" ;;
    tini) echo "tini --" ;;
    dumb-init) echo "dumb-init --" ;;
    esac
}

now_ns() { date +%s%N; }

# ---- a) idle RSS ---------------------------------------------------------------------------

declare -A RSS_KIB
idle_rss() {
    local name=$1 argv pid kids deadline
    read -r -a argv <<<"$(init_argv "$name")"
    "${argv[@]}" sleep 1000 </dev/null >/dev/null 2>"$WORK/$name.idle.err" &
    BG_PID=$!
    pid=$BG_PID
    # Wait until the supervised sleep runs (it has exec'd), then let the init settle.
    deadline=$(($(now_ns) + 10000000000))
    while :; do
        kids=$(cat /proc/"$pid"/task/*/children 2>/dev/null || true)
        for k in $kids; do
            [ "$(cat /proc/"$k"/comm 2>/dev/null)" = sleep ] && break 2
        done
        [ "$(now_ns)" -lt "$deadline" ] || die "$name did not start sleep: $(cat "$WORK/$name.idle.err")"
        sleep 0.01
    done
    sleep 0.5
    RSS_KIB[$name]=$(awk '/^VmRSS:/ {print $2}' /proc/"$pid"/status)
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    BG_PID=
}

# ---- b) start and exit ---------------------------------------------------------------------

declare -A START_US
start_exit() {
    local name=$1 argv cmd t0 t1 i
    read -r -a argv <<<"$(init_argv "$name")"
    if command -v hyperfine >/dev/null; then
        cmd="$(printf '%q ' "${argv[@]}")true"
        hyperfine -N --warmup 20 --runs "$RUNS" --style none \
            --export-csv "$WORK/$name.start.csv" "$cmd" >/dev/null 2>"$WORK/$name.start.err" ||
            die "hyperfine failed for $name: $(cat "$WORK/$name.start.err")"
        # CSV: command,mean,stddev,median,user,system,min,max (seconds)
        START_US[$name]=$(awk -F, 'NR == 2 {printf "%.0f", $2 * 1e6}' "$WORK/$name.start.csv")
    else
        for ((i = 0; i < 20; i++)); do "${argv[@]}" true 2>/dev/null; done
        t0=$(now_ns)
        for ((i = 0; i < RUNS; i++)); do
            "${argv[@]}" true 2>/dev/null || die "$name -- true failed"
        done
        t1=$(now_ns)
        START_US[$name]=$(((t1 - t0) / RUNS / 1000))
    fi
}

# ---- c) reaping orphans as PID 1 ------------------------------------------------------------

declare -A REAP_MS
reap_orphans() {
    local name=$1 argv cmd t0 t1 i
    read -r -a argv <<<"$(init_argv_pid1 "$name")"
    local run=(unshare --pid --fork --mount-proc "${argv[@]}" "$ORPHAN_HELPER" -w "$ORPHANS")
    cmd=$(printf '%q ' "${run[@]}")
    # A correctness check first: the init must exit 0, so every orphan was reaped.
    timeout 60 "${run[@]}" >/dev/null 2>"$WORK/$name.reap.err" ||
        die "$name failed to reap $ORPHANS orphans: $(cat "$WORK/$name.reap.err")"
    if command -v hyperfine >/dev/null; then
        hyperfine -N --warmup 2 --runs "$REAP_RUNS" --style none \
            --export-csv "$WORK/$name.reap.csv" "$cmd" >/dev/null 2>"$WORK/$name.reap.err" ||
            die "hyperfine failed for $name: $(cat "$WORK/$name.reap.err")"
        REAP_MS[$name]=$(awk -F, 'NR == 2 {printf "%.1f", $2 * 1e3}' "$WORK/$name.reap.csv")
    else
        t0=$(now_ns)
        for ((i = 0; i < REAP_RUNS; i++)); do "${run[@]}" >/dev/null 2>&1; done
        t1=$(now_ns)
        REAP_MS[$name]=$(awk -v d=$((t1 - t0)) -v n="$REAP_RUNS" 'BEGIN {printf "%.1f", d / n / 1e6}')
    fi
}

for n in "${NAMES[@]}"; do
    echo "bench: $n: idle RSS" >&2
    idle_rss "$n"
    echo "bench: $n: start and exit ($RUNS runs)" >&2
    start_exit "$n"
    echo "bench: $n: reaping $ORPHANS orphans as PID 1 ($REAP_RUNS runs)" >&2
    reap_orphans "$n"
done

# ---- report ----------------------------------------------------------------------------------

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }

echo
echo "sprite-env: $("$SPRITE" -version)   tini: $(tini --version | awk '{print $3}')   dumb-init: $(dumb-init --version 2>&1 | awk '{print $2}')"
echo "timer: $(command -v hyperfine >/dev/null && hyperfine --version || echo 'shell loop with date +%s%N')"
echo
printf '%-34s %12s %12s %12s %14s %14s\n' metric sprite-env tini dumb-init "sprite/tini" "sprite/dumb"
printf '%-34s %12s %12s %12s %14s %14s\n' "idle RSS, sleep 1000 (KiB)" \
    "${RSS_KIB[sprite-env]}" "${RSS_KIB[tini]}" "${RSS_KIB[dumb-init]}" \
    "$(ratio "${RSS_KIB[sprite-env]}" "${RSS_KIB[tini]}")" \
    "$(ratio "${RSS_KIB[sprite-env]}" "${RSS_KIB[dumb-init]}")"
printf '%-34s %12s %12s %12s %14s %14s\n' "start+exit, -- true (us, mean)" \
    "${START_US[sprite-env]}" "${START_US[tini]}" "${START_US[dumb-init]}" \
    "$(ratio "${START_US[sprite-env]}" "${START_US[tini]}")" \
    "$(ratio "${START_US[sprite-env]}" "${START_US[dumb-init]}")"
printf '%-34s %12s %12s %12s %14s %14s\n' "reap $ORPHANS orphans as PID 1 (ms)" \
    "${REAP_MS[sprite-env]}" "${REAP_MS[tini]}" "${REAP_MS[dumb-init]}" \
    "$(ratio "${REAP_MS[sprite-env]}" "${REAP_MS[tini]}")" \
    "$(ratio "${REAP_MS[sprite-env]}" "${REAP_MS[dumb-init]}")"
echo
echo "note: sprite-env always runs its HTTP API (here on unix:$SOCK); tini and dumb-init have none."
echo "note: the reap time includes unshare, mounting /proc and forking $ORPHANS x 2 processes, the"
echo "      same for every init; the differences between the columns are the interesting part."
echo

status=0
if awk -v s="${START_US[sprite-env]}" -v t="${START_US[tini]}" 'BEGIN { exit !(s <= 2 * t) }'; then
    echo "target start+exit within 2x of tini:  PASS ($(ratio "${START_US[sprite-env]}" "${START_US[tini]}"))"
else
    echo "target start+exit within 2x of tini:  FAIL ($(ratio "${START_US[sprite-env]}" "${START_US[tini]}"))"
    status=1
fi
if [ "${RSS_KIB[sprite-env]}" -lt 4096 ]; then
    echo "target idle RSS under 4 MiB:          PASS (${RSS_KIB[sprite-env]} KiB)"
else
    echo "target idle RSS under 4 MiB:          FAIL (${RSS_KIB[sprite-env]} KiB)"
    status=1
fi
[ "${BENCH_STRICT:-0}" = 1 ] || status=0
exit $status
