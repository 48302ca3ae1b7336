#!/usr/bin/env bash
# Installs the Debian packages sprite-env needs to build, test and benchmark, and, for the
# `test` and `bench` sets, the npm packages of the end-to-end tests (tests/e2e/node: dockerode).
# Idempotent: what is already present is skipped, so `make run` and `make test` cost nothing on
# a machine that has it.
set -euo pipefail
cd "$(dirname "$0")/.."

build_pkgs=(gcc make pkg-config libjansson-dev libhttp-parser-dev zlib1g-dev libseccomp-dev libarchive-dev)
# containerd (ctr) and podman run containers with sprite-runc in the runtime tests, from a root
# filesystem made of busybox-static
test_pkgs=(libcmocka-dev python3-pytest python3-websocket python3-docker util-linux procps curl
    containerd podman busybox-static)
# Benchmarks only: tini and dumb-init (bench/init.sh), hyperfine, runc (podman's runtime in
# bench/docker.sh, and bench/runtime.sh's peer: crun does not run on our machines), supervisor
# (bench/services.sh). podman and busybox-static come with the test set.
bench_pkgs=(tini dumb-init hyperfine runc supervisor)

want=("${build_pkgs[@]}")
node=false
case "${1:-build}" in
build) ;;
test) want+=("${test_pkgs[@]}"); node=true ;;
bench) want+=("${test_pkgs[@]}" "${bench_pkgs[@]}"); node=true ;;
*) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
esac

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
updated=false

apt_install() {
    echo "deps: installing $*" >&2
    if ! $updated; then
        $sudo apt-get update -qq >/dev/null || true
        updated=true
    fi
    $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

# dockerode for tests/e2e/test_docker.py, pinned by tests/e2e/node/package.json and its lock file.
# A machine with Node.js and npm already (e.g. from nodesource) keeps them: Debian's npm is
# installed only when there is no npm at all.
if $node && [ ! -d tests/e2e/node/node_modules/dockerode ]; then
    command -v npm >/dev/null || apt_install nodejs npm
    echo "deps: npm install in tests/e2e/node" >&2
    (cd tests/e2e/node && npm install --no-audit --no-fund --silent >/dev/null)
fi
