# SPDX-License-Identifier: MIT
"""Running commands: POST /exec (stdcopy and sprite framing) and POST /v1/exec (synchronous).

The contract is docs/api.md, "Running commands". Background processes and /v1/processes are in
test_processes.py.
"""

import hashlib
import json
import os
import re
import socket
import threading
import time
import urllib.parse

import pytest

from conftest import (DEADLINE, RawClient, alive, assert_error, descendants, proc_comm,
                      proc_rss_kib, wait_for)

MIB = 1024 * 1024
EXIT_RE = re.compile(rb"EXIT:(-?\d+)")


def auth(d):
    return {"Authorization": f"Bearer {d.token}"}


def nobody_uid():
    with open("/etc/passwd") as f:
        for line in f:
            fields = line.split(":")
            if fields[0] == "nobody":
                return int(fields[2])
    pytest.fail("no user nobody in /etc/passwd")


def seq_bytes(n_bytes):
    """What `seq 1 N | head -c n_bytes` prints (for a large enough N)."""
    out = bytearray()
    i = 1
    while len(out) < n_bytes:
        out += b"".join(b"%d\n" % k for k in range(i, i + 100000))
        i += 100000
    return bytes(out[:n_bytes])


def seq_command(n_bytes):
    return ["sh", "-c", f"seq 1 100000000 | head -c {n_bytes}"]


# --------------------------------------------------------------------------------------------
# a response read incrementally (chunked body decoded as it arrives)


