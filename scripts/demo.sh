#!/bin/sh
# The demo main process of `make run`: prints a heartbeat and stops cleanly on SIGTERM/SIGINT.
trap 'echo "demo: got SIGTERM, exiting"; exit 0' TERM
trap 'echo "demo: got SIGINT, exiting"; exit 0' INT
trap 'echo "demo: got SIGHUP"' HUP
echo "demo: started as pid $$ under sprite-env"
n=0
while :; do
    n=$((n + 1))
    echo "demo: heartbeat $n"
    sleep 10 &
    wait $!
done
