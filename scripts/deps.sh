#!/usr/bin/env bash
# Installs the Debian packages sprite-env needs to build, test and benchmark.
# Idempotent: packages already present are skipped, so `make run` and `make test`
# cost nothing on a machine that has them.
set -euo pipefail

build_pkgs=(gcc make pkg-config libjansson-dev libhttp-parser-dev)
test_pkgs=(libcmocka-dev python3-pytest python3-websocket util-linux procps curl)
# podman (its Docker-compatible service), runc and busybox-static (the container's root
# filesystem) are bench/docker.sh's peer; runc because crun does not run on our machines.
bench_pkgs=(tini dumb-init hyperfine podman runc busybox-static)

want=("${build_pkgs[@]}")
case "${1:-build}" in
build) ;;
test) want+=("${test_pkgs[@]}") ;;
bench) want+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
*) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null || true
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