class Streamed:
    def __init__(self, d, method, path, body=b"", headers=None, rcvbuf=None, timeout=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.client = RawClient(d.address, timeout=timeout, rcvbuf=rcvbuf)
        self.sock = self.client.sock
        hdrs = {"Host": "e2e", "Content-Length": str(len(body))}
        hdrs.update(auth(d))
        hdrs.update(headers or {})
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
        assert self.client.send(head.encode() + b"\r\n" + body), "daemon closed the connection"
        self.buf = bytearray()
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n\r\n")
        lines = bytes(self.buf[:i]).decode("latin-1").split("\r\n")
        del self.buf[:i + 4]
        self.status = int(lines[0].split(" ", 2)[1])
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        self.length = None if self.chunked else int(self.headers.get("content-length", "0"))
        self.left = 0  # bytes left in the current chunk
        self.crlf = False  # a chunk's CRLF is still to be consumed
        self.done = False

    def _fill(self, n=65536):
        try:
            data = self.sock.recv(n)
        except ConnectionResetError:
            data = b""
        except socket.timeout:
            pytest.fail(f"no progress on the response within {self.sock.gettimeout()}s")
        if not data:
            raise EOFError("connection closed by the daemon in the middle of the response")
        self.buf += data

    def read_some(self, n=65536):
        """Up to n body bytes (at least one), or b"" once the body is complete."""
        if self.done:
            return b""
        if not self.chunked:
            if self.length == 0:
                self.done = True
                return b""
            if not self.buf:
                self._fill(min(n, self.length))
            out = bytes(self.buf[:min(n, self.length)])
            del self.buf[:len(out)]
            self.length -= len(out)
            return out
        if self.crlf:
            while len(self.buf) < 2:
                self._fill(2)
            assert self.buf[:2] == b"\r\n", f"bad chunk framing: {bytes(self.buf[:20])!r}"
            del self.buf[:2]
            self.crlf = False
        if self.left == 0:
            while b"\r\n" not in self.buf:
                self._fill(64)
            i = self.buf.index(b"\r\n")
            size = int(bytes(self.buf[:i]).split(b";")[0], 16)
            del self.buf[:i + 2]
            if size == 0:
                while not self.buf.endswith(b"\r\n") or len(self.buf) < 2:
                    self._fill(2)
                self.buf.clear()
                self.done = True
                return b""
            self.left = size
        if not self.buf:
            self._fill(min(n, self.left))
        out = bytes(self.buf[:min(n, self.left)])
        del self.buf[:len(out)]
        self.left -= len(out)
        if self.left == 0:
            self.crlf = True
        return out

    def read_all(self):
        out = bytearray()
        while True:
            data = self.read_some()
            if not data:
                return bytes(out)
            out += data

    def json(self):
        return json.loads(self.read_all())

    def close(self):
        self.client.close()


class Stdcopy:
    """Docker stdcopy frames, parsed as they arrive: 8-byte header, then the payload."""

    def __init__(self, keep=True):
        self.buf = bytearray()
        self.keep = keep
        self.data = [bytearray(), bytearray()]
        self.sha = [hashlib.sha256(), hashlib.sha256()]
        self.count = [0, 0]
        self.frames = []  # (stream, payload) when keep
        self.exit = None
        self.after_exit = []

    def feed(self, data):
        self.buf += data
        while len(self.buf) >= 8:
            stream = self.buf[0]
            size = int.from_bytes(self.buf[4:8], "big")
            if len(self.buf) < 8 + size:
                return
            assert self.buf[1:4] == b"\0\0\0", f"bad stdcopy header {bytes(self.buf[:8])!r}"
            assert stream in (1, 2, 3), f"bad stream byte in {bytes(self.buf[:8])!r}"
            payload = bytes(self.buf[8:8 + size])
            del self.buf[:8 + size]
            if self.exit is not None:
                self.after_exit.append((stream, payload))
                continue
            if self.keep:
                self.frames.append((stream, payload))
            if stream == 3:
                m = EXIT_RE.fullmatch(payload)
                assert m, f"system frame is not EXIT:<code>: {payload!r}"
                self.exit = int(m.group(1))
            else:
                self.count[stream - 1] += len(payload)
                self.sha[stream - 1].update(payload)
                if self.keep:
                    self.data[stream - 1] += payload

    def finish(self):
        assert not self.buf, f"a partial frame at the end of the stream: {bytes(self.buf[:40])!r}"
        assert self.exit is not None, "the stream ended without an EXIT frame"
        assert not self.after_exit, f"frames after the EXIT frame: {self.after_exit[:3]!r}"
        return self

    @property
    def stdout(self):
        return bytes(self.data[0])

    @property
    def stderr(self):
        return bytes(self.data[1])


def exec_stdcopy(d, body, timeout=None):
    """POST /exec with a JSON body; returns the parsed, complete frame stream."""
    s = Streamed(d, "POST", "/exec", body, headers={"Content-Type": "application/json"},
                 timeout=timeout)
    try:
        assert s.status == 200, (s.status, s.read_all())
        ctype = s.headers.get("content-type", "")
        assert ctype == "application/vnd.docker.raw-stream", ctype
        p = Stdcopy()
        while True:
            data = s.read_some()
            if not data:
                break
            p.feed(data)
        return p.finish()
    finally:
        s.close()


def qs(params):
    return urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


def exec_sprite(d, params, body=b"", timeout=None):
    """POST /exec?… (the query form); returns (status, headers, body)."""
    s = Streamed(d, "POST", "/exec?" + qs(params), body, timeout=timeout)
    try:
        return s.status, s.headers, s.read_all()
    finally:
        s.close()


def v1_exec(d, body, timeout=None):
    r = d.request("POST", "/v1/exec", body=body, timeout=timeout)
    return r


def v1_ok(d, body, timeout=None):
    r = v1_exec(d, body, timeout=timeout)
    assert r.status == 200, r
    return r.json()


def assert_error_message(resp, status, code, message):
    assert_error(resp, status, code)
    assert resp.json()["message"] == message, resp


def wait_gone(pids, what):
    wait_for(lambda: not [p for p in pids if alive(p)], what=what)


# --------------------------------------------------------------------------------------------
# POST /exec, JSON body: Docker stdcopy frames


def test_stdcopy_echo(daemon):
    p = exec_stdcopy(daemon, {"command": ["echo", "hello"]})
    assert p.frames[:-1] == [(1, b"hello\n")]
    assert p.frames[-1][0] == 3
    assert p.exit == 0


def test_stdcopy_tty_output_is_framed_as_stdout(daemon):
    p = exec_stdcopy(daemon, {"command": ["sh", "-c", "tty; echo err >&2; exit 4"], "tty": True})
    assert {s for s, _ in p.frames[:-1]} == {1}, p.frames  # everything comes as stdout
    out = p.stdout.decode()
    assert out.startswith("/dev/pts/"), out
    assert "err\r\n" in out, out  # the terminal turns \n into \r\n
    assert p.exit == 4


def test_stdcopy_tty_stdin_is_typed_into_the_terminal(daemon):
    p = exec_stdcopy(daemon, {"command": ["cat"], "tty": True, "stdin": "typed\n\u0004"})
    assert b"typed" in p.stdout
    assert p.exit == 0


def test_stdcopy_separates_stdout_and_stderr(daemon):
    p = exec_stdcopy(daemon, {"command": ["sh", "-c", "echo out1; echo err1 >&2; echo out2; "
                                           "printf err2 >&2; exit 3"]})
    assert p.stdout == b"out1\nout2\n"
    assert p.stderr == b"err1\nerr2"
    assert p.exit == 3


def test_stdcopy_3mib_lossless(daemon, tmp_path):
    data = os.urandom(3 * MIB)
    f = tmp_path / "blob"
    f.write_bytes(data)
    p = exec_stdcopy(daemon, {"command": ["cat", str(f)]})
    assert p.count == [len(data), 0]
    assert p.sha[0].hexdigest() == hashlib.sha256(data).hexdigest()
    assert p.exit == 0


def test_stdcopy_stdin_then_eof(daemon):
    p = exec_stdcopy(daemon, {"command": ["cat"], "stdin": "line 1\nline 2\n"})
    assert p.stdout == b"line 1\nline 2\n"
    assert p.exit == 0
    # more than a pipe holds: the daemon queues it and still closes stdin at the end
    big = "0123456789abcdef" * 16384  # 256 KiB
    p = exec_stdcopy(daemon, {"command": ["wc", "-c"], "stdin": big})
    assert p.stdout.strip() == str(len(big)).encode()
    assert p.exit == 0


def test_stdcopy_without_stdin_reads_dev_null(daemon):
    # cat would wait forever if stdin were an open pipe
    p = exec_stdcopy(daemon, {"command": ["cat"]})
    assert p.stdout == b"" and p.stderr == b""
    assert p.exit == 0


def test_command_that_does_not_read_stdin_finishes(daemon):
    big = "x" * (512 * 1024)  # far more than a pipe holds: the daemon cannot write it all
    p = exec_stdcopy(daemon, {"command": ["echo", "done"], "stdin": big})
    assert p.stdout == b"done\n"
    assert p.exit == 0
    status, _, body = exec_sprite(daemon, [("cmd", "echo"), ("cmd", "done"), ("stdin", "true")],
                                  body=big.encode())
    assert status == 200
    assert body == b"\x01done\n\x03\x00"
    r = v1_ok(daemon, {"cmd": "echo", "args": ["done"], "stdin": big})
    assert r["stdout"] == "done\n" and r["exit_code"] == 0, r


def _exit_code_commands(tmp_path):
    plain = tmp_path / "not-executable"
    plain.write_text("#!/bin/sh\necho never\n")
    plain.chmod(0o644)
    directory = tmp_path / "a-directory"
    directory.mkdir()
    return {
        "true": (["true"], 0),
        "exit3": (["sh", "-c", "exit 3"], 3),
        "self-sigkill": (["sh", "-c", "kill -9 $$"], 137),
        "unknown": (["no-such-binary-e2e"], 127),
        "directory": ([str(directory)], 126),
        "not-executable": ([str(plain)], 126),
    }


EXIT_CASES = ["true", "exit3", "self-sigkill", "unknown", "directory", "not-executable"]


@pytest.mark.parametrize("case", EXIT_CASES)
def test_stdcopy_exit_codes(daemon, tmp_path, case):
    cmd, code = _exit_code_commands(tmp_path)[case]
    p = exec_stdcopy(daemon, {"command": cmd})
    assert p.exit == code, p.frames
    assert p.stdout == b""
    if case == "unknown":
        assert b"no-such-binary-e2e" in p.stderr and b"No such file or directory" in p.stderr, \
            p.stderr
    elif code == 126:
        assert cmd[0].encode() in p.stderr and b"Permission denied" in p.stderr, p.stderr


@pytest.mark.parametrize("case", EXIT_CASES)
def test_sprite_exit_codes(daemon, tmp_path, case):
    cmd, code = _exit_code_commands(tmp_path)[case]
    status, headers, body = exec_sprite(daemon, [("cmd", c) for c in cmd])
    assert status == 200, body
    assert headers.get("content-type") == "application/octet-stream", headers
    assert body[-2:] == bytes([3, code]), body
    if case == "unknown":
        assert body[0] == 2, body
        assert b"no-such-binary-e2e" in body and b"No such file or directory" in body, body
    elif code == 126:
        assert body[0] == 2 and b"Permission denied" in body, body
    else:
        assert body == bytes([3, code])


def test_stdcopy_timeout_ns(daemon):
    p = exec_stdcopy(daemon, {"command": ["sleep", "1000"], "timeout": 300_000_000})
    assert p.exit == 137
    assert p.stdout == b"" and p.stderr == b""


def test_stdcopy_timeout_duration_string_kills_the_group(daemon):
    p = exec_stdcopy(daemon, {"command": ["sh", "-c", "sleep 1000 & echo started; sleep 1000"],
                              "timeout": "300ms"})
    assert p.stdout == b"started\n"
    assert p.exit == 137
    wait_for(lambda: not long_sleeps(daemon),
             what="the background sleep of the timed-out command to be killed")


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().rstrip(b"\0").split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return None


def long_sleeps(d):
    """The `sleep 1000` processes under the daemon."""
    return [p for p in descendants(d.pid) if alive(p) and cmdline(p) == [b"sleep", b"1000"]]


def producer_running(d):
    """True while a `head` (the producer of the big outputs) runs under the daemon."""
    return any(proc_comm(p) == "head" for p in descendants(d.pid) if alive(p))


def _start_then_disconnect(d, script, path="/exec"):
    """Starts `sh -c SCRIPT` (which runs two `sleep 1000`, one as a child of the shell), waits
    until it runs, closes the connection and returns the pids of the shell and the sleeps."""
    if path == "/exec":
        conn = Streamed(d, "POST", path, {"command": ["sh", "-c", script]})
        assert conn.status == 200
    else:
        raw = json.dumps({"cmd": "sh", "args": ["-c", script]}).encode()
        conn = RawClient(d.address)
        head = (f"POST {path} HTTP/1.1\r\nHost: e2e\r\nAuthorization: Bearer {d.token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n\r\n")
        assert conn.send(head.encode() + raw)
    sleeps = wait_for(lambda: len(long_sleeps(d)) == 2 and long_sleeps(d),
                      what="the command and its child to run")
    shells = [p for p in descendants(d.pid) if alive(p) and proc_comm(p) == "sh"]
    assert len(shells) == 1, shells
    conn.close()
    return shells + sleeps


def test_stdcopy_client_disconnect_kills_the_group(daemon):
    # a command that prints nothing: the daemon must notice the client leaving anyway
    victims = _start_then_disconnect(daemon, "sleep 1000 & sleep 1000")
    wait_gone(victims, "the command and its child to be killed after the client went away")


def test_stdcopy_client_disconnect_kills_a_chatty_group(daemon):
    victims = _start_then_disconnect(
        daemon, "sleep 1000 & sleep 1000 & while :; do echo tick; sleep 0.05; done")
    wait_gone(victims, "the chatty command and its children to be killed after the client "
              "went away")


def test_v1_exec_client_disconnect_kills_the_group(daemon):
    victims = _start_then_disconnect(daemon, "sleep 1000 & sleep 1000", "/v1/exec")
    wait_gone(victims, "the command and its child to be killed after the client went away")


@pytest.mark.timeout(120)
def test_stdcopy_slow_reader_gets_everything_with_bounded_memory(daemon):
    total = 64 * MIB
    expected = hashlib.sha256(seq_bytes(total)).hexdigest()
    # warm up (first exec, allocator pools), then take the baseline
    exec_stdcopy(daemon, {"command": ["true"]})
    base = proc_rss_kib(daemon.pid)
    s = Streamed(daemon, "POST", "/exec", {"command": seq_command(total)}, rcvbuf=16384,
                 timeout=DEADLINE * 3)
    assert s.status == 200
    p = Stdcopy(keep=False)
    peak = base
    since_pause = 0
    producer_seen = None
    try:
        while True:
            data = s.read_some(16384)
            if not data:
                break
            p.feed(data)
            since_pause += len(data)
            if since_pause >= 2 * MIB:  # read slowly: stop now and then
                since_pause = 0
                time.sleep(0.05)
                peak = max(peak, proc_rss_kib(daemon.pid))
                if producer_seen is None:
                    # with 2 of 64 MiB read, the producer must be blocked, not buffered for
                    producer_seen = producer_running(daemon)
    finally:
        s.close()
    p.finish()
    assert producer_seen, "the command had finished when the client had read 2 of 64 MiB"
    assert p.count == [total, 0]
    assert p.sha[0].hexdigest() == expected
    assert p.exit == 0
    growth = peak - base
    assert growth < 24 * 1024, f"daemon RSS grew by {growth} KiB while streaming 64 MiB"


@pytest.mark.timeout(120)
def test_stream_with_leader_gone_stays_lossless_and_bounded(daemon_factory):
    # The leader exits at once; its child goes on writing to the pipes. With a long drain
    # timeout the child's output is part of the stream: it must stay lossless, and a slow client
    # must still cost bounded memory (the child blocks, it is not buffered).
    d = daemon_factory(config={"exec": {"drain_timeout": "60s"}})
    total = 48 * MIB
    expected = hashlib.sha256(seq_bytes(total)).hexdigest()
    exec_stdcopy(d, {"command": ["true"]})
    base = proc_rss_kib(d.pid)
    script = f"(seq 1 100000000 | head -c {total}) & exit 0"
    s = Streamed(d, "POST", "/exec", {"command": ["sh", "-c", script]}, rcvbuf=16384,
                 timeout=DEADLINE * 3)
    assert s.status == 200
    p = Stdcopy(keep=False)
    peak = base
    since_pause = 0
    producer_seen = None
    try:
        while True:
            data = s.read_some(16384)
            if not data:
                break
            p.feed(data)
            since_pause += len(data)
            if since_pause >= 2 * MIB:
                since_pause = 0
                time.sleep(0.05)
                peak = max(peak, proc_rss_kib(d.pid))
                if producer_seen is None:
                    producer_seen = producer_running(d)
    finally:
        s.close()
    p.finish()
    assert p.exit == 0
    lost = [line for line in d.stderr().splitlines() if "attached stream lost" in line]
    assert p.count == [total, 0], (f"received {p.count[0]} of {total} stdout bytes; the daemon "
                                   f"logged {len(lost)} lines like {lost[:1]}")
    assert p.sha[0].hexdigest() == expected
    growth = peak - base
    assert growth < 24 * 1024, f"daemon RSS grew by {growth} KiB while streaming {total} bytes"
    assert producer_seen, f"the child had finished when the client had read 2 of {total} bytes"


def test_late_output_of_a_child_comes_before_the_exit_frame(daemon_factory):
    d = daemon_factory(config={"exec": {"drain_timeout": "30s"}})
    p = exec_stdcopy(d, {"command": ["sh", "-c", "(sleep 0.3; echo late) & echo early"]})
    assert p.stdout == b"early\nlate\n"
    assert p.exit == 0


def test_drain_timeout_ends_the_stream_when_a_child_keeps_the_pipes(daemon_factory):
    d = daemon_factory(config={"exec": {"drain_timeout": "200ms"}})
    try:
        p = exec_stdcopy(d, {"command": ["sh", "-c", "sleep 1000 & echo leader done"]})
        assert p.stdout == b"leader done\n"
        assert p.exit == 0
    finally:
        for pid in long_sleeps(d):  # the orphan is not the API's to kill any more
            os.kill(pid, 9)


# --------------------------------------------------------------------------------------------
# POST /exec?cmd=…: sprite framing


def test_sprite_echo_exact_bytes(daemon):
    status, headers, body = exec_sprite(daemon, [("cmd", "echo"), ("cmd", "hello")])
    assert status == 200
    assert headers.get("content-type") == "application/octet-stream"
    assert body == bytes.fromhex("01 68 65 6c 6c 6f 0a 03 00")
    status, _, body = exec_sprite(daemon, [("cmd[]", "echo"), ("cmd[]", "hello")])
    assert status == 200
    assert body == b"\x01hello\n\x03\x00"


def test_sprite_stderr_and_exit_code(daemon):
    status, _, body = exec_sprite(daemon, [("cmd", "sh"), ("cmd", "-c"),
                                           ("cmd", "echo oops >&2; exit 3")])
    assert status == 200
    assert body == b"\x02oops\n\x03\x03"


def test_sprite_stdin_from_body(daemon):
    status, _, body = exec_sprite(daemon, [("cmd", "cat"), ("stdin", "true")], body=b"abc\n")
    assert status == 200
    assert body == b"\x01abc\n\x03\x00"
    data = os.urandom(100 * 1024)
    status, _, body = exec_sprite(daemon, [("cmd", "sha256sum"), ("stdin", "true")], body=data)
    assert status == 200
    assert body == b"\x01" + hashlib.sha256(data).hexdigest().encode() + b"  -\n\x03\x00"
    # without stdin=true the body is not stdin: cat reads /dev/null
    status, _, body = exec_sprite(daemon, [("cmd", "cat")], body=b"ignored")
    assert status == 200
    assert body == b"\x03\x00"


def test_sprite_env_dir_and_path(daemon, tmp_path):
    status, _, body = exec_sprite(daemon, [("cmd", "sh"), ("cmd", "-c"),
                                           ("cmd", 'echo "$K1 $K2 $(pwd)"'), ("env", "K1=V1"),
                                           ("env", "K2=a=b"), ("dir", str(tmp_path))])
    assert status == 200
    # one write, so one frame (frames carry no length: only their boundaries are unknown)
    assert body == b"\x01V1 a=b " + str(tmp_path).encode() + b"\n\x03\x00"
    # path replaces cmd[0]
    status, _, body = exec_sprite(daemon, [("path", "/bin/echo"), ("cmd", "not-a-binary"),
                                           ("cmd", "x")])
    assert status == 200
    assert body == b"\x01x\n\x03\x00"


def test_sprite_errors(daemon):
    def post(params):
        return daemon.request("POST", "/exec?" + qs(params))

    assert_error_message(post([("cmd", "ls"), ("tty", "true")]), 400, "bad_request",
                         "TTY not supported on POST /exec")
    for k in ("id", "detachable", "cc"):
        assert_error_message(post([("cmd", "ls"), (k, "x")]), 400, "bad_request",
                             "Unsupported parameters for POST /exec")
    # an empty id is not "non-empty"
    r = post([("cmd", "true"), ("id", "")])
    assert r.status == 200 and r.body == b"\x03\x00", r
    assert_error_message(post([("path", "")]), 400, "bad_request", "No command specified")
    # An empty cmd is no command either. (The daemon answers 400 bad_request "no command given"
    # here, not "No command specified": only the status and code are checked.)
    assert_error(post([("stdin", "false"), ("cmd", "")]), 400, "bad_request")
    assert_error(post([("cmd", "sh"), ("dir", "/no/such/dir")]), 400, "bad_request")


# --------------------------------------------------------------------------------------------
# POST /exec, JSON body: request errors


@pytest.mark.parametrize("body, status, code", [
    (b"{bad json", 400, "bad_request"),
    (b"", 400, "bad_request"),
    (b"[1, 2]", 400, "bad_request"),
    (b"{}", 400, "bad_request"),
    (b'{"command": []}', 400, "bad_request"),
    (b'{"command": "ls"}', 400, "bad_request"),
    (b'{"command": ["ls", 1]}', 400, "bad_request"),
    (b'{"command": ["true"], "timeout": "5x"}', 400, "bad_request"),
    (b'{"command": ["true"], "stdin": 5}', 400, "bad_request"),
    (b'{"command": ["true"], "env": ["NOEQUALS"]}', 400, "bad_request"),
    (b'{"command": ["true"], "user": "no-such-user-e2e"}', 400, "bad_request"),
    (b'{"Cmd": []}', 400, "bad_request"),
    (b'{"Cmd": "ls"}', 400, "bad_request"),
])
def test_stdcopy_request_errors(daemon, body, status, code):
    r = daemon.request("POST", "/exec", body=body, headers={"Content-Type": "application/json"})
    assert_error(r, status, code)


def test_stdcopy_missing_dir_is_400_chdir(daemon):
    r = daemon.request("POST", "/exec", body={"command": ["true"], "dir": "/no/such/dir"})
    assert_error(r, 400, "bad_request")
    assert "chdir" in r.json()["message"], r


def test_stdcopy_env_dir_user(daemon):
    # (a directory nobody may enter: pytest's tmp_path is private to root)
    p = exec_stdcopy(daemon, {"command": ["sh", "-c", 'echo "$A"; pwd; id -u'],
                              "env": ["A=b c"], "dir": "/usr/share", "user": "nobody"})
    assert p.stdout == f"b c\n/usr/share\n{nobody_uid()}\n".encode()
    assert p.exit == 0


# --------------------------------------------------------------------------------------------
# POST /v1/exec, synchronous


def test_v1_exec_echo(daemon):
    r = v1_ok(daemon, {"cmd": "echo", "args": ["hello", "world"]})
    assert r["cmd"] == "echo"
    assert isinstance(r["pid"], int) and r["pid"] > 0
    assert re.fullmatch(r"proc-[0-9a-f]{8}", r["tag"]), r
    assert r["stdout"] == "hello world\n"
    assert r["stderr"] == ""
    assert r["exit_code"] == 0
    assert "signal" not in r
    assert r["timed_out"] is False
    assert isinstance(r["duration_ms"], int) and r["duration_ms"] >= 0
    assert r["encoding"] == "utf-8"
    assert r["truncated"] is False


def test_v1_exec_stderr_and_exit_code(daemon):
    r = v1_ok(daemon, {"cmd": "sh", "args": ["-c", "echo out; echo err >&2; exit 3"]})
    assert (r["stdout"], r["stderr"], r["exit_code"]) == ("out\n", "err\n", 3), r
    r = v1_ok(daemon, {"cmd": "sh", "args": ["-c", "kill -9 $$"]})
    assert r["exit_code"] == 137 and r["signal"] == "SIGKILL", r


def test_v1_exec_binary_output_is_base64(daemon):
    r = v1_ok(daemon, {"cmd": "printf", "args": ["\\377\\000"]})
    assert r["encoding"] == "base64", r
    assert r["stdout"] == "/wA=", r
    assert r["stderr"] == "", r
    r = v1_ok(daemon, {"cmd": "sh", "args": ["-c", "echo text; printf '\\377' >&2"]})
    assert r["encoding"] == "base64", r
    assert r["stdout"] == "dGV4dAo=" and r["stderr"] == "/w==", r
    r = v1_ok(daemon, {"cmd": "printf", "args": ["h\\303\\251"]})  # valid UTF-8 stays text
    assert r["encoding"] == "utf-8" and r["stdout"] == "h\u00e9", r


def test_v1_exec_envs_and_cwd(daemon, tmp_path):
    r = v1_ok(daemon, {"cmd": "sh", "args": ["-c", 'echo "$FOO|$BAR"; pwd'],
                       "envs": {"FOO": "foo value", "BAR": ""}, "cwd": str(tmp_path)})
    assert r["stdout"] == f"foo value|\n{tmp_path}\n", r
    # the daemon's environment is inherited, an entry of the request replaces it
    r = v1_ok(daemon, {"cmd": "sh", "args": ["-c", 'echo "$SPRITE_WRITE_DIR"']})
    assert r["stdout"] == f"{daemon.state_dir}\n", r
    r = v1_ok(daemon, {"cmd": "sh", "args": ["-c", 'echo "$SPRITE_WRITE_DIR"'],
                       "envs": {"SPRITE_WRITE_DIR": "replaced"}})
    assert r["stdout"] == "replaced\n", r


def test_v1_exec_user(daemon):
    r = v1_ok(daemon, {"cmd": "id", "args": ["-u"], "user": "nobody"})
    assert r["stdout"] == f"{nobody_uid()}\n", r
    assert r["exit_code"] == 0


def test_v1_exec_unknown_user_and_missing_cwd(daemon):
    assert_error(v1_exec(daemon, {"cmd": "true", "user": "no-such-user-e2e"}), 400, "bad_request")
    r = v1_exec(daemon, {"cmd": "true", "cwd": "/no/such/dir"})
    assert_error(r, 400, "bad_request")
    assert "chdir" in r.json()["message"], r


def test_v1_exec_exec_failures(daemon, tmp_path):
    r = v1_ok(daemon, {"cmd": "no-such-binary-e2e", "args": ["x"]})
    assert r["exit_code"] == 127, r
    assert "No such file or directory" in r["error"], r
    assert "no-such-binary-e2e" in r["stderr"], r
    r = v1_ok(daemon, {"cmd": str(tmp_path)})
    assert r["exit_code"] == 126, r
    assert "Permission denied" in r["error"], r


def test_v1_exec_timeout(daemon):
    r = v1_ok(daemon, {"cmd": "sh", "args": ["-c", "echo before; sleep 1000 & sleep 1000"],
                       "timeout_sec": 1})
    assert r["timed_out"] is True, r
    assert r["exit_code"] == 137, r
    assert r["signal"] == "SIGKILL", r
    assert r["stdout"] == "before\n", r
    wait_for(lambda: not long_sleeps(daemon),
             what="the whole group of the timed-out command to be killed")


def test_v1_exec_stdin(daemon):
    r = v1_ok(daemon, {"cmd": "cat", "stdin": "to cat\n"})
    assert r["stdout"] == "to cat\n" and r["exit_code"] == 0, r
    r = v1_ok(daemon, {"cmd": "cat"})  # no stdin: /dev/null, cat ends at once
    assert r["stdout"] == "" and r["exit_code"] == 0, r


def test_v1_exec_output_over_log_bytes_is_truncated(daemon):
    total = 3 * MIB
    full = seq_bytes(total)
    r = v1_ok(daemon, {"cmd": "sh", "args": ["-c", f"seq 1 100000000 | head -c {total}"]})
    assert r["exit_code"] == 0
    assert r["encoding"] == "utf-8"
    assert r["truncated"] is True
    out = r["stdout"].encode()
    assert 0 < len(out) <= MIB, len(out)
    assert full.endswith(out), "stdout is not the tail of the output"


def test_v1_exec_log_bytes_from_config(daemon_factory):
    d = daemon_factory(config={"exec": {"log_bytes": 262144}})
    total = MIB
    full = seq_bytes(total)
    r = v1_ok(d, {"cmd": "sh", "args": ["-c", f"seq 1 100000000 | head -c {total}; "
                                         "echo small >&2"]})
    assert r["truncated"] is True
    out = r["stdout"].encode()
    assert 0 < len(out) <= 262144, len(out)
    assert full.endswith(out), "stdout is not the tail of the output"
    assert r["stderr"] == "small\n"
    listed = d.request("GET", f"/v1/processes/{r['pid']}").json()
    assert listed["stdout_bytes"] == total and listed["stderr_bytes"] == 6, listed


@pytest.mark.parametrize("body", [
    b"{bad json", b"", b"[]", b"{}", b'{"cmd": ""}', b'{"cmd": 5}', b'{"cmd": "true", "args": "x"}',
    b'{"cmd": "true", "args": [1]}', b'{"cmd": "true", "envs": ["A=B"]}',
    b'{"cmd": "true", "envs": {"A": 1}}', b'{"cmd": "true", "timeout_sec": -1}',
    b'{"cmd": "true", "timeout_sec": "1s"}', b'{"cmd": "true", "stdin": 1}',
    b'{"cmd": "true", "tag": 7}',
])
def test_v1_exec_bad_requests(daemon, body):
    r = daemon.request("POST", "/v1/exec", body=body, headers={"Content-Type": "application/json"})
    assert_error(r, 400, "bad_request")


# --------------------------------------------------------------------------------------------
# configuration: wrapper, argument limit


def test_wrapper_command_prefixes_every_exec(daemon_factory):
    d = daemon_factory(config={"exec": {"wrapper_command": ["env", "WRAPPED=1"]}})
    script = 'echo "wrapped=$WRAPPED"'
    p = exec_stdcopy(d, {"command": ["sh", "-c", script]})
    assert p.stdout == b"wrapped=1\n" and p.exit == 0, p.frames
    status, _, body = exec_sprite(d, [("cmd", "sh"), ("cmd", "-c"), ("cmd", script)])
    assert (status, body) == (200, b"\x01wrapped=1\n\x03\x00")
    r = v1_ok(d, {"cmd": "sh", "args": ["-c", script]})
    assert r["stdout"] == "wrapped=1\n", r
    assert r["cmd"] == "sh"
    # the process is listed as requested, without the wrapper
    listed = d.request("GET", f"/v1/processes/{r['pid']}").json()
    assert listed["cmd"] == "sh" and listed["args"] == ["-c", script], listed


def test_args_over_max_args_bytes_is_413(daemon_factory):
    d = daemon_factory(config={"exec": {"max_args_bytes": 4096}})
    big = "a" * 10240
    assert_error(v1_exec(d, {"cmd": "echo", "args": [big]}), 413, "too_large")
    assert_error(v1_exec(d, {"cmd": "true", "envs": {"BIG": big}}), 413, "too_large")
    assert_error(v1_exec(d, {"cmd": "echo", "args": [big], "background": True}), 413,
                 "too_large")
    assert_error(d.request("POST", "/exec", body={"command": ["echo", big]}), 413, "too_large")
    assert_error(d.request("POST", "/exec", body={"command": ["true"], "env": [f"BIG={big}"]}),
                 413, "too_large")
    assert_error(d.request("POST", "/exec?" + qs([("cmd", "echo"), ("cmd", big)])), 413,
                 "too_large")
    # under the limit it runs
    small = "b" * 2000
    r = v1_ok(d, {"cmd": "echo", "args": [small]})
    assert r["stdout"] == small + "\n"


# --------------------------------------------------------------------------------------------
# concurrency


def test_ten_concurrent_execs(daemon):
    results = {}
    errors = []

    def stdcopy(i):
        script = f"echo out{i}; echo err{i} >&2; sleep 0.2; exit {i}"
        p = exec_stdcopy(daemon, {"command": ["sh", "-c", script]})
        results[("stdcopy", i)] = (p.stdout, p.stderr, p.exit)

    def v1(i):
        script = f"echo out{i}; echo err{i} >&2; sleep 0.2; exit {i}"
        r = v1_ok(daemon, {"cmd": "sh", "args": ["-c", script]})
        results[("v1", i)] = (r["stdout"].encode(), r["stderr"].encode(), r["exit_code"])

    def sprite(i):
        status, _, body = exec_sprite(daemon, [("cmd", "sh"), ("cmd", "-c"),
                                               ("cmd", f"sleep 0.2; echo out{i}; exit {i}")])
        results[("sprite", i)] = body

    def run(fn, i):
        try:
            fn(i)
        except BaseException as e:  # noqa: B902 - reported below
            errors.append((fn.__name__, i, repr(e)))

    threads = []
    for i in range(10):
        for fn in (stdcopy, v1, sprite):
            threads.append(threading.Thread(target=run, args=(fn, i)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE * 3)
    assert not errors, errors
    assert not [t for t in threads if t.is_alive()], "some execs did not finish"
    for i in range(10):
        want = (f"out{i}\n".encode(), f"err{i}\n".encode(), i)
        assert results[("stdcopy", i)] == want
        assert results[("v1", i)] == want
        assert results[("sprite", i)] == f"\x01out{i}\n".encode() + bytes([3, i])


def test_tty_process_that_closes_its_terminal_before_exiting_is_not_hung_up(daemon):
    # cat closes 0, 1 and 2 before it exits; the master then reads EIO. Closing the master at
    # that moment hung the terminal up and killed cat with SIGHUP (exit 129) about one time in
    # four: the master must stay open until the process is reaped.
    for _ in range(20):
        p = exec_stdcopy(daemon, {"command": ["cat"], "tty": True, "stdin": "typed\n\u0004"})
        assert p.exit == 0, p.frames


def test_the_api_token_is_not_inherited_by_processes(daemon):
    r = daemon.request("POST", "/v1/exec", body={"cmd": "env"})
    assert r.status == 200, r
    out = r.json()["stdout"]
    assert "SPRITE_HTTP_API_TOKEN" not in out and daemon.token not in out, out
