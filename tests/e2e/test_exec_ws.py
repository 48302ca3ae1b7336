# SPDX-License-Identifier: MIT
"""WebSocket exec (GET /exec), detachable sessions, process streams
(GET /v1/processes/{selector}/stream) and POST /v1/processes/{selector}/resize.

The contract is docs/api.md: "GET /exec — WebSocket exec", "Detachable sessions",
"GET /v1/processes/{selector}/stream", "POST /v1/processes/{selector}/resize" and the general
"Running commands" section. The client is Debian's python3-websocket.
"""

import base64
import contextlib
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

import pytest
import websocket

from conftest import (DEADLINE, RawClient, alive, assert_error, descendants, proc_comm,
                      proc_rss_kib, wait_for)

MIB = 1024 * 1024
OP_TEXT, OP_BINARY, OP_CLOSE, OP_PONG = 1, 2, 8, 10
TAG = re.compile(r"proc-[0-9a-f]{8}")
WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


# --------------------------------------------------------------------------------------------
# helpers


def qs(params):
    """A query string from (name, value) pairs; spaces as %20."""
    return urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


def exec_path(*cmd, **params):
    """/exec?cmd=…&cmd=…&k=v for a command and extra query parameters."""
    pairs = [("cmd", c) for c in cmd] + [(k, v) for k, v in params.items()]
    return "/exec?" + qs(pairs)


class WS:
    """One WebSocket client connection to the daemon (TCP, or a unix socket)."""

    def __init__(self, d, path, timeout=None, rcvbuf=None, token="default"):
        self.path = path
        tok = d.token if token == "default" else token
        header = [f"Authorization: Bearer {tok}"] if tok is not None else []
        sockopt = []
        if rcvbuf:
            sockopt.append((socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf))
        t = DEADLINE if timeout is None else timeout
        if d.unix_path:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(t)
            s.connect(d.unix_path)
            self.ws = websocket.create_connection(f"ws://localhost{path}", header=header,
                                                  timeout=t, socket=s)
        else:
            self.ws = websocket.create_connection(f"ws://127.0.0.1:{d.port}{path}",
                                                  header=header, timeout=t, sockopt=sockopt)
        self.close_code = None
        self.texts = []  # text messages seen by read_until (decoded JSON where possible)
        self.raw = bytearray()  # binary payloads seen by read_until

    def recv(self):
        """The next message as (opcode, bytes); a close is (8, payload). Fails on a timeout."""
        try:
            op, data = self.ws.recv_data(control_frame=True)
        except websocket.WebSocketTimeoutException:
            pytest.fail(f"{self.path}: no message within {self.ws.gettimeout()}s "
                        f"(raw so far {bytes(self.raw[-300:])!r})")
        except websocket.WebSocketConnectionClosedException:
            pytest.fail(f"{self.path}: connection closed without a close frame "
                        f"(raw so far {bytes(self.raw[-300:])!r})")
        if op == OP_CLOSE:
            self.close_code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
        return op, bytes(data)

    def until_close(self):
        """Every message up to the close frame; returns them (close excluded)."""
        msgs = []
        while True:
            op, data = self.recv()
            if op == OP_CLOSE:
                return msgs
            msgs.append((op, data))

    def read_until(self, pattern):
        """Reads binary payloads (raw TTY output) until `pattern` is in what was read since the
        last call; text messages are kept in self.texts. Returns that output."""
        start = len(self.raw)
        while pattern not in self.raw[start:]:
            op, data = self.recv()
            if op == OP_CLOSE:
                pytest.fail(f"closed ({self.close_code}) before {pattern!r} arrived; got "
                            f"{bytes(self.raw[start:])[-500:]!r}")
            if op == OP_TEXT:
                self.texts.append(data)
            else:
                self.raw += data
        return bytes(self.raw[start:])

    def send_binary(self, data):
        self.ws.send_binary(data)

    def send_text(self, obj):
        self.ws.send(obj if isinstance(obj, str) else json.dumps(obj))

    def shutdown(self):
        """Closes the socket at once, without a close frame (a client that goes away)."""
        self.ws.shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()


def plain_result(msgs):
    """Checks the non-TTY framing and splits it: (stdout, stderr, exit code).

    Every message is binary with a stream byte; exactly one [0x03, code], as the last one."""
    out, err = bytearray(), bytearray()
    for i, (op, data) in enumerate(msgs):
        assert op == OP_BINARY, f"message {i} has opcode {op}: {data[:100]!r}"
        assert data, f"message {i} is empty"
        if data[0] == 3:
            assert i == len(msgs) - 1, f"exit frame {data!r} is not the last message: {msgs[i:]}"
            assert len(data) == 2, f"exit frame {data!r}"
            return bytes(out), bytes(err), data[1]
        assert data[0] in (1, 2), f"message {i} has stream byte {data[0]}: {data[:100]!r}"
        (out if data[0] == 1 else err).extend(data[1:])
    pytest.fail(f"no exit frame among {len(msgs)} messages: {msgs[-3:]!r}")


def run_plain(d, path):
    """Runs a non-TTY exec to its end: (stdout, stderr, exit code), checking the close 1000."""
    with WS(d, path) as ws:
        msgs = ws.until_close()
        assert ws.close_code == 1000, f"close code {ws.close_code}"
    return plain_result(msgs)


def tty_result(msgs):
    """TTY framing: raw binary output, then one text exit message, as the last one.
    Returns (output, exit code)."""
    out = bytearray()
    for i, (op, data) in enumerate(msgs):
        if op == OP_TEXT:
            assert i == len(msgs) - 1, f"text message {data!r} before the end: {msgs[i:]}"
            m = json.loads(data)
            assert m["type"] == "exit", m
            assert isinstance(m["exit_code"], int), m
            return bytes(out), m["exit_code"]
        assert op == OP_BINARY, f"message {i} has opcode {op}"
        out += data
    pytest.fail(f"no exit message; output {bytes(out)[-300:]!r}")


