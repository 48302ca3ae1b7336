# SPDX-License-Identifier: MIT
"""Zombie reaping: as PID 1 of a fresh PID namespace, and as a child subreaper otherwise."""

import os
import signal

import pytest

from conftest import (alive, children, descendants, helper, proc_ppid, proc_stat, read_file,
                      wait_for, zombie_children)


def _read_pids(path, n):
    def complete():
        text = read_file(path)
        pids = [int(x) for x in text.split()]
        return pids if len(pids) == n else None

    return wait_for(complete, what=f"{n} pids in {path}")


# -- PID 1


def test_pid1_reaps_100_orphans(daemon_factory, tmp_path):
    pidfile = tmp_path / "orphans.pids"
    d = daemon_factory(pid1=True, command=[helper("orphans"), "-p", pidfile, "-k", "100"])
    assert d.health()["pid1"] is True
    sysinfo = d.system()
    assert sysinfo["pid1"] is True

    _read_pids(pidfile, 100)
    wait_for(lambda: d.system()["orphans_reaped"] >= 100, what="orphans_reaped >= 100")
    assert d.system()["orphans_reaped"] == 100

    # Only the main helper is left in the namespace, and nothing is a zombie.
    def settled():
        kids = children(d.pid)
        return len(kids) == 1 and descendants(d.pid) == kids and not zombie_children(d.pid)

    wait_for(settled, what=f"only the main process left, got {descendants(d.pid)}")
    helper_pid = children(d.pid)[0]
    assert alive(helper_pid)

    d.send_signal(signal.SIGTERM)
    assert d.wait() == 143, d.stderr()


@pytest.mark.parametrize("sleep_ms", [0, 50])
def test_pid1_main_process_waits_until_orphans_are_reaped(daemon_factory, tmp_path, sleep_ms):
    # The helper exits only once all 100 orphans are gone from /proc, that is reaped by PID 1.
    d = daemon_factory(pid1=True, ready=False,
                       command=[helper("orphans"), "-s", str(sleep_ms), "-w", "100"])
    assert d.wait() == 0, d.stderr()


def test_pid1_create_zombie_is_reaped(daemon_factory):
    d = daemon_factory(pid1=True, args=["-debug-endpoints"], command=["sleep", "1000"])
    r = d.request("POST", "/debug/create-zombie")
    assert r.status == 200, r
    body = r.json()
    assert body["was_reaped"] is True and body["success"] is True, body
    assert not zombie_children(d.pid)


def test_pid1_exit_status_propagates_through_unshare(daemon_factory):
    d = daemon_factory(pid1=True, ready=False, command=["sh", "-c", "exit 7"])
    assert d.wait() == 7, d.stderr()


# -- subreaper (not PID 1)


def test_subreaper_adopts_and_reaps_orphans(daemon_factory, tmp_path):
    pidfile = tmp_path / "orphans.pids"
    d = daemon_factory(command=[helper("orphans"), "-s", "-1", "-p", pidfile, "-k", "5"])
    sysinfo = d.system()
    assert sysinfo["pid1"] is False
    assert sysinfo["subreaper"] is True
    assert d.health()["pid1"] is False

    orphans = _read_pids(pidfile, 5)
    wait_for(lambda: all(proc_ppid(p) == d.pid for p in orphans),
             what=f"orphans {orphans} to be reparented to sprite-env {d.pid}")
    assert d.system()["orphans_reaped"] == 0

    for p in orphans:
        os.kill(p, signal.SIGKILL)
    wait_for(lambda: all(proc_stat(p) is None for p in orphans),
             what=f"orphans {orphans} to be reaped")
    wait_for(lambda: d.system()["orphans_reaped"] == 5, what="orphans_reaped == 5")
    assert not zombie_children(d.pid)
    assert d.running()


def test_subreaper_reaps_100_short_lived_orphans(daemon_factory, tmp_path):
    pidfile = tmp_path / "orphans.pids"
    d = daemon_factory(command=[helper("orphans"), "-p", pidfile, "-k", "100"])
    _read_pids(pidfile, 100)
    wait_for(lambda: d.system()["orphans_reaped"] >= 100, what="orphans_reaped >= 100")
    assert d.system()["orphans_reaped"] == 100
    wait_for(lambda: not zombie_children(d.pid), what="no zombie children")
    main = d.health()["process"]["pid"]
    assert children(d.pid) == [main]
    assert d.health()["process"]["state"] == "running"


def test_subreaper_main_exit_status_not_confused_by_orphans(daemon_factory, tmp_path):
    # Orphans exiting with status 0 must not be taken for the main process, which exits 9.
    d = daemon_factory(ready=False,
                       command=["sh", "-c", f"{helper('orphans')} -s 20 -w 50 && exit 9"])
    assert d.wait() == 9, d.stderr()
