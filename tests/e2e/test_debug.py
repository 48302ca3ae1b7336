# SPDX-License-Identifier: MIT
"""Debug endpoints: /debug/create-zombie and /debug/check-process."""

import subprocess

import pytest

from conftest import assert_error, proc_stat, wait_for, zombie_children


@pytest.fixture
def dbg(daemon_factory):
    return daemon_factory(args=["-debug-endpoints"])


def _dead_pid():
    """A pid that existed a moment ago and does not exist now."""
    p = subprocess.Popen(["true"])
    p.wait()
    assert proc_stat(p.pid) is None
    return p.pid


def test_debug_endpoints_are_404_without_flag(daemon):
    assert_error(daemon.request("POST", "/debug/create-zombie"), 404, "not_found")
    assert_error(daemon.request("GET", f"/debug/check-process?pid={daemon.pid}"), 404,
                 "not_found")


def test_create_zombie_is_reaped(dbg):
    r = dbg.request("POST", "/debug/create-zombie")
    assert r.status == 200, r
    body = r.json()
    assert body["success"] is True, body
    assert body["was_reaped"] is True, body
    assert isinstance(body["pid"], int) and body["pid"] > 0, body
    assert isinstance(body["message"], str), body
    assert isinstance(body["reap_duration_ms"], (int, float)) and body["reap_duration_ms"] >= 0
    assert body["reap_duration_ms"] <= 1000, body
    wait_for(lambda: proc_stat(body["pid"]) is None, what=f"zombie {body['pid']} to be gone")
    assert not zombie_children(dbg.pid)
    r = dbg.request("GET", f"/debug/check-process?pid={body['pid']}")
    assert r.status == 200, r
    assert r.json()["exists"] is False


def test_create_zombie_repeatedly(dbg):
    pids = set()
    for _ in range(5):
        body = dbg.request("POST", "/debug/create-zombie").json()
        assert body["success"] is True and body["was_reaped"] is True, body
        pids.add(body["pid"])
    assert len(pids) == 5
    assert not zombie_children(dbg.pid)


def test_check_process_of_daemon_itself(dbg):
    r = dbg.request("GET", f"/debug/check-process?pid={dbg.pid}")
    assert r.status == 200, r
    body = r.json()
    assert body["pid"] == dbg.pid
    assert body["exists"] is True
    assert body["is_zombie"] is False
    assert body["proc_status"] in ("R", "S"), body


def test_check_process_of_a_zombie(dbg):
    # A zombie we own: sprite-env must report it as such without reaping it.
    p = subprocess.Popen(["true"])
    wait_for(lambda: proc_stat(p.pid) and proc_stat(p.pid)[0] == "Z", what="zombie")
    try:
        body = dbg.request("GET", f"/debug/check-process?pid={p.pid}").json()
        assert body["pid"] == p.pid, body
        assert body["exists"] is True, body
        assert body["is_zombie"] is True, body
        assert body["proc_status"] == "Z", body
    finally:
        p.wait()


def test_check_process_of_nonexistent_pid(dbg):
    pid = _dead_pid()
    r = dbg.request("GET", f"/debug/check-process?pid={pid}")
    assert r.status == 200, r
    body = r.json()
    assert body["pid"] == pid
    assert body["exists"] is False
    assert body["is_zombie"] is False


def test_check_process_without_pid_is_400(dbg):
    assert_error(dbg.request("GET", "/debug/check-process"), 400, "bad_request")
    assert_error(dbg.request("GET", "/debug/check-process?other=1"), 400, "bad_request")


@pytest.mark.parametrize("value", ["abc", "-1", "12x", "", "0x10", "1.5", "1%20",
                                   "99999999999999999999999"])
def test_check_process_with_malformed_pid_is_400(dbg, value):
    assert_error(dbg.request("GET", f"/debug/check-process?pid={value}"), 400, "bad_request")


@pytest.mark.parametrize("method, path", [
    ("GET", "/debug/create-zombie"),
    ("PUT", "/debug/create-zombie"),
    ("POST", "/debug/check-process?pid=1"),
    ("DELETE", "/debug/check-process?pid=1"),
])
def test_debug_wrong_method_is_405(dbg, method, path):
    assert_error(dbg.request(method, path), 405, "method_not_allowed")


def test_check_process_pid_1(dbg):
    body = dbg.request("GET", "/debug/check-process?pid=1").json()
    assert body["pid"] == 1 and body["exists"] is True, body
