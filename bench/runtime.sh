#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Side-by-side benchmark of sprite-runc (build/sprite-runc, sprite-env under runc's command line)
# against Debian's runc, on the same bundles, in one run. Needs root, the built binary, runc and
# busybox-static (`scripts/deps.sh bench`), python3 (stdlib only, to write the configs and read
# hyperfine's results); hyperfine is used when present. Run from anywhere:
#
#   bench/runtime.sh         # or: make bench
#
# Set-up, all in one temporary directory: a root filesystem made of Debian's static busybox
# (rootfs/bin/busybox and a relative symlink rootfs/bin/APPLET -> busybox for every applet of
# `busybox --list`), and bundles whose config.json all come from one `runc spec`, changed only in
# process.terminal = false, root.readonly = true, root.path = the rootfs (absolute: runc refuses a
# symlinked rootfs, so the bundles share it by path) and process.args. Each runtime keeps its
# state in its own --root directory there. cgroupsPath is left unset, so each runtime puts a
# container in its default cgroup (runc: ID under the caller's own cgroup of each hierarchy,
# sprite-runc: /sprite/ID); every container id starts with a tag unique to the run (sbr-XXXXXX),
# so that the exit trap finds them and their cgroups.
# Before anything is timed, both runtimes must `run` a bundle whose process is `echo ok` (printing
# "ok", status 0), and the container must be gone afterwards (`state` fails, `list -q` does not
# show it): `run` deletes its container when the process has exited. If either runtime left it,
# the timed `run`s of BOTH runtimes are followed by `delete ID` inside the timed interval (the
# report says so).
#
# Measures (wall time of one whole invocation of the runtime's command line, fork and exec of it
# included):
#   a) run: `RT --root R run --bundle B ID-N` of the bundle whose process is `true`, a new
#      container id for every run: create (namespaces, mounts, pivot_root, cgroups), start, wait
#      for `true`, delete.
#   b) exec: `RT --root R exec ID true N` into a running container (its own bundle, process
#      `sleep 1000000`, started with `run -d` before the timing, one per runtime): join its
#      namespaces and cgroups, run `true` (busybox ignores the argument N, which is there only so
#      that hyperfine sees a parameter), wait for it.
#   Runs interleave in ABBA rounds (runc, sprite-runc, sprite-runc, runc), so that drift of the
#   machine hits both alike, after WARMUP untimed rounds; RUNS is rounded up to even. With
#   hyperfine (-N: no shell, its own timer, output discarded) each run is a one-run benchmark of a
#   parameter scan; without it (or with HYPERFINE=0), a bash loop with $EPOCHREALTIME read just
#   before and just after the command (microseconds; no fork of `date` inside the interval).
#   Every run must exit 0, or the benchmark stops.
#   c) the binary's size: `ls -L` size of build/sprite-env (sprite-runc is a link to it) and of
#      runc, and their sizes stripped (`strip -o` a copy; Debian's runc is stripped already,
#      build/sprite-env carries debug info). Both are dynamically linked; their shared libraries
#      (`ldd`) do not count.
#   d) RSS at the moment the user program starts: `RT --root R create --pid-file P --bundle B ID`
#      of a bundle whose process is `sleep 5`. In the "created" state the container's init (the
#      pid in P, already in the container's namespaces and cgroups, with the rootfs pivoted to) is
#      blocked on the exec fifo until `start`; its next step would be execve of the user program.
#      Its VmRSS (and RssAnon / RssFile) from /proc/PID/status then is the runtime's memory in the
#      container just before the program starts: runc's is `runc init` (the Go runtime, re-executed
#      from the runc binary), sprite-runc's is a fork of the `create` process. The state is checked
#      ("created", the process not yet `sleep`); then `delete --force`. RSS_RUNS samples of each,
#      interleaved; the medians are printed.
#
# Ratios are sprite-runc / runc: below 1 is better for sprite-runc.
# Targets checked at the end: run and exec latency each at most 0.3 of runc's (means).
#
# The exit trap (also on Ctrl-C) deletes with --force every container either runtime still lists
# under its --root, kills what is still in a cgroup of this run's tag, removes those cgroups and
# the temporary directory.
#
# Environment: RUNS (timed runs of each runtime for run and for exec, default 200), WARMUP (untimed
#              ABBA rounds, default 5), RSS_RUNS (default 5), HYPERFINE=0 to use the bash loop,
#              SPRITE_RUNC_BIN (default build/sprite-runc; a path whose name is sprite-runc),
#              RUNC_BIN (default runc on PATH),
#              BENCH_STRICT=1 to exit 1 when a target is missed (default: report only).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

