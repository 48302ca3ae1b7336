#!/bin/sh
# The demo main process of `make run`: prints a heartbeat and stops cleanly on SIGTERM/SIGINT.
sleeper=
stop() {
    echo "demo: got $1, exiting"
    [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
    exit 0
}
trap 'stop SIGTERM' TERM
trap 'stop SIGINT' INT
trap 'echo "demo: got SIGHUP"' HUP
echo "demo: started as pid $$ under sprite-env"
n=0
while :; do
    n=$((n + 1))
    echo "demo: heartbeat $n"
    sleep 10 &
    sleeper=$!
    wait $sleeper
done
