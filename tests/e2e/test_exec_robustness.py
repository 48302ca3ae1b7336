# SPDX-License-Identifier: MIT
"""Regressions found by review: clients that vanish at the worst moment, shutdown with clients
attached, children left behind by the command, stdin floods, mistyped fields."""

import json
import signal
import socket
import struct

from conftest import alive, descendants, proc_rss_kib, wait_for
from test_exec_ws import WS, exec_path


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().rstrip(b"\0").split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return None


def _running(d, argv):
    return [p for p in descendants(d.pid) if alive(p) and _cmdline(p) == argv]


def _reset_after_send(d, raw):
    """Sends a request and resets the connection at once (SO_LINGER 0)."""
    s = socket.create_connection(("127.0.0.1", d.port))
    s.sendall(raw)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def _auth_line(d):
    return f"Authorization: Bearer {d.token}\r\n"


def test_client_reset_right_after_post_exec(daemon_factory):
    d = daemon_factory()
    body = json.dumps({"command": ["sleep", "977"]}).encode()
    for _ in range(10):
        _reset_after_send(d, (f"POST /exec HTTP/1.1\r\nHost: e2e\r\n{_auth_line(d)}"
                              f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
        _reset_after_send(d, (f"POST /exec?cmd=sleep&cmd=977 HTTP/1.1\r\nHost: e2e\r\n"
                              f"{_auth_line(d)}Content-Length: 0\r\n\r\n").encode())
    # every process of a vanished client is killed, and the daemon is fine
    wait_for(lambda: not _running(d, [b"sleep", b"977"]), what="the sleeps to be killed")
    assert d.request("GET", "/health", token=None).status == 200


def test_shutdown_with_clients_attached(daemon_factory):
    d = daemon_factory()
    ws = WS(d, exec_path("sleep", "978"))
    sync = socket.create_connection(("127.0.0.1", d.port))
    body = json.dumps({"cmd": "sleep", "args": ["979"]}).encode()
    sync.sendall((f"POST /v1/exec HTTP/1.1\r\nHost: e2e\r\n{_auth_line(d)}"
                  f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    wait_for(lambda: _running(d, [b"sleep", b"978"]) and _running(d, [b"sleep", b"979"]),
             what="both commands to run")
    d.send_signal(signal.SIGTERM)
    assert d.wait() == 0, d.stderr()  # sanitizer reports are checked by the fixture
    ws.shutdown()
    sync.close()


def test_children_left_by_the_command_die_with_the_client(daemon_factory):
    d = daemon_factory()
    c = socket.create_connection(("127.0.0.1", d.port))
    body = json.dumps({"command": ["sh", "-c", "sleep 980 & exit 0"]}).encode()
    c.sendall((f"POST /exec HTTP/1.1\r\nHost: e2e\r\n{_auth_line(d)}"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    wait_for(lambda: _running(d, [b"sleep", b"980"]), what="the child to run")
    c.close()
    wait_for(lambda: not _running(d, [b"sleep", b"980"]),
             what="the child left by the command to be killed when the client went away")


def test_delete_reaches_children_after_the_leader_exited(daemon):
    r = daemon.request("POST", "/v1/exec", body={"cmd": "sh", "args": ["-c", "sleep 981 & exit 0"],
                                                 "background": True, "tag": "leftover",
                                                 "timeout_sec": 0})
    assert r.status == 202, r
    wait_for(lambda: _running(daemon, [b"sleep", b"981"]), what="the child to run")
    r = daemon.request("DELETE", "/v1/processes/leftover")
    assert r.status == 200, r
    wait_for(lambda: not _running(daemon, [b"sleep", b"981"]), what="the child to be killed")


def test_stdin_flood_over_websocket_is_throttled_not_dropped(daemon):
    total = 8 * 1024 * 1024
    with WS(daemon, exec_path("sh", "-c", "sleep 1; wc -c", stdin="true")) as ws:
        chunk = b"\0" + b"x" * 65536
        for _ in range(total // 65536):
            ws.send_binary(chunk)
        ws.send_binary(b"\x04")
        msgs = ws.until_close()
    out = b"".join(m[1:] for op, m in msgs if op == 2 and m[:1] == b"\x01")
    assert out.strip() == str(total).encode(), msgs[-3:]
    assert ws.close_code == 1000


def test_ping_flood_without_reading_keeps_memory_bounded(daemon):
    before = proc_rss_kib(daemon.pid)
    with WS(daemon, exec_path("sleep", "982"), rcvbuf=4096) as ws:
        sock = ws.ws.sock
        sock.setblocking(False)
        ping = bytes([0x89, 0x80 | 125]) + b"\0\0\0\0" + b"p" * 125  # masked with zeros
        sent = 0
        for _ in range(200000):
            try:
                sent += sock.send(ping)
            except BlockingIOError:
                break  # the daemon stopped reading us: that is the point
        grown = proc_rss_kib(daemon.pid) - before
    assert grown < 16 * 1024, f"daemon RSS grew by {grown} KiB after {sent} bytes of pings"


def test_numeric_user_is_a_uid_and_wrong_types_are_400(daemon):
    r = daemon.request("POST", "/v1/exec", body={"cmd": "id", "args": ["-u"], "user": 65534})
    assert r.status == 200 and r.json()["stdout"] == "65534\n", r
    for body in ({"cmd": "pwd", "cwd": 5}, {"cmd": "id", "user": [1]},
                 {"cmd": "id", "user": True}):
        r = daemon.request("POST", "/v1/exec", body=body)
        assert r.status == 400 and r.json()["code"] == "bad_request", (body, r)
    r = daemon.request("POST", "/exec", body={"command": ["id"], "dir": 7})
    assert r.status == 400, r


def test_script_without_shebang_runs_with_sh_as_execvp_does(daemon, tmp_path):
    script = tmp_path / "noshebang"
    script.write_text('echo "ran with $1"\n')
    script.chmod(0o755)
    r = daemon.request("POST", "/v1/exec", body={"cmd": str(script), "args": ["A1"]})
    assert r.status == 200 and r.json()["stdout"] == "ran with A1\n", r
    assert r.json()["exit_code"] == 0


def test_wrong_websocket_version_is_426_with_a_whole_json_body(daemon):
    r = daemon.request("GET", "/exec?cmd=true", headers={
        "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "8",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert r.status == 426, r
    assert r.headers.get("sec-websocket-version") == "13", r.headers
    assert r.json()["code"] == "bad_request"


def test_method_not_allowed_bodies_are_whole_json(daemon):
    bg = daemon.request("POST", "/v1/exec", body={"cmd": "true", "background": True}).json()
    for method, path, allow in (("PUT", f"/v1/processes/{bg['tag']}", "GET, DELETE"),
                                ("POST", f"/v1/processes/{bg['tag']}/stream", "GET"),
                                ("GET", f"/v1/processes/{bg['tag']}/stdin", "POST"),
                                ("DELETE", "/v1/system", "GET")):
        r = daemon.request(method, path)
        assert r.status == 405, (method, path, r)
        assert r.headers.get("allow") == allow, r.headers
        assert r.json()["code"] == "method_not_allowed"
