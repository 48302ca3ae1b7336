#!/usr/bin/env bash
# `make run`: start build/sprite-env on 127.0.0.1:8080 supervising a small demo process.
# The API token is kept in build/run/api-token (made on first use) so it survives restarts.
set -euo pipefail
cd "$(dirname "$0")/.."

state=build/run
mkdir -p "$state"
chmod 700 "$state"
if [ ! -s "$state/api-token" ]; then
    (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$state/api-token")
fi
token=$(cat "$state/api-token")
addr=${SPRITE_LISTEN:-127.0.0.1:8080}

cat <<MSG
sprite-env: API on http://$addr   token: $token
  try:  curl -H "Authorization: Bearer $token" http://$addr/v1/system
        curl http://$addr/health
  stop: Ctrl-C (graceful shutdown of the demo process)
MSG

export SPRITE_HTTP_API_TOKEN="$token" SPRITE_WRITE_DIR="$PWD/$state"
exec build/sprite-env -listen "$addr" -graceful-shutdown-timeout 5s -- sh scripts/demo.sh
