#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Side-by-side benchmark of the file routes against cp. Needs root, the built binary and curl.
#
#   bench/files.sh
#
# Measures, in one run, on the same disk (a temporary directory under BENCH_DIR, /var/tmp by
# default, so not a tmpfs):
#   1) upload:   curl -T FILE (PUT /v1/files/write, streamed, over loopback TCP) vs cp FILE;
#   2) download: curl (POST /v1/files/read) into a file vs cp of the file the other way.
# Each is the best of RUNS (default 3) wall times, the page cache warm for both (the source is
# read once before). Every copy is checked with cmp. Target: both at least 0.7 of cp.
#
# Environment: BYTES (default 1073741824), RUNS (default 3), BENCH_DIR (default /var/tmp),
#              SPRITE_ENV_BIN (default build/sprite-env), BENCH_STRICT=1 to exit 1 on a miss.
set -euo pipefail

cd "$(dirname "$0")/.."

BYTES=${BYTES:-1073741824}
RUNS=${RUNS:-3}
BENCH_DIR=${BENCH_DIR:-/var/tmp}

die() {
    echo "bench: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root"
for tool in curl cp cmp head; do
    command -v "$tool" >/dev/null || die "$tool is missing"
done
make --no-print-directory all >&2
SPRITE=$(realpath "${SPRITE_ENV_BIN:-build/sprite-env}")

WORK=$(mktemp -d "$BENCH_DIR/sprite-bench-files.XXXXXX")
DAEMON_PID=
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    if [ -n "$DAEMON_PID" ]; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

now_ns() { date +%s%N; }

mkdir -p "$WORK/state" "$WORK/root" "$WORK/plain"
export SPRITE_HTTP_API_TOKEN=bench-token SPRITE_WRITE_DIR=$WORK/state
PORT=$((20000 + RANDOM % 20000))
cat >"$WORK/config.json" <<EOF
{"files": {"root": "$WORK/root"}}
EOF
"$SPRITE" -config "$WORK/config.json" -listen "127.0.0.1:$PORT" </dev/null >/dev/null \
    2>"$WORK/daemon.err" &
DAEMON_PID=$!
deadline=$(($(now_ns) + 10000000000))
until curl -s "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; do
    kill -0 "$DAEMON_PID" 2>/dev/null || die "sprite-env exited: $(cat "$WORK/daemon.err")"
    [ "$(now_ns)" -lt "$deadline" ] || die "sprite-env not ready"
    sleep 0.02
done
AUTH="Authorization: Bearer $SPRITE_HTTP_API_TOKEN"
URL="http://127.0.0.1:$PORT"

echo "bench: making a $BYTES-byte file in $WORK" >&2
head -c "$BYTES" /dev/urandom >"$WORK/src"
cat "$WORK/src" >/dev/null # warm the page cache for both sides

best_ms() { # best_ms CMD... : the best wall time of RUNS runs, in ms
    local best=0 t0 ms
    for _ in $(seq "$RUNS"); do
        t0=$(now_ns)
        "$@"
        ms=$((($(now_ns) - t0) / 1000000))
        if [ "$best" -eq 0 ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
    done
    echo "$best"
}

upload() {
    curl -sS -f -o /dev/null -H "$AUTH" -T "$WORK/src" "$URL/v1/files/write?path=/up" ||
        die "upload failed"
}
download() {
    curl -sS -f -H "$AUTH" -H 'Content-Type: application/json' -d '{"path":"/up"}' \
        -o "$WORK/down" "$URL/v1/files/read" || die "download failed"
}
cp_in() { cp "$WORK/src" "$WORK/plain/in"; }
cp_in_sync() { cp "$WORK/src" "$WORK/plain/in2" && sync -f "$WORK/plain/in2" && rm -f "$WORK/plain/in2"; }
cp_out() { cp "$WORK/plain/in" "$WORK/plain/out"; }

echo "bench: upload vs cp (best of $RUNS)" >&2
UP=$(best_ms upload)
cmp -s "$WORK/src" "$WORK/root/up" || die "the uploaded file differs"
CPIN=$(best_ms cp_in)
CPSYNC=$(best_ms cp_in_sync)
echo "bench: download vs cp (best of $RUNS)" >&2
DOWN=$(best_ms download)
cmp -s "$WORK/src" "$WORK/down" || die "the downloaded file differs"
CPOUT=$(best_ms cp_out)

rate() { awk -v b="$BYTES" -v ms="$1" 'BEGIN { printf "%.0f", b / 1048576 / (ms / 1000) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; } # cp time / our time

echo
echo "sprite-env: $("$SPRITE" -version)   kernel: $(uname -r)   cpus: $(nproc)   disk: $(df -PT "$WORK" | awk 'NR==2 {print $2}')"
echo
printf '%-36s %12s %12s %8s\n' "metric (MiB/s, best of $RUNS)" sprite-env cp ratio
printf '%-36s %12s %12s %8s\n' "upload $BYTES bytes" "$(rate "$UP")" "$(rate "$CPIN")" \
    "$(ratio "$UP" "$CPIN")"
printf '%-36s %12s %12s %8s\n' "  (cp followed by sync, as durable)" "" "$(rate "$CPSYNC")" \
    "$(ratio "$UP" "$CPSYNC")"
printf '%-36s %12s %12s %8s\n' "download $BYTES bytes" "$(rate "$DOWN")" "$(rate "$CPOUT")" \
    "$(ratio "$DOWN" "$CPOUT")"
echo
echo "note: upload is curl -T over loopback TCP into PUT /v1/files/write (a temp file, fsync,"
echo "      rename); download is POST /v1/files/read into a file; cp copies on the same disk."
echo "      The upload's fsync is part of its time; cp does not sync."
echo

fail=0
check() {
    local what=$1 r=$2
    if awk -v r="$r" 'BEGIN { exit !(r >= 0.7) }'; then
        printf 'target %-34s PASS (%s)\n' "$what at least 0.7 of cp:" "$r"
    else
        printf 'target %-34s FAIL (%s)\n' "$what at least 0.7 of cp:" "$r"
        fail=1
    fi
}
check upload "$(ratio "$UP" "$CPIN")"
check download "$(ratio "$DOWN" "$CPOUT")"
[ "${BENCH_STRICT:-0}" = 1 ] && [ "$fail" = 1 ] && exit 1
exit 0