RUNS=${RUNS:-200}
WARMUP=${WARMUP:-5}
RSS_RUNS=${RSS_RUNS:-5}

die() {
    echo "bench: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer"
[[ $RSS_RUNS =~ ^[1-9][0-9]*$ ]] || die "RSS_RUNS must be a positive integer"
for tool in python3 busybox strip findmnt; do
    command -v "$tool" >/dev/null || die "$tool is missing (scripts/deps.sh bench)"
done
RUNC=${RUNC_BIN:-$(command -v runc || true)}
if [ -z "$RUNC" ] || [ ! -x "$RUNC" ]; then die "runc is missing (scripts/deps.sh bench)"; fi
USE_HYPERFINE=0
if [ "${HYPERFINE:-1}" != 0 ] && command -v hyperfine >/dev/null; then USE_HYPERFINE=1; fi
# The rootfs gets a copy of busybox, so it must be busybox-static's (a dynamic one would not run
# there); the `echo ok` check below shows that it does.
BUSYBOX=$(command -v busybox)

make --no-print-directory all >&2
# Not realpath: the program picks runc's command line by the name it is called by.
SPRITE=${SPRITE_RUNC_BIN:-$ROOT/build/sprite-runc}
[ -x "$SPRITE" ] || die "$SPRITE was not built"
[ "$(basename "$SPRITE")" = sprite-runc ] || die "SPRITE_RUNC_BIN must be named sprite-runc"

WORK=$(mktemp -d /tmp/sprite-bench-runtime.XXXXXX)
TAG=sbr-${WORK##*.} # prefix of every container id (and so of every cgroup) of this run
HF_PID=

NAMES=(runc sprite)
declare -A RT=([runc]=$RUNC [sprite]=$SPRITE)
declare -A RTROOT=([runc]=$WORK/root-runc [sprite]=$WORK/root-sprite)
declare -A LABEL=([runc]=runc [sprite]=sprite-runc)

rt() { # name args...: the runtime NAME with its --root
    local n=$1
    shift
    "${RT[$n]}" --root "${RTROOT[$n]}" "$@"
}

# shellcheck disable=SC2317  # called by cleanup
cgroup_dirs() { # every cgroup directory of this run, deepest first
    find /sys/fs/cgroup -maxdepth 8 -depth -type d -name "$TAG-*" 2>/dev/null || true
}

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    local n id d pid i left m kids
    set +e
    if [ -n "$HF_PID" ]; then
        # hyperfine, then the runtime command it was timing (which may be making a container)
        kids=$(cat /proc/"$HF_PID"/task/*/children 2>/dev/null)
        kill -TERM "$HF_PID" 2>/dev/null
        wait "$HF_PID" 2>/dev/null
        for pid in $kids; do
            for ((i = 0; i < 100; i++)); do
                [ -e /proc/"$pid" ] || break
                [ "$(awk '{print $3}' /proc/"$pid"/stat 2>/dev/null)" != Z ] || break
                sleep 0.1
            done
        done
    fi
    for n in "${NAMES[@]}"; do
        [ -d "${RTROOT[$n]}" ] || continue
        for id in $(rt "$n" list -q 2>/dev/null); do
            timeout 30 "${RT[$n]}" --root "${RTROOT[$n]}" delete --force "$id" >/dev/null 2>&1 ||
                echo "bench: ${LABEL[$n]} delete --force $id failed" >&2
        done
    done
    # Whatever is left in this run's cgroups (a runtime that failed to delete its container).
    for ((i = 0; i < 50; i++)); do
        left=0
        while read -r d; do
            while read -r pid; do
                [ -n "$pid" ] || continue
                kill -KILL "$pid" 2>/dev/null && left=1
            done <"$d/cgroup.procs"
        done < <(cgroup_dirs)
        [ "$left" = 0 ] && break
        sleep 0.1
    done
    while read -r d; do
        rmdir "$d" 2>/dev/null || echo "bench: could not remove cgroup $d" >&2
    done < <(cgroup_dirs)
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

# ---- root filesystem and bundles --------------------------------------------------------------

echo "bench: building the busybox rootfs and the bundles in $WORK" >&2
RFS=$WORK/rootfs
mkdir -p "$RFS/bin" "$RFS/dev" "$RFS/proc" "$RFS/sys" "$RFS/tmp" "$RFS/etc" "$RFS/root" \
    "${RTROOT[runc]}" "${RTROOT[sprite]}"
cp "$BUSYBOX" "$RFS/bin/busybox"
while read -r applet; do
    [ "$applet" = busybox ] || ln -s busybox "$RFS/bin/$applet"
done < <("$BUSYBOX" --list)
for applet in true echo sleep; do
    [ -e "$RFS/bin/$applet" ] || die "$BUSYBOX has no $applet"
done

mkdir -p "$WORK/spec"
(cd "$WORK/spec" && "$RUNC" spec) || die "runc spec failed"
# bundle dir, then process.args
make_bundle() {
    mkdir -p "$1"
    python3 - "$WORK/spec/config.json" "$RFS" "$1/config.json" "${@:2}" <<'EOF'
import json, sys
spec, rootfs, out, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
with open(spec) as f:
    c = json.load(f)
c["process"]["terminal"] = False
c["process"]["args"] = args
c["root"] = {"path": rootfs, "readonly": True}
with open(out, "w") as f:
    json.dump(c, f, indent=2)
EOF
}
make_bundle "$WORK/b-true" true
make_bundle "$WORK/b-check" echo ok
make_bundle "$WORK/b-sleep" sleep 1000000
make_bundle "$WORK/b-rss" sleep 5

# ---- correctness: both run the same config, and run deletes its container ---------------------

DELETE_IN_LOOP=0
for n in "${NAMES[@]}"; do
    id=$TAG-check-$n
    out=$(rt "$n" run --bundle "$WORK/b-check" "$id" </dev/null 2>"$WORK/check.err") ||
        die "${LABEL[$n]} run of 'echo ok' failed (exit $?): $(cat "$WORK/check.err")"
    [ "$out" = ok ] || die "${LABEL[$n]} run of 'echo ok' printed '$out', expected 'ok'"
    if rt "$n" state "$id" >/dev/null 2>&1 || rt "$n" list -q 2>/dev/null | grep -qx "$id"; then
        echo "bench: ${LABEL[$n]}: run left container $id behind; timed runs will delete" >&2
        DELETE_IN_LOOP=1
        rt "$n" delete --force "$id" >/dev/null 2>&1 || die "${LABEL[$n]} delete $id failed"
    fi
done
if [ "$DELETE_IN_LOOP" = 1 ] && [ "$USE_HYPERFINE" = 1 ]; then
    echo "bench: run + delete is two commands: using the bash loop instead of hyperfine" >&2
    USE_HYPERFINE=0
fi

# The containers exec goes into.
for n in "${NAMES[@]}"; do
    rt "$n" run -d --bundle "$WORK/b-sleep" "$TAG-exec-$n" </dev/null >/dev/null \
        2>"$WORK/exec.err" || die "${LABEL[$n]} run -d failed: $(cat "$WORK/exec.err")"
    out=$(rt "$n" exec "$TAG-exec-$n" echo ok </dev/null 2>"$WORK/exec.err") ||
        die "${LABEL[$n]} exec echo ok failed (exit $?): $(cat "$WORK/exec.err")"
    [ "$out" = ok ] || die "${LABEL[$n]} exec of 'echo ok' printed '$out', expected 'ok'"
done

# ---- a) and b): the timed runs ------------------------------------------------------------------

ROUNDS=$(((RUNS + 1) / 2)) # ABBA: each round is 2 runs of each runtime
RUNS=$((2 * ROUNDS))

# argv of one run (name, kind, suffix), one word a line
run_argv() {
    local n=$1 kind=$2 s=$3
    case "$kind" in
    run) printf '%s\n' "${RT[$n]}" --root "${RTROOT[$n]}" run --bundle "$WORK/b-true" "$TAG-run-$n-$s" ;;
    exec) printf '%s\n' "${RT[$n]}" --root "${RTROOT[$n]}" exec "$TAG-exec-$n" true "$s" ;;
    esac
}

us_now() { echo "${EPOCHREALTIME/./}"; }

# One run, timed when FILE is not empty (microseconds appended); a failure is fatal.
loop_one() { # file name kind suffix
    local file=$1 n=$2 kind=$3 s=$4 t0 t1 argv
    mapfile -t argv < <(run_argv "$n" "$kind" "$s")
    t0=$(us_now)
    "${argv[@]}" </dev/null >/dev/null 2>"$WORK/last.err" ||
        die "${argv[*]} failed (exit $?): $(cat "$WORK/last.err")"
    # Both runtimes get the delete, also the one whose run deleted the container itself (its
    # delete then fails: "does not exist"); the containers left are counted after the runs.
    if [ "$kind" = run ] && [ "$DELETE_IN_LOOP" = 1 ]; then
        "${RT[$n]}" --root "${RTROOT[$n]}" delete "$TAG-run-$n-$s" >/dev/null 2>&1 || true
    fi
    t1=$(us_now)
    [ -z "$file" ] || echo $((t1 - t0)) >>"$file"
}

time_kind() { # kind: fills $WORK/t.KIND.runc and $WORK/t.KIND.sprite (microseconds a line)
    local kind=$1 i n cmd cmds=()
    : >"$WORK/t.$kind.runc"
    : >"$WORK/t.$kind.sprite"
    for ((i = 0; i < WARMUP; i++)); do
        for n in runc sprite sprite runc; do loop_one "" "$n" "$kind" "w$i-$RANDOM"; done
    done
    if [ "$USE_HYPERFINE" = 1 ]; then
        # hyperfine splits a command like a shell does: each word quoted, then the parameter
        # {n} put in place of a marker (printf %q would quote its braces)
        for n in runc:a sprite:a sprite:b runc:b; do
            cmd=$(mapfile -t a < <(run_argv "${n%:*}" "$kind" SFXMARK) && printf '%q ' "${a[@]}")
            cmds+=("${cmd//SFXMARK/\{n\}${n#*:}}")
        done
        # in the background, so that a signal is handled at once (bash runs a trap only once
        # the foreground command has ended); the trap stops it
        hyperfine -N --runs 1 --warmup 0 --style none -L n "$(seq -s, 1 "$ROUNDS")" \
            --export-json "$WORK/$kind.json" "${cmds[@]}" </dev/null >/dev/null \
            2>"$WORK/$kind.hf.err" &
        HF_PID=$!
        wait "$HF_PID" || die "hyperfine ($kind) failed: $(cat "$WORK/$kind.hf.err")"
        HF_PID=
        # each result's command tells the runtime by its --root
        python3 - "$WORK/$kind.json" "${RTROOT[runc]}" "$WORK/t.$kind.runc" "${RTROOT[sprite]}" \
            "$WORK/t.$kind.sprite" <<'EOF'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
outs = {"--root %s " % sys.argv[2]: open(sys.argv[3], "w"),
        "--root %s " % sys.argv[4]: open(sys.argv[5], "w")}
for r in res:
    (f,) = [f for root, f in outs.items() if root in r["command"]]
    for t in r["times"]:
        f.write("%d\n" % round(t * 1e6))
EOF
    else
        for ((i = 1; i <= ROUNDS; i++)); do
            loop_one "$WORK/t.$kind.runc" runc "$kind" "${i}a"
            loop_one "$WORK/t.$kind.sprite" sprite "$kind" "${i}a"
            loop_one "$WORK/t.$kind.sprite" sprite "$kind" "${i}b"
            loop_one "$WORK/t.$kind.runc" runc "$kind" "${i}b"
        done
    fi
    for n in runc sprite; do
        [ "$(grep -c . "$WORK/t.$kind.$n")" = "$RUNS" ] || die "$kind: expected $RUNS times of ${LABEL[$n]}"
    done
}

echo "bench: run of 'true': $WARMUP warm-up + $ROUNDS timed ABBA rounds ($RUNS runs each)" >&2
time_kind run
# run must have deleted every container it made, and its cgroups
declare -A LEFT_RUN LEFT_CG
for n in "${NAMES[@]}"; do
    LEFT_RUN[$n]=$(rt "$n" list -q 2>/dev/null | grep -c -- "^$TAG-run-" || true)
    LEFT_CG[$n]=$(find /sys/fs/cgroup -maxdepth 8 -type d -name "$TAG-run-$n-*" 2>/dev/null |
        grep -c . || true)
done
echo "bench: exec of 'true': $WARMUP warm-up + $ROUNDS timed ABBA rounds ($RUNS runs each)" >&2
time_kind exec

# ---- d) RSS of the container's init in the created state ---------------------------------------

# one sample: prints "VmRSS RssAnon RssFile Threads" (KiB)
rss_sample() {
    local n=$1 id=$2 pid status comm
    rt "$n" create --pid-file "$WORK/$id.pid" --bundle "$WORK/b-rss" "$id" </dev/null \
        >/dev/null 2>"$WORK/rss.err" || die "${LABEL[$n]} create failed: $(cat "$WORK/rss.err")"
    pid=$(cat "$WORK/$id.pid")
    [[ $pid =~ ^[0-9]+$ ]] || die "${LABEL[$n]} wrote no pid to --pid-file"
    status=$(rt "$n" state "$id" | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])')
    [ "$status" = created ] || die "${LABEL[$n]}: $id is '$status', expected 'created'"
    comm=$(cat /proc/"$pid"/comm)
    [ "$comm" != sleep ] || die "${LABEL[$n]}: the init of $id has already exec'd sleep"
    awk '/^VmRSS:/ {r = $2} /^RssAnon:/ {a = $2} /^RssFile:/ {f = $2} /^Threads:/ {t = $2}
         END {print r, a, f, t}' /proc/"$pid"/status
    rt "$n" delete --force "$id" >/dev/null 2>"$WORK/rss.err" ||
        die "${LABEL[$n]} delete --force $id failed: $(cat "$WORK/rss.err")"
}

echo "bench: RSS of the init in the created state ($RSS_RUNS samples each)" >&2
for ((i = 0; i < RSS_RUNS; i++)); do
    if ((i % 2 == 0)); then order=(runc sprite); else order=(sprite runc); fi
    for n in "${order[@]}"; do rss_sample "$n" "$TAG-rss-$n-$i" >>"$WORK/rss.$n"; done
done
median_col() { # file column
    awk -v c="$2" '{print $c}' "$1" | sort -n | awk '{ v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
declare -A RSS ANON FILE THREADS
for n in "${NAMES[@]}"; do
    RSS[$n]=$(median_col "$WORK/rss.$n" 1)
    ANON[$n]=$(median_col "$WORK/rss.$n" 2)
    FILE[$n]=$(median_col "$WORK/rss.$n" 3)
    THREADS[$n]=$(median_col "$WORK/rss.$n" 4)
done

# ---- c) binary size -----------------------------------------------------------------------------

SPRITE_FILE=$(realpath "$SPRITE")
RUNC_FILE=$(realpath "$RUNC")
SIZE_SPRITE=$(stat -L -c %s "$SPRITE")
SIZE_RUNC=$(stat -L -c %s "$RUNC")
strip -o "$WORK/sprite.stripped" "$SPRITE_FILE" || die "strip of $SPRITE_FILE failed"
strip -o "$WORK/runc.stripped" "$RUNC_FILE" || die "strip of $RUNC_FILE failed"
SSIZE_SPRITE=$(stat -c %s "$WORK/sprite.stripped")
SSIZE_RUNC=$(stat -c %s "$WORK/runc.stripped")

# ---- report -----------------------------------------------------------------------------------

# mean, median, min, max in milliseconds of a file of microseconds
stats() {
    sort -n "$1" | awk '{ v[NR] = $1; s += $1 }
        END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%.2f %.2f %.2f %.2f\n", s / NR / 1000, m / 1000, v[1] / 1000, v[NR] / 1000 }'
}
read -r RUN_R_MEAN RUN_R_MED RUN_R_MIN RUN_R_MAX < <(stats "$WORK/t.run.runc")
read -r RUN_S_MEAN RUN_S_MED RUN_S_MIN RUN_S_MAX < <(stats "$WORK/t.run.sprite")
read -r EX_R_MEAN EX_R_MED EX_R_MIN EX_R_MAX < <(stats "$WORK/t.exec.runc")
read -r EX_S_MEAN EX_S_MED EX_S_MIN EX_S_MAX < <(stats "$WORK/t.exec.sprite")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
kib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1024 }'; }

echo
echo "sprite-runc: $("$SPRITE" --version 2>/dev/null | head -1)"
echo "runc: $("$RUNC" --version 2>/dev/null | head -1) ($RUNC_FILE)"
if [ "$USE_HYPERFINE" = 1 ]; then TIMER=$(hyperfine --version); else TIMER="bash loop, \$EPOCHREALTIME"; fi
echo "timer: $TIMER   kernel: $(uname -r)   cpus: $(nproc)"
echo
printf '%-38s %17s %17s %8s\n' "metric" sprite-runc runc ratio
printf '%-38s %17s %17s %8s\n' "run 'true' (ms, $RUNS runs), mean" "$RUN_S_MEAN" "$RUN_R_MEAN" \
    "$(ratio "$RUN_S_MEAN" "$RUN_R_MEAN")"
printf '%-38s %17s %17s %8s\n' "run 'true', median" "$RUN_S_MED" "$RUN_R_MED" \
    "$(ratio "$RUN_S_MED" "$RUN_R_MED")"
printf '%-38s %17s %17s %8s\n' "run 'true', min / max" "$RUN_S_MIN / $RUN_S_MAX" \
    "$RUN_R_MIN / $RUN_R_MAX" ""
printf '%-38s %17s %17s %8s\n' "exec 'true' (ms, $RUNS runs), mean" "$EX_S_MEAN" "$EX_R_MEAN" \
    "$(ratio "$EX_S_MEAN" "$EX_R_MEAN")"
printf '%-38s %17s %17s %8s\n' "exec 'true', median" "$EX_S_MED" "$EX_R_MED" \
    "$(ratio "$EX_S_MED" "$EX_R_MED")"
printf '%-38s %17s %17s %8s\n' "exec 'true', min / max" "$EX_S_MIN / $EX_S_MAX" \
    "$EX_R_MIN / $EX_R_MAX" ""
printf '%-38s %17s %17s %8s\n' "binary size (KiB)" "$(kib "$SIZE_SPRITE")" "$(kib "$SIZE_RUNC")" \
    "$(ratio "$SIZE_SPRITE" "$SIZE_RUNC")"
printf '%-38s %17s %17s %8s\n' "binary size, stripped (KiB)" "$(kib "$SSIZE_SPRITE")" \
    "$(kib "$SSIZE_RUNC")" "$(ratio "$SSIZE_SPRITE" "$SSIZE_RUNC")"
printf '%-38s %17s %17s %8s\n' "init VmRSS when created (KiB, median)" "${RSS[sprite]}" \
    "${RSS[runc]}" "$(ratio "${RSS[sprite]}" "${RSS[runc]}")"
printf '%-38s %17s %17s %8s\n' "  of which RssAnon / RssFile (KiB)" \
    "${ANON[sprite]} / ${FILE[sprite]}" "${ANON[runc]} / ${FILE[runc]}" ""
printf '%-38s %17s %17s %8s\n' "  threads of the init" "${THREADS[sprite]}" "${THREADS[runc]}" ""
echo
echo "note: a time is the wall time of one whole runtime invocation, its fork and exec included;"
echo "      runs interleave runc, sprite-runc, sprite-runc, runc; $WARMUP warm-up rounds."
if [ "$DELETE_IN_LOOP" = 1 ]; then
    echo "note: a runtime's run left its container behind, so every timed run (both runtimes)"
    echo "      includes 'delete ID' after it."
else
    echo "note: run deleted its container by itself for both runtimes (checked before timing)."
fi
echo "note: left after the timed runs: containers sprite-runc ${LEFT_RUN[sprite]}, runc" \
    "${LEFT_RUN[runc]}; cgroup dirs sprite-runc ${LEFT_CG[sprite]}, runc ${LEFT_CG[runc]}."
echo "note: cgroups: each runtime's default, no cgroupsPath (runc: ID under the caller's cgroup,"
echo "      sprite-runc: /sprite/ID)."
echo "note: the sizes are of the files (sprite-runc is a link to $SPRITE_FILE), shared"
echo "      libraries not counted; the RSS is of the container's init blocked on the exec fifo"
echo "      after 'create', just before it would exec the program."
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
check "run latency at most 0.3 of runc" \
    "$(awk -v s="$RUN_S_MEAN" -v r="$RUN_R_MEAN" 'BEGIN { print (s <= 0.3 * r) ? 1 : 0 }')" \
    "$(ratio "$RUN_S_MEAN" "$RUN_R_MEAN")"
check "exec latency at most 0.3 of runc" \
    "$(awk -v s="$EX_S_MEAN" -v r="$EX_R_MEAN" 'BEGIN { print (s <= 0.3 * r) ? 1 : 0 }')" \
    "$(ratio "$EX_S_MEAN" "$EX_R_MEAN")"
[ "${BENCH_STRICT:-0}" = 1 ] || status=0
exit $status
