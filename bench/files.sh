#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Side-by-side benchmark of the file routes against cp. Needs root, the built binary, curl, gcc.
#
#   bench/files.sh
#
# Measures, in one run, on the same disk (a temporary directory under BENCH_DIR, /var/tmp by
# default, so not a tmpfs):
#   1) upload:   PUT /v1/files/write (streamed, over loopback TCP) vs cp FILE;
#   2) download: POST /v1/files/read into a file vs cp of the file the other way;
# each with two clients: bench/zcopy.c (copies nothing through user space: measures the daemon)
# and curl (what a user types). Each is the best of RUNS (default 5) wall times, the kinds taking
# turns, each started after a sync (so none waits behind what another left dirty), the page cache
# warm (the source is read once before). Every copy is checked with cmp.
# Target: both at least 0.7 of cp, with zcopy.
#
# Environment: BYTES (default 1073741824), RUNS (default 5), BENCH_VERBOSE=1 to print every run, BENCH_DIR (default /var/tmp),
#              SPRITE_ENV_BIN (default build/sprite-env), BENCH_STRICT=1 to exit 1 on a miss.
set -euo pipefail

cd "$(dirname "$0")/.."

BYTES=${BYTES:-1073741824}
RUNS=${RUNS:-5}
BENCH_DIR=${BENCH_DIR:-/var/tmp}