def upgrade_request(d, path, token="default"):
    """A raw WebSocket upgrade request; returns the daemon's (error) answer."""
    hdrs = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": WS_KEY,
            "Sec-WebSocket-Version": "13"}
    hdrs.update(d.auth_header(token))
    with RawClient(d.address) as c:
        return c.request("GET", path, headers=hdrs)


def bg_start(d, cmd, *args, **fields):
    body = {"cmd": cmd, "args": list(args), "background": True}
    body.update(fields)
    r = d.request("POST", "/v1/exec", body=body)
    assert r.status == 202, r
    return r.json()


def get_process(d, sel):
    r = d.request("GET", f"/v1/processes/{sel}")
    assert r.status == 200, r
    return r.json()


def wait_exited(d, sel):
    return wait_for(lambda: (lambda p: p if p["state"] == "exited" else None)(get_process(d, sel)),
                    what=f"process {sel} to exit")


def write_stdin(d, sel, data, eof=False):
    r = d.request("POST", f"/v1/processes/{sel}/stdin" + ("?eof=true" if eof else ""), body=data)
    assert r.status == 200, r
    return r.json()


def sessions(d):
    r = d.request("GET", "/exec")
    assert r.status == 200, r
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    body = r.json()
    assert set(body) >= {"sessions", "count"}, body
    assert body["count"] == len(body["sessions"]), body
    return body["sessions"]


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().rstrip(b"\0").split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return None


def procs_running(d, argv):
    """Live descendants of the daemon whose argv is exactly `argv` (a list of bytes)."""
    return [p for p in descendants(d.pid) if alive(p) and cmdline(p) == argv]


def wait_gone(pids, what):
    wait_for(lambda: not any(alive(p) for p in pids), what=what)


SLEEP = [b"sleep", b"1000"]


# --------------------------------------------------------------------------------------------
# GET /exec without a TTY


def test_echo_exact_frames(daemon):
    with WS(daemon, exec_path("echo", "hi")) as ws:
        msgs = ws.until_close()
        assert ws.close_code == 1000
    assert msgs == [(OP_BINARY, b"\x01hi\n"), (OP_BINARY, b"\x03\x00")]


def test_stdout_and_stderr_are_separate(daemon):
    out, err, code = run_plain(daemon, exec_path(
        "sh", "-c", "echo out1; echo err1 >&2; echo out2; echo err2 >&2"))
    assert out == b"out1\nout2\n"
    assert err == b"err1\nerr2\n"
    assert code == 0


def test_path_env_and_dir(daemon, tmp_path):
    # the query of POST /exec?cmd=…: path replaces cmd[0], env, dir
    out, err, code = run_plain(daemon, "/exec?" + qs([
        ("cmd", "whatever"), ("cmd", "-c"), ("cmd", 'echo "$E2E_K $(pwd)"'), ("path", "sh"),
        ("env", "E2E_K=v w"), ("dir", str(tmp_path))]))
    assert (out, err, code) == (f"v w {tmp_path}\n".encode(), b"", 0)


def _exit_cases(tmp_path):
    noexec = tmp_path / "not-executable"
    noexec.write_text("#!/bin/sh\necho never\n")
    noexec.chmod(0o644)
    return {
        "true": (["true"], 0, None),
        "exit3": (["sh", "-c", "exit 3"], 3, None),
        "sigkill": (["sh", "-c", "kill -9 $$"], 137, None),
        "not-found": (["/nonexistent/e2e-no-such-binary"], 127, b"No such file or directory"),
        "not-executable": ([str(noexec)], 126, b"Permission denied"),
    }


@pytest.mark.parametrize("case", ["true", "exit3", "sigkill", "not-found", "not-executable"])
def test_exit_codes(daemon, tmp_path, case):
    cmd, code, reason = _exit_cases(tmp_path)[case]
    out, err, got = run_plain(daemon, exec_path(*cmd))
    assert got == code, (out, err)
    if reason is None:
        assert out == b"" and err == b""
    else:
        # the socket opens; the reason comes as stderr, then the exit frame
        assert out == b""
        assert reason in err, err
        assert cmd[0].encode() in err, err


@pytest.mark.timeout(60)
def test_3mib_output_lossless(daemon, tmp_path):
    data = os.urandom(3 * MIB)
    f = tmp_path / "blob"
    f.write_bytes(data)
    with WS(daemon, exec_path("cat", str(f))) as ws:
        msgs = ws.until_close()
        assert ws.close_code == 1000
    out, err, code = plain_result(msgs)
    assert code == 0 and err == b""
    assert len(out) == len(data)
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(data).hexdigest()


def test_stdin_then_eof(daemon):
    with WS(daemon, exec_path("cat", stdin="true")) as ws:
        ws.send_binary(b"\x00hello\n")
        ws.send_binary(b"\x00world")
        ws.send_binary(b"\x00")  # no data: nothing
        ws.send_binary(b"\x04")
        msgs = ws.until_close()
        assert ws.close_code == 1000
    assert plain_result(msgs) == (b"hello\nworld", b"", 0)


@pytest.mark.timeout(60)
def test_stdin_1mib_round_trip(daemon):
    data = os.urandom(MIB)
    with WS(daemon, exec_path("cat", stdin="true")) as ws:
        def feed():
            for i in range(0, len(data), 60000):
                ws.send_binary(b"\x00" + data[i:i + 60000])
            ws.send_binary(b"\x04")

        t = threading.Thread(target=feed, daemon=True)
        t.start()
        msgs = ws.until_close()
        t.join(DEADLINE)
        assert ws.close_code == 1000
    out, err, code = plain_result(msgs)
    assert code == 0 and err == b""
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(data).hexdigest()


def test_stdin_open_but_not_read(daemon):
    # the command never reads its stdin: it finishes without an EOF from the client
    assert run_plain(daemon, exec_path("echo", "x", stdin="true")) == (b"x\n", b"", 0)


