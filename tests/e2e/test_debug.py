# SPDX-License-Identifier: MIT
"""Debug endpoints: /debug/create-zombie and /debug/check-process."""

import os
import subprocess

import pytest

from conftest import (RawClient, assert_error, proc_rss_kib, proc_stat, wait_for,
                      zombie_children)


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


# -- /debug/echo: the hand-off of an upgraded connection (http_hijack)


def _upgrade(c, dbg, extra=b""):
    auth = "".join(f"{k}: {v}\r\n" for k, v in dbg.auth_header("default").items()).encode()
    c.send(b"GET /debug/echo HTTP/1.1\r\nHost: e2e\r\nConnection: Upgrade\r\nUpgrade: echo\r\n" +
           auth + b"\r\n" + extra)
    while b"\r\n\r\n" not in c.buf:
        c._fill()
    head, _, c.buf = c.buf.partition(b"\r\n\r\n")
    return head.decode("latin-1")


def _read_exactly(c, n):
    while len(c.buf) < n:
        c._fill()
    data, c.buf = c.buf[:n], c.buf[n:]
    return data


def test_upgraded_connection_is_handed_off(dbg):
    with RawClient(dbg.address) as c:
        head = _upgrade(c, dbg, extra=b"early bytes|")
        assert head.startswith("HTTP/1.1 101 "), head
        assert "upgrade: echo" in head.lower(), head
        # bytes sent right behind the request belong to the new protocol
        assert _read_exactly(c, len(b"early bytes|")) == b"early bytes|"
        payload = bytes(range(256)) * 4096  # 1 MiB, binary
        c.send(payload)
        assert _read_exactly(c, len(payload)) == payload
    # the HTTP server is unaffected and the hijacked socket did not leak into it
    assert dbg.request("GET", "/health", token=None).status == 200


def test_upgrade_route_without_upgrade_headers_is_400(dbg):
    assert_error(dbg.request("GET", "/debug/echo"), 400, "bad_request")


def test_many_hijacked_connections_close_cleanly(dbg):
    for _ in range(20):
        with RawClient(dbg.address) as c:
            assert _upgrade(c, dbg).startswith("HTTP/1.1 101 ")
            c.send(b"x")
            assert _read_exactly(c, 1) == b"x"
    fds = len(os.listdir(f"/proc/{dbg.pid}/fd"))
    wait_for(lambda: len(os.listdir(f"/proc/{dbg.pid}/fd")) <= fds, what="fds released")
    assert dbg.request("GET", "/health", token=None).status == 200


# -- /debug/stream: chunked responses with back-pressure


@pytest.mark.parametrize("n", [0, 1, 65536, 65537, 3 * 1024 * 1024 + 7])
def test_stream_is_chunked_and_complete(dbg, n):
    with RawClient(dbg.address) as c:
        r = c.request("GET", f"/debug/stream?bytes={n}", headers=dbg.auth_header("default"))
        assert r.status == 200, r
        assert r.headers.get("transfer-encoding") == "chunked", r.headers
        assert len(r.body) == n
        assert r.body == (b"0123456789" * (n // 10 + 1))[:n]
        # keep-alive survives a streamed response
        assert c.request("GET", "/health").status == 200


def test_stream_to_a_slow_reader_keeps_memory_bounded(dbg):
    total = 64 * 1024 * 1024
    rss_before = proc_rss_kib(dbg.pid)
    with RawClient(dbg.address, rcvbuf=4096) as c:
        auth = "".join(f"{k}: {v}\r\n" for k, v in dbg.auth_header("default").items())
        c.send(f"GET /debug/stream?bytes={total} HTTP/1.1\r\nHost: e2e\r\n{auth}\r\n".encode())
        got = 0
        peak = 0
        while got < total:
            chunk = c.sock.recv(4096)  # slowly: small reads
            if not chunk:
                break
            got += len(chunk)
            if got % (4 * 1024 * 1024) < 4096:
                peak = max(peak, proc_rss_kib(dbg.pid) - rss_before)
        assert got >= total  # the body plus chunk framing
    # the daemon held a bounded backlog, not the 64 MiB response
    assert peak < 16 * 1024, f"daemon RSS grew by {peak} KiB while streaming 64 MiB"


def test_client_leaving_mid_stream_does_not_hurt(dbg):
    for _ in range(5):
        with RawClient(dbg.address) as c:
            auth = "".join(f"{k}: {v}\r\n" for k, v in dbg.auth_header("default").items())
            c.send(f"GET /debug/stream?bytes={1 << 30} HTTP/1.1\r\nHost: e2e\r\n{auth}\r\n"
                   .encode())
            c._fill()
    assert dbg.request("GET", "/health", token=None).status == 200


@pytest.mark.parametrize("q", ["", "?bytes=", "?bytes=abc", "?bytes=-1", "?bytes=1073741825"])
def test_stream_bad_size_is_400(dbg, q):
    assert_error(dbg.request("GET", f"/debug/stream{q}"), 400, "bad_request")