die() {
    echo "bench: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root"
for tool in curl cp cmp head gcc; do
    command -v "$tool" >/dev/null || die "$tool is missing"
done
make --no-print-directory all >&2
SPRITE=$(realpath "${SPRITE_ENV_BIN:-build/sprite-env}")

WORK=$(mktemp -d "$BENCH_DIR/sprite-bench-files.XXXXXX")
DAEMON_PID=
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    # shellcheck disable=SC2086  # a list of pids
    [ -z "${MIN_PIDS:-}" ] || kill $MIN_PIDS 2>/dev/null || true
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
gcc -O2 -o "$WORK/zcopy" bench/zcopy.c || die "cannot compile bench/zcopy.c"
# the least an upload server can do over the same loopback, durable or not, for scale
MIN_PORT=$((PORT + 1))
MIN_NOSYNC_PORT=$((PORT + 2))
"$WORK/zcopy" serve "$MIN_PORT" "$WORK/plain/min" sync &
MIN_PIDS="$!"
"$WORK/zcopy" serve "$MIN_NOSYNC_PORT" "$WORK/plain/min-nosync" nosync &
MIN_PIDS="$MIN_PIDS $!"
for port in "$MIN_PORT" "$MIN_NOSYNC_PORT"; do # listening before they are timed
    deadline=$(($(now_ns) + 10000000000))
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        [ "$(now_ns)" -lt "$deadline" ] || die "zcopy serve on port $port not ready"
        sleep 0.02
    done
done

ms_of() { # ms_of DEST CMD... : the wall time of CMD writing the new file DEST, in ms
    local t0 dest=$1
    shift
    # A sync first writes what earlier runs left dirty, so it is not written during (or in the
    # fsync of) this one. Then every run writes a file that does not exist yet, as an upload
    # does (its temp file), and no run frees an old copy inside its time. The last copy is
    # removed just before, so each run finds the same memory free to reuse (on a VM that hands
    # free memory back to its host, memory free for long costs a fault there on first touch).
    sync
    rm -f "$dest"
    t0=$(now_ns)
    "$@"
    echo $((($(now_ns) - t0) / 1000000))
}

up_z() { "$WORK/zcopy" put "127.0.0.1:$PORT" "$SPRITE_HTTP_API_TOKEN" /up "$WORK/src" || die "upload failed"; }
down_z() { "$WORK/zcopy" get "127.0.0.1:$PORT" "$SPRITE_HTTP_API_TOKEN" /up "$WORK/down" || die "download failed"; }
up_curl() {
    curl -sS -f -o /dev/null -H "$AUTH" -T "$WORK/src" "$URL/v1/files/write?path=/up" ||
        die "upload failed"
}
down_curl() {
    curl -sS -f -H "$AUTH" -H 'Content-Type: application/json' -d '{"path":"/up"}' \
        -o "$WORK/down" "$URL/v1/files/read" || die "download failed"
}
up_min() { "$WORK/zcopy" put "127.0.0.1:$MIN_PORT" - /up "$WORK/src" || die "upload (minimal server) failed"; }
up_min_nosync() { "$WORK/zcopy" put "127.0.0.1:$MIN_NOSYNC_PORT" - /up "$WORK/src" || die "upload (minimal server) failed"; }
curl_local() { curl -sS -f -o "$WORK/plain/curl" "file://$WORK/src"; }
cp_in() { cp "$WORK/src" "$WORK/plain/in"; }
cp_in_sync() { cp "$WORK/src" "$WORK/plain/in2" && sync -f "$WORK/plain/in2"; }
cp_out() { cp "$WORK/plain/in" "$WORK/plain/out"; }

# The runs of every kind take turns (one of each per round), so a slow moment of the machine
# (this kind of VM has many: its memory and disk are the host's) does not fall on one side only;
# each figure is the best of its RUNS.
declare -A BEST
keep() { # keep NAME MS
    [ "${BENCH_VERBOSE:-0}" = 1 ] && echo "bench: $1 $2 ms" >&2
    if [ -z "${BEST[$1]:-}" ] || [ "$2" -lt "${BEST[$1]}" ]; then BEST[$1]=$2; fi
}
echo "bench: $RUNS rounds of: upload (zcopy, curl), cp in (+ sync), download (zcopy, curl), cp out" >&2
for _ in $(seq "$RUNS"); do
    keep up_z "$(ms_of "$WORK/root/up" up_z)"
    cmp -s "$WORK/src" "$WORK/root/up" || die "the uploaded file differs"
    keep cp_in "$(ms_of "$WORK/plain/in" cp_in)"
    keep cp_in_sync "$(ms_of "$WORK/plain/in2" cp_in_sync)"
    keep up_curl "$(ms_of "$WORK/root/up" up_curl)"
    keep up_min "$(ms_of "$WORK/plain/min" up_min)"
    keep up_min_nosync "$(ms_of "$WORK/plain/min-nosync" up_min_nosync)"
    cmp -s "$WORK/src" "$WORK/root/up" || die "the uploaded file differs (curl)"
    keep down_z "$(ms_of "$WORK/down" down_z)"
    cmp -s "$WORK/src" "$WORK/down" || die "the downloaded file differs"
    keep cp_out "$(ms_of "$WORK/plain/out" cp_out)"
    keep down_curl "$(ms_of "$WORK/down" down_curl)"
    cmp -s "$WORK/src" "$WORK/down" || die "the downloaded file differs (curl)"
    keep curl_local "$(ms_of "$WORK/plain/curl" curl_local)"
done

rate() { awk -v b="$BYTES" -v ms="$1" 'BEGIN { printf "%.0f", b / 1048576 / (ms / 1000) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; } # cp time / our time

echo
echo "sprite-env: $("$SPRITE" -version)   kernel: $(uname -r)   cpus: $(nproc)   disk: $(df -PT "$WORK" | awk 'NR==2 {print $2}')"
echo
printf '%-44s %12s %12s %8s\n' "metric (MiB/s, best of $RUNS)" sprite-env cp ratio
row() { printf '%-44s %12s %12s %8s\n' "$1" "$(rate "${BEST[$2]}")" "$(rate "${BEST[$3]}")" \
    "$(ratio "${BEST[$2]}" "${BEST[$3]}")"; }
row "upload $BYTES bytes (zcopy client)" up_z cp_in
row "  the same against cp + sync (durable)" up_z cp_in_sync
row "  a minimal splice server (fsync, rename)" up_min cp_in
row "  a minimal splice server, no fsync" up_min_nosync cp_in
row "download $BYTES bytes (zcopy client)" down_z cp_out
row "upload $BYTES bytes (curl -T)" up_curl cp_in
row "download $BYTES bytes (curl -o)" down_curl cp_out
row "  curl file:// -> file, no server at all" curl_local cp_out
echo
echo "note: upload is PUT /v1/files/write with a Content-Length over loopback TCP (the daemon"
echo "      splices it from the socket into a temp file, then fsync and rename: the fsync is in"
echo "      its time, cp does not sync); download is POST /v1/files/read (sendfile) into a file."
echo "      zcopy (bench/zcopy.c) is a client that copies nothing through user space (sendfile"
echo "      up, splice down), so its rows measure the daemon; curl's rows add curl's own copies"
echo "      (its 'file://' row is the most curl does with no server in the way). The minimal"
echo "      servers (zcopy serve) do nothing but splice the body into a file (then fsync and"
echo "      rename, or not): the most any server can do over this loopback, for scale."
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
check upload "$(ratio "${BEST[up_z]}" "${BEST[cp_in]}")"
check download "$(ratio "${BEST[down_z]}" "${BEST[cp_out]}")"
[ "${BENCH_STRICT:-0}" = 1 ] && [ "$fail" = 1 ] && exit 1
exit 0