def test_stdin_is_dev_null_without_stdin_true(daemon):
    out, err, code = run_plain(daemon, exec_path("sh", "-c", "cat; readlink /proc/self/fd/0"))
    assert (out, err, code) == (b"/dev/null\n", b"", 0)


def test_stdin_after_eof_is_ignored(daemon):
    with WS(daemon, exec_path("sh", "-c", "cat; echo end", stdin="true")) as ws:
        ws.send_binary(b"\x00a")
        ws.send_binary(b"\x04")
        ws.send_binary(b"\x00b")  # after the EOF: dropped, the connection stays usable
        msgs = ws.until_close()
        assert ws.close_code == 1000
    assert plain_result(msgs) == (b"aend\n", b"", 0)


def test_get_exec_with_command_needs_an_upgrade(daemon):
    r = daemon.request("GET", exec_path("echo", "hi"))
    assert_error(r, 400, "bad_request")


def test_upgrade_without_command_is_400(daemon):
    r = upgrade_request(daemon, "/exec?dir=/tmp")
    assert_error(r, 400, "bad_request")


def test_upgrade_needs_the_token(daemon):
    r = upgrade_request(daemon, exec_path("echo", "hi"), token=None)
    assert_error(r, 401, "unauthorized")
    r = upgrade_request(daemon, exec_path("echo", "hi"), token="wrong")
    assert_error(r, 401, "unauthorized")


def test_slow_client_is_lossless_and_pauses_the_process(daemon):
    total = 32 * MIB
    # the output of `seq`, cut at `total` bytes: known without keeping it in a list
    expect = hashlib.sha256()
    made, i = 0, 1
    while made < total:
        chunk = b"".join(b"%d\n" % k for k in range(i, i + 100000))
        i += 100000
        chunk = chunk[:total - made]
        expect.update(chunk)
        made += len(chunk)
    run_plain(daemon, exec_path("true"))  # warm up, then the baseline
    base = proc_rss_kib(daemon.pid)
    peak = base
    got = hashlib.sha256()
    n_out = 0
    producer_seen = None
    since_pause = 0
    ws = WS(daemon, exec_path("sh", "-c", f"seq 1 100000000 | head -c {total}"), rcvbuf=16384,
            timeout=DEADLINE * 3)
    try:
        while True:
            op, data = ws.recv()
            if op == OP_CLOSE:
                break
            assert op == OP_BINARY
            if data[0] == 3:
                code = data[1]
                continue
            assert data[0] == 1, data[:50]
            got.update(data[1:])
            n_out += len(data) - 1
            since_pause += len(data)
            if since_pause >= 2 * MIB:
                since_pause = 0
                time.sleep(0.05)  # read slowly (pacing only, nothing depends on it)
                peak = max(peak, proc_rss_kib(daemon.pid))
                if producer_seen is None:
                    producer_seen = any(proc_comm(p) == "head" for p in descendants(daemon.pid)
                                        if alive(p))
    finally:
        ws.shutdown()
    assert ws.close_code == 1000
    assert n_out == total
    assert got.hexdigest() == expect.hexdigest()
    assert code == 0
    assert producer_seen, "the command had finished when the client had read 2 of 32 MiB"
    growth = peak - base
    assert growth < 24 * 1024, f"daemon RSS grew by {growth} KiB while streaming 32 MiB"


# --------------------------------------------------------------------------------------------
# client disconnects


@pytest.mark.parametrize("tty", [False, True], ids=["pipes", "tty"])
def test_disconnect_kills_the_process_group(daemon, tty):
    params = {"tty": "true"} if tty else {}
    ws = WS(daemon, exec_path("sh", "-c", "sleep 1000 & sleep 1000", **params))
    try:
        sleeps = wait_for(lambda: len(procs_running(daemon, SLEEP)) == 2
                          and procs_running(daemon, SLEEP), what="the shell's two sleeps")
        shells = [p for p in descendants(daemon.pid) if alive(p) and proc_comm(p) == "sh"]
        assert len(shells) == 1, shells
    finally:
        ws.shutdown()
    wait_gone(shells + sleeps, "the command and its background child to be killed")
    assert daemon.running()
    assert sessions(daemon) == []


def test_close_frame_from_the_client_kills_the_process(daemon):
    ws = WS(daemon, exec_path("sleep", "1000"))
    try:
        victims = wait_for(lambda: procs_running(daemon, SLEEP), what="sleep to run")
        ws.ws.ping(b"are you there")
        assert ws.recv() == (OP_PONG, b"are you there")
        ws.ws.send_close(websocket.STATUS_NORMAL)
        op, data = ws.recv()
        assert op == OP_CLOSE, (op, data)
        assert ws.close_code == 1000
    finally:
        ws.shutdown()
    wait_gone(victims, "the process to be killed after the client closed the WebSocket")


def _hang_up_before_the_answer(d, path):
    """Sends an upgrade request and closes the connection before the daemon has answered it
    (the daemon is stopped meanwhile, so the order is certain)."""
    d.send_signal(signal.SIGSTOP)
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(DEADLINE)
        s.connect(d.unix_path)
        s.sendall((f"GET {path} HTTP/1.1\r\nHost: e2e\r\nAuthorization: Bearer {d.token}\r\n"
                   f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {WS_KEY}\r\n"
                   f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        s.close()
    finally:
        d.send_signal(signal.SIGCONT)


def daemon_alive(d):
    """Fails with the daemon's stderr if it has died (a crash, a sanitizer report)."""
    if not d.running():
        pytest.fail(f"sprite-env died (status {d.proc.returncode}); stderr:\n"
                    f"{d.stderr()[-4000:]}")


@contextlib.contextmanager
def must_survive(d):
    """A connection error inside is reported as the daemon's death when it is one."""
    try:
        yield
    except (OSError, http.client.HTTPException, websocket.WebSocketException) as e:
        try:
            d.proc.wait(2)
        except subprocess.TimeoutExpired:
            raise e from None
        daemon_alive(d)
        raise


def process_count(d):
    daemon_alive(d)
    r = d.request("GET", "/v1/processes")
    assert r.status == 200, r
    return r.json()["count"]


def test_client_gone_before_the_upgrade_answer_kills_the_process(daemon_factory):
    # The request is read and the process started, but the 101 cannot be written: nobody is
    # attached, so (not detachable) the process must be killed, and the daemon go on.
    d = daemon_factory(listen="unix")
    with must_survive(d):
        _hang_up_before_the_answer(d, exec_path("sleep", "1000"))
        wait_for(lambda: process_count(d) == 1, what="the process to be started")
        wait_for(lambda: process_count(d) and not procs_running(d, SLEEP),
                 what="the process of a client that went away before the 101 to be killed")
        assert run_plain(d, exec_path("echo", "still fine")) == (b"still fine\n", b"", 0)
        daemon_alive(d)


def test_client_gone_before_the_stream_answer(daemon_factory):
    d = daemon_factory(listen="unix")
    p = bg_start(d, "sh", "-c", "read x; echo \"got $x\"", tag="gone-early")
    with must_survive(d):
        _hang_up_before_the_answer(d, "/v1/processes/gone-early/stream")
        write_stdin(d, "gone-early", b"go\n", eof=True)
        wait_exited(d, "gone-early")
        with WS(d, "/v1/processes/gone-early/stream") as ws:
            msgs = stream_messages(ws)
        assert msgs[0] == {"type": "start", "pid": p["pid"]}
        assert stream_bytes(msgs, "stdout") == b"got go\n"
        daemon_alive(d)


def _kill_while_stopped(d, victim, ws):
    """With the daemon stopped: the process dies, then the client goes away. The daemon sees
    both at once when it goes on, the exit first."""
    d.send_signal(signal.SIGSTOP)
    try:
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: not alive(victim), what="the process to die")
        ws.shutdown()
    finally:
        d.send_signal(signal.SIGCONT)


def test_client_gone_when_the_process_exits(daemon_factory):
    # The process ends and the client is gone by the time the daemon sends the exit frame.
    d = daemon_factory(listen="unix")
    with must_survive(d):
        ws = WS(d, exec_path("sleep", "1000"))
        victim = wait_for(lambda: procs_running(d, SLEEP), what="sleep to run")[0]
        _kill_while_stopped(d, victim, ws)
        wait_for(lambda: (lambda s: s["state"] == "exited" and s)(
            d.request("GET", "/v1/processes").json()["processes"][0]),
            what="the exit to be seen")
        assert run_plain(d, exec_path("echo", "ok")) == (b"ok\n", b"", 0)
        daemon_alive(d)


def test_follower_gone_when_the_process_exits(daemon_factory):
    d = daemon_factory(listen="unix")
    with must_survive(d):
        bg_start(d, "sleep", "1000", tag="f-exit")
        ws = WS(d, "/v1/processes/f-exit/stream")
        assert json.loads(ws.recv()[1])["type"] == "start"
        victim = wait_for(lambda: procs_running(d, SLEEP), what="sleep to run")[0]
        _kill_while_stopped(d, victim, ws)
        wait_exited(d, "f-exit")
        assert run_plain(d, exec_path("echo", "ok")) == (b"ok\n", b"", 0)
        daemon_alive(d)


# --------------------------------------------------------------------------------------------
# GET /exec with a TTY


def test_tty_is_a_terminal(daemon):
    with WS(daemon, exec_path("tty", tty="true")) as ws:
        msgs = ws.until_close()
        assert ws.close_code == 1000
    out, code = tty_result(msgs)
    assert code == 0
    assert re.fullmatch(rb"/dev/pts/\d+\r\n", out), out


def test_tty_own_session_and_controlling_terminal(daemon):
    # the process leads its own session, and the pty is its controlling terminal (its
    # process group is the terminal's foreground group)
    script = ('s=$(cut -d" " -f6 /proc/$$/stat); p=$(cut -d" " -f5 /proc/$$/stat); '
              'f=$(cut -d" " -f8 /proc/$$/stat); echo "sid=$s pid=$$ pgrp=$p fg=$f"')
    with WS(daemon, exec_path("sh", "-c", script, tty="true")) as ws:
        out, code = tty_result(ws.until_close())
    m = re.search(rb"sid=(\d+) pid=(\d+) pgrp=(\d+) fg=(\d+)", out)
    assert m, out
    sid, pid, pgrp, fg = (int(x) for x in m.groups())
    assert sid == pid == pgrp == fg, out
    assert code == 0


def test_tty_initial_size(daemon):
    with WS(daemon, exec_path("stty", "size", tty="true", cols="120", rows="40")) as ws:
        out, code = tty_result(ws.until_close())
        assert ws.close_code == 1000
    assert out == b"40 120\r\n"
    assert code == 0


def test_tty_default_size_is_80x24(daemon):
    with WS(daemon, exec_path("stty", "size", tty="true")) as ws:
        out, code = tty_result(ws.until_close())
    assert out == b"24 80\r\n"
    assert code == 0


def test_tty_interactive_shell_resize_and_exit(daemon):
    with WS(daemon, exec_path("sh", tty="true", cols="80", rows="24")) as ws:
        ws.send_text({"type": "resize", "cols": 100, "rows": 30})
        ws.send_binary(b"stty size\n")
        ws.read_until(b"30 100")
        ws.send_binary(b"exit 5\n")
        rest = ws.until_close()
        assert ws.close_code == 1000
    assert not ws.texts, f"text messages before the end: {ws.texts}"
    _, code = tty_result(rest)
    assert code == 5


def test_tty_resize_signals_the_foreground_group(daemon):
    # the kernel sends SIGWINCH to the terminal's foreground group: here the shell
    script = ("trap 'echo WINCH-$(stty size); exit 0' WINCH; echo ready; "
              "while :; do sleep 0.01; done")
    with WS(daemon, exec_path("sh", "-c", script, tty="true")) as ws:
        ws.read_until(b"ready")
        ws.send_text({"type": "resize", "cols": 132, "rows": 43})
        out, code = tty_result(ws.until_close())
    assert b"WINCH-43 132" in out, out
    assert code == 0


def test_tty_bad_resize_messages_are_ignored(daemon):
    with WS(daemon, exec_path("sh", tty="true", cols="50", rows="10")) as ws:
        for bad in ('{"type":"resize","cols":0,"rows":5}', '{"type":"resize","cols":10000,'
                    '"rows":5}', '{"type":"resize"}', "not json", '{"type":"other"}', "[]"):
            ws.send_text(bad)
        ws.send_binary(b"stty size\n")
        ws.read_until(b"10 50")
        ws.send_binary(b"exit 0\n")
        _, code = tty_result(ws.until_close())
    assert code == 0


def test_tty_input_is_raw_bytes(daemon):
    # no stream byte on input or output: what is typed reaches the program as is
    with WS(daemon, exec_path("sh", "-c", "read x; echo \"[$x]\"", tty="true")) as ws:
        ws.send_binary(b"\x01\x02abc\n")
        out, code = tty_result(ws.until_close())
    assert code == 0
    assert b"[\x01\x02abc]\r\n" in out, out


def test_tty_exec_failure(daemon):
    with WS(daemon, exec_path("/nonexistent/e2e-no-such-binary", tty="true")) as ws:
        msgs = ws.until_close()
        assert ws.close_code == 1000
    out, code = tty_result(msgs)
    assert code == 127
    assert b"No such file or directory" in out, out


def test_tty_stdin_false(daemon):
    # With a TTY stdin is open unless stdin=false. Here what is typed must not reach the
    # terminal: no echo of it, nothing read. The resize that follows the input (messages are
    # handled in order) makes the shell print a marker and exit.
    script = "trap 'echo winch; exit 0' WINCH; echo ready; while :; do sleep 0.01; done"
    with WS(daemon, exec_path("sh", "-c", script, tty="true", stdin="false")) as ws:
        ws.read_until(b"ready")
        ws.send_binary(b"typed\n")
        ws.send_text({"type": "resize", "cols": 90, "rows": 20})
        out, code = tty_result(ws.until_close())
    assert b"winch" in out, out
    assert b"typed" not in out, f"input reached the terminal although stdin=false: {out!r}"
    assert code == 0


# --------------------------------------------------------------------------------------------
# detachable sessions


def _attach_session(d, script="echo start; exec sleep 1000"):
    """Starts a detachable TTY session running `sh -c SCRIPT`; returns (ws, session)."""
    ws = WS(d, exec_path("sh", "-c", script, tty="true", detachable="true"))
    ss = sessions(d)
    assert len(ss) == 1, ss
    return ws, ss[0]


def test_session_survives_its_client_and_reattaches(daemon):
    before = int(time.time())
    ws, s = _attach_session(daemon)
    ws.read_until(b"start")
    after = int(time.time())
    assert TAG.fullmatch(s["id"]), s
    assert isinstance(s["name"], str) and s["name"], s
    assert before - 1 <= s["created"] <= after + 1, s
    assert "echo start" in s["command"] and "sh" in s["command"], s
    assert s["tty"] is True
    assert s["is_active"] is True
    pid = s["pid"]
    assert alive(pid)
    ws.shutdown()

    # the client left: still listed, no longer active, still running
    s2 = wait_for(lambda: (lambda ss: ss and not ss[0]["is_active"] and ss[0])(sessions(daemon)),
                  what="the session to become inactive")
    assert s2["id"] == s["id"] and s2["pid"] == pid
    assert alive(pid)
    r = daemon.request("GET", "/exec")
    assert r.json()["count"] == 1
    assert get_process(daemon, s["id"])["state"] == "running"

    # re-attach: first what the log holds (from "start"), then live output
    with WS(daemon, f"/exec?id={s['id']}") as ws2:
        first = ws2.read_until(b"start")
        assert first.startswith(b"start"), first
        assert sessions(daemon)[0]["is_active"] is True
        r = daemon.request("DELETE", f"/v1/processes/{s['id']}")
        assert r.status == 200, r
        _, code = tty_result(ws2.until_close())
        assert ws2.close_code == 1000
    assert code == 137
    wait_for(lambda: sessions(daemon) == [], what="the ended session to leave the list")


def test_output_while_detached_is_replayed(daemon):
    ws, s = _attach_session(daemon, "exec sh")
    ws.read_until(b"#")
    ws.shutdown()
    wait_for(lambda: not sessions(daemon)[0]["is_active"], what="the session to be inactive")
    # typed through the API while nobody is attached: the output waits in the log
    b0 = get_process(daemon, s["id"])["stdout_bytes"]
    write_stdin(daemon, s["id"], b"echo while''-detached\n")
    # the terminal's echo of the line, then the output
    want = b0 + len(b"echo while''-detached\r\n") + len(b"while-detached\r\n")
    wait_for(lambda: get_process(daemon, s["id"])["stdout_bytes"] >= want,
             what="the detached session's output")
    with WS(daemon, f"/exec?id={s['id']}") as ws2:
        ws2.read_until(b"while-detached\r\n")
        ws2.send_binary(b"exit 0\n")
        _, code = tty_result(ws2.until_close())
    assert code == 0


def test_session_list_needs_the_token(daemon):
    assert_error(daemon.request("GET", "/exec", token=None), 401, "unauthorized")
    assert_error(upgrade_request(daemon, "/exec?id=proc-00000000", token=None), 401,
                 "unauthorized")


def test_session_list_only_has_running_detachable_sessions(daemon):
    assert daemon.request("GET", "/exec").json() == {"sessions": [], "count": 0}
    bg_start(daemon, "sleep", "1000", tag="not-a-session")
    with WS(daemon, exec_path("sleep", "1000")):
        wait_for(lambda: procs_running(daemon, SLEEP) and len(procs_running(daemon, SLEEP)) == 2,
                 what="both sleeps")
        assert sessions(daemon) == []
    with WS(daemon, exec_path("sh", "-c", "exit 0", detachable="true", tty="true")) as ws:
        tty_result(ws.until_close())
    assert sessions(daemon) == []


def test_session_without_tty(daemon):
    # detachable works without a TTY too, in the plain framing
    ws = WS(daemon, exec_path("sh", "-c", "echo start; read x; echo \"got $x\"",
                              detachable="true", stdin="true"))
    op, data = ws.recv()
    assert (op, data) == (OP_BINARY, b"\x01start\n")
    ss = sessions(daemon)
    assert len(ss) == 1 and ss[0]["tty"] is False, ss
    ws.shutdown()
    wait_for(lambda: not sessions(daemon)[0]["is_active"], what="the session to be inactive")
    with WS(daemon, f"/exec?id={ss[0]['id']}") as ws2:
        assert ws2.recv() == (OP_BINARY, b"\x01start\n")
        ws2.send_binary(b"\x00again\n")
        out, err, code = plain_result(ws2.until_close())
        assert ws2.close_code == 1000
    assert (out, err, code) == (b"got again\n", b"", 0)


def test_two_clients_attached_at_once(daemon):
    ws_a, s = _attach_session(daemon, "exec sh")
    try:
        ws_a.read_until(b"#")  # the prompt (root)
        with WS(daemon, f"/exec?id={s['id']}") as ws_b:
            ws_a.send_binary(b"echo hel''lo\n")
            ws_a.read_until(b"hello\r\n")
            ws_b.read_until(b"hello\r\n")
            ws_b.send_binary(b"echo from''-b\n")
            ws_a.read_until(b"from-b\r\n")
            ws_b.read_until(b"from-b\r\n")
            ws_a.send_binary(b"exit 7\n")
            _, code_a = tty_result(ws_a.until_close())
            _, code_b = tty_result(ws_b.until_close())
            assert ws_a.close_code == 1000 and ws_b.close_code == 1000
        assert code_a == code_b == 7
    finally:
        ws_a.shutdown()


def test_one_of_two_clients_leaving_does_not_stop_the_other(daemon):
    ws_a, s = _attach_session(daemon, "exec sh")
    ws_a.read_until(b"#")
    with WS(daemon, f"/exec?id={s['id']}") as ws_b:
        ws_a.shutdown()
        ws_b.send_binary(b"echo still''-here\n")
        ws_b.read_until(b"still-here\r\n")
        assert sessions(daemon)[0]["is_active"] is True
        ws_b.send_binary(b"exit 0\n")
        _, code = tty_result(ws_b.until_close())
    assert code == 0


def test_reattach_unknown_session_is_404(daemon):
    r = upgrade_request(daemon, "/exec?id=proc-00000000")
    assert_error(r, 404, "not_found")
    with pytest.raises(websocket.WebSocketBadStatusException) as ei:
        WS(daemon, "/exec?id=proc-00000000")
    assert ei.value.status_code == 404


def test_reattach_to_a_process_that_is_not_a_session_is_404(daemon):
    bg_start(daemon, "sleep", "1000", tag="plain-bg")
    assert_error(upgrade_request(daemon, "/exec?id=plain-bg"), 404, "not_found")


def test_resize_a_session_through_the_api(daemon):
    ws, s = _attach_session(daemon, "exec sh")
    with ws:
        ws.read_until(b"#")
        r = daemon.request("POST", f"/v1/processes/{s['id']}/resize",
                           body={"cols": 91, "rows": 21})
        assert r.status == 200, r
        assert r.json() == {"ok": True}
        ws.send_binary(b"stty size\n")
        ws.read_until(b"21 91")
        for bad in ({"cols": 0, "rows": 10}, {"cols": 10, "rows": 10000}, {"cols": "80"}):
            r = daemon.request("POST", f"/v1/processes/{s['id']}/resize", body=bad)
            assert_error(r, 400, "bad_request")


def test_resize_without_a_tty_is_409(daemon):
    bg_start(daemon, "sleep", "1000", tag="no-tty")
    r = daemon.request("POST", "/v1/processes/no-tty/resize", body={"cols": 100, "rows": 30})
    assert_error(r, 409, "not_a_tty")
    r = daemon.request("POST", "/v1/processes/no-such-proc/resize", body={"cols": 100, "rows": 30})
    assert_error(r, 404, "not_found")


# --------------------------------------------------------------------------------------------
# GET /v1/processes/{selector}/stream


def stream_messages(ws):
    """Every message of a process stream up to the close (1000), as decoded JSON objects."""
    out = []
    for op, data in ws.until_close():
        assert op == OP_TEXT, f"stream message with opcode {op}: {data[:100]!r}"
        out.append(json.loads(data))
    assert ws.close_code == 1000, ws.close_code
    return out


def stream_bytes(msgs, stream, start=0):
    """The bytes of one stream, checking that offsets follow each other from `start`."""
    data = bytearray()
    at = start
    for m in msgs:
        if m["type"] == "missed" and m["stream"] == stream:
            assert m["offset"] == at, (m, at)
            at += m["bytes"]
        if m["type"] != stream:
            continue
        assert m["offset"] == at, (m, at)
        assert m["encoding"] in ("utf-8", "base64"), m
        chunk = (base64.b64decode(m["data"]) if m["encoding"] == "base64"
                 else m["data"].encode("utf-8"))
        data += chunk
        at += len(chunk)
    return bytes(data)


def check_stream_shape(msgs):
    assert msgs[0]["type"] == "start", msgs[:2]
    assert msgs[-1]["type"] == "exit", msgs[-2:]
    assert all(m["type"] in ("stdout", "stderr", "missed") for m in msgs[1:-1]), msgs


def test_stream_live_process(daemon):
    p = bg_start(daemon, "sh", "-c", 'read x; echo "got $x"; echo oops >&2; exit 4', tag="live")
    with WS(daemon, "/v1/processes/live/stream") as ws:
        op, data = ws.recv()
        assert op == OP_TEXT
        assert json.loads(data) == {"type": "start", "pid": p["pid"]}
        write_stdin(daemon, "live", b"hi\n", eof=True)
        msgs = [{"type": "start", "pid": p["pid"]}] + stream_messages(ws)
    check_stream_shape(msgs)
    assert stream_bytes(msgs, "stdout") == b"got hi\n"
    assert stream_bytes(msgs, "stderr") == b"oops\n"
    assert msgs[-1]["exit_code"] == 4
    assert "signal" not in msgs[-1]
    for m in msgs[1:-1]:
        assert m["encoding"] == "utf-8"


def test_stream_of_an_exited_process_replays_the_log(daemon):
    bg_start(daemon, "sh", "-c", "echo one; echo two >&2; echo three", tag="done")
    wait_exited(daemon, "done")
    with WS(daemon, "/v1/processes/done/stream") as ws:
        msgs = stream_messages(ws)
    check_stream_shape(msgs)
    assert stream_bytes(msgs, "stdout") == b"one\nthree\n"
    assert stream_bytes(msgs, "stderr") == b"two\n"
    assert msgs[-1] == {"type": "exit", "exit_code": 0}


def test_stream_killed_process_has_signal(daemon):
    bg_start(daemon, "sleep", "1000", tag="to-kill")
    with WS(daemon, "/v1/processes/to-kill/stream") as ws:
        assert json.loads(ws.recv()[1])["type"] == "start"
        assert daemon.request("DELETE", "/v1/processes/to-kill").status == 200
        msgs = stream_messages(ws)
    assert msgs == [{"type": "exit", "exit_code": 137, "signal": "SIGKILL"}]


def test_stream_by_pid(daemon):
    p = bg_start(daemon, "sh", "-c", "echo by-pid")
    wait_exited(daemon, p["tag"])
    with WS(daemon, f"/v1/processes/{p['pid']}/stream") as ws:
        msgs = stream_messages(ws)
    assert msgs[0] == {"type": "start", "pid": p["pid"]}
    assert stream_bytes(msgs, "stdout") == b"by-pid\n"


def test_two_followers_get_the_same_bytes(daemon):
    bg_start(daemon, "sh", "-c", "read x; seq 1 30000; seq 1 1000 >&2", tag="two")
    with WS(daemon, "/v1/processes/two/stream") as a, \
            WS(daemon, "/v1/processes/two/stream") as b:
        for ws in (a, b):
            assert json.loads(ws.recv()[1])["type"] == "start"
        write_stdin(daemon, "two", b"go\n", eof=True)
        ma = stream_messages(a)
        mb = stream_messages(b)
    expect_out = b"".join(b"%d\n" % i for i in range(1, 30001))
    expect_err = b"".join(b"%d\n" % i for i in range(1, 1001))
    for msgs in (ma, mb):
        assert stream_bytes(msgs, "stdout") == expect_out
        assert stream_bytes(msgs, "stderr") == expect_err
        assert msgs[-1] == {"type": "exit", "exit_code": 0}
        assert not [m for m in msgs if m["type"] == "missed"]


def test_stream_offsets_resume(daemon):
    bg_start(daemon, "sh", "-c", "printf 0123456789; printf abcdef >&2", tag="offs")
    wait_exited(daemon, "offs")
    with WS(daemon, "/v1/processes/offs/stream?offset=4&stderr_offset=2") as ws:
        msgs = stream_messages(ws)
    check_stream_shape(msgs)
    first_out = [m for m in msgs if m["type"] == "stdout"][0]
    assert first_out["offset"] == 4
    assert first_out["data"].startswith("4")
    assert stream_bytes(msgs, "stdout", start=4) == b"456789"
    first_err = [m for m in msgs if m["type"] == "stderr"][0]
    assert first_err["offset"] == 2
    assert stream_bytes(msgs, "stderr", start=2) == b"cdef"
    # at the very end: nothing more, just the exit
    with WS(daemon, "/v1/processes/offs/stream?offset=10&stderr_offset=6") as ws:
        msgs = stream_messages(ws)
    assert [m["type"] for m in msgs] == ["start", "exit"], msgs


def test_stream_offset_of_a_live_process(daemon):
    bg_start(daemon, "sh", "-c", 'printf hello-; read x; printf "$x"', tag="live-off")
    wait_for(lambda: get_process(daemon, "live-off")["stdout_bytes"] == 6, what="first output")
    with WS(daemon, "/v1/processes/live-off/stream?offset=6") as ws:
        assert json.loads(ws.recv()[1])["type"] == "start"
        write_stdin(daemon, "live-off", b"world\n", eof=True)
        msgs = stream_messages(ws)
    out = [m for m in msgs if m["type"] == "stdout"]
    assert out and out[0]["offset"] == 6, msgs
    assert stream_bytes(msgs, "stdout", start=6) == b"world"


@pytest.mark.parametrize("query", ["offset=11", "stderr_offset=7", "offset=-1", "offset=abc",
                                   "offset=99999999999999999999999"])
def test_stream_bad_offset_is_400(daemon, query):
    bg_start(daemon, "sh", "-c", "printf 0123456789; printf abcdef >&2", tag="offs")
    wait_exited(daemon, "offs")
    assert_error(upgrade_request(daemon, f"/v1/processes/offs/stream?{query}"), 400,
                 "bad_request")
    with pytest.raises(websocket.WebSocketBadStatusException) as ei:
        WS(daemon, f"/v1/processes/offs/stream?{query}")
    assert ei.value.status_code == 400


def test_stream_unknown_selector_is_404(daemon):
    assert_error(upgrade_request(daemon, "/v1/processes/nope/stream"), 404, "not_found")
    assert_error(upgrade_request(daemon, "/v1/processes/999999/stream"), 404, "not_found")
    with pytest.raises(websocket.WebSocketBadStatusException) as ei:
        WS(daemon, "/v1/processes/nope/stream")
    assert ei.value.status_code == 404


def test_stream_needs_an_upgrade_and_get(daemon):
    bg_start(daemon, "sleep", "1000", tag="up")
    assert_error(daemon.request("GET", "/v1/processes/up/stream"), 400, "bad_request")
    r = daemon.request("POST", "/v1/processes/up/stream", body=b"")
    assert_error(r, 405, "method_not_allowed")
    assert "GET" in r.headers.get("allow", "")


def test_stream_binary_output_is_base64(daemon):
    bg_start(daemon, "sh", "-c", r"printf '\377\376\000bin'; printf '\200' >&2", tag="bin")
    wait_exited(daemon, "bin")
    with WS(daemon, "/v1/processes/bin/stream") as ws:
        msgs = stream_messages(ws)
    out = [m for m in msgs if m["type"] == "stdout"]
    assert out and out[0]["encoding"] == "base64", out
    assert stream_bytes(msgs, "stdout") == b"\xff\xfe\x00bin"
    err = [m for m in msgs if m["type"] == "stderr"]
    assert err and err[0]["encoding"] == "base64", err
    assert stream_bytes(msgs, "stderr") == b"\x80"


def test_stream_utf8_text_stays_text(daemon):
    bg_start(daemon, "sh", "-c", "printf 'h\\303\\251llo \\342\\202\\254\\n'", tag="utf")
    wait_exited(daemon, "utf")
    with WS(daemon, "/v1/processes/utf/stream") as ws:
        msgs = stream_messages(ws)
    out = [m for m in msgs if m["type"] == "stdout"]
    assert out == [{"type": "stdout", "data": "héllo €\n", "encoding": "utf-8", "offset": 0}]


def test_stream_of_a_session(daemon):
    # a detachable session is a process like any other: it can be followed by tag
    ws, s = _attach_session(daemon)
    with ws:
        ws.read_until(b"start")
        with WS(daemon, f"/v1/processes/{s['id']}/stream") as f:
            assert json.loads(f.recv()[1]) == {"type": "start", "pid": s["pid"]}
            data = b""
            while b"start" not in data:
                m = json.loads(f.recv()[1])
                assert m["type"] == "stdout", m
                data += m["data"].encode()
            assert data.startswith(b"start")


@pytest.mark.timeout(120)
def test_slow_follower_never_slows_the_process(daemon):
    total = 64 * MIB
    bg_start(daemon, "sh", "-c", f"read x; yes abcdefghijklmnopqrstuvwxyz | head -c {total}; "
             "echo end >&2", tag="fast")
    # a follower that does not read (tiny receive buffer): connected, then left alone
    slow = WS(daemon, "/v1/processes/fast/stream", rcvbuf=4096, timeout=DEADLINE * 3)
    try:
        base = proc_rss_kib(daemon.pid)
        write_stdin(daemon, "fast", b"go\n", eof=True)
        peak = base

        def exited():
            nonlocal peak
            peak = max(peak, proc_rss_kib(daemon.pid))
            return get_process(daemon, "fast")["state"] == "exited"

        wait_for(exited, timeout=DEADLINE * 3, interval=0.05,
                 what="the process to finish while its follower does not read")
        info = get_process(daemon, "fast")
        assert info["exit_code"] == 0
        assert info["stdout_bytes"] == total
        growth = peak - base
        assert growth < 32 * 1024, f"daemon RSS grew by {growth} KiB with a stalled follower"

        # now read: a "missed" message, and the stream goes on from the oldest byte held
        msgs = stream_messages(slow)
    finally:
        slow.shutdown()
    check_stream_shape(msgs)
    missed = [m for m in msgs if m["type"] == "missed"]
    assert missed, "a follower far behind was never told it missed bytes"
    for m in missed:
        assert m["stream"] == "stdout" and m["bytes"] > 0 and m["offset"] >= 0, m
    got = stream_bytes(msgs, "stdout")  # checks offsets: data and missed bytes add up
    assert sum(m["bytes"] for m in missed) + len(got) == total
    # every byte received is the byte of the output at its offset
    pattern = b"abcdefghijklmnopqrstuvwxyz\n"
    rep = pattern * (2 * 65536 // len(pattern) + 2)
    for m in msgs:
        if m["type"] == "stdout":
            chunk = m["data"].encode()
            o = m["offset"] % len(pattern)
            assert chunk == rep[o:o + len(chunk)], f"wrong bytes at offset {m['offset']}"
    assert stream_bytes(msgs, "stderr") == b"end\n"
    assert msgs[-1] == {"type": "exit", "exit_code": 0}


def test_a_text_message_that_is_not_utf8_closes_with_1007(daemon):
    # RFC 6455 §8.1: invalid UTF-8 in a text message fails the connection with 1007
    ws = WS(daemon, "/exec?cmd=cat&stdin=true")
    ws.ws.send(b"\xc3\x28", opcode=websocket.ABNF.OPCODE_TEXT)
    ws.until_close()
    assert ws.close_code == 1007
    # in fragments too
    ws = WS(daemon, "/exec?cmd=cat&stdin=true")
    ws.ws.send_frame(websocket.ABNF.create_frame(b'{"type":', websocket.ABNF.OPCODE_TEXT, fin=0))
    ws.ws.send_frame(websocket.ABNF.create_frame(b"\xed\xa0\x80}", websocket.ABNF.OPCODE_CONT,
                                                 fin=1))
    ws.until_close()
    assert ws.close_code == 1007
    assert daemon.health()["status"] == "ok"
