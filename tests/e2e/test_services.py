# SPDX-License-Identifier: MIT
"""Services (the seed's components): dependency order, readiness checks, restart back-off,
ordered shutdown, definitions from the configuration, a components directory and the API (with
persistence), the /v1/services routes and the local services socket.

The services are small shell scripts. They leave their traces in files the test reads: an
"events" file of lines "WHAT NAME TIME_NS" (one append per line, so the order of the lines is
the order of the events) and "gate" files that the test creates to let a service become ready, so
that the test decides when each service is ready and can look at the daemon in between.
"""

import json
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import sys
import tempfile
import time

import pytest

from conftest import (DEADLINE, SCALE, UnixHTTPConnection, Response, alive, assert_error,
                      free_port, proc_pgid, proc_stat, proc_status, read_file, run_sprite_env,
                      wait_for)


# --------------------------------------------------------------------------------------------
# helpers


def q(path):
    return shlex.quote(str(path))


class World:
    """The files a test shares with its services: tmp/events and tmp/gate-NAME."""

    def __init__(self, tmp):
        self.dir = tmp
        self.events = tmp / "events"

    def gate(self, name):
        return self.dir / f"gate-{name}"

    def open(self, name):
        self.gate(name).touch()

    def mark(self, what):
        """A shell command appending the line "WHAT TIME_NS" to the events file."""
        return f'echo "{what} $(date +%s%N)" >> {q(self.events)}'

    def wait_gate(self, name):
        return f"while [ ! -e {q(self.gate(name))} ]; do sleep 0.01; done"

    def lines(self):
        return read_file(self.events).splitlines()

    def names(self):
        """The events without their times: ["spawn a", "ready a", ...]."""
        return [" ".join(line.split()[:-1]) for line in self.lines()]

    def has(self, what):
        return what in self.names()

    def when(self, what):
        """The time (ns) of the first event WHAT."""
        for line in self.lines():
            parts = line.split()
            if " ".join(parts[:-1]) == what:
                return int(parts[-1])
        pytest.fail(f"no event {what!r} in {self.lines()}")

    def wait(self, what, timeout=None):
        try:
            wait_for(lambda: self.has(what), timeout=timeout, what=f"event {what!r}")
        except pytest.fail.Exception:
            pytest.fail(f"timed out waiting for event {what!r}; events: {self.names()}")


def sh(script, **fields):
    """A definition running a shell script."""
    return {"cmd": ["/bin/sh", "-c", script], **fields}


def gated_notify(w, name, fd=3, **fields):
    """A service that records "spawn NAME", waits for its gate, records "ready NAME", then
    notifies readiness by writing a newline on fd FD."""
    script = (f"{w.mark('spawn ' + name)}; {w.wait_gate(name)}; {w.mark('ready ' + name)}; "
              f"echo >&{fd}; exec sleep 1000 {fd}>&-")
    return sh(script, ready={"notify_fd": fd, "timeout": "60s"}, **fields)


def sleeper(w, name, **fields):
    """A service that records "spawn NAME" and then sleeps. It says it is ready (on fd 3) once
    the line is written, so that "running" implies the line is there."""
    fields.setdefault("ready", {"notify_fd": 3, "timeout": "60s"})
    return sh(f"{w.mark('spawn ' + name)}; echo >&3; exec sleep 1000 3>&-", **fields)


def get_service(d, name, request=None):
    r = (request or d.request)("GET", f"/v1/services/{name}")
    assert r.status == 200, r
    return r.json()


def state_of(d, name):
    return get_service(d, name)["state"]


def wait_status(d, name, status, timeout=None):
    last = {}

    def check():
        last.update(st=state_of(d, name))
        return last["st"] if last["st"]["status"] == status else None

    try:
        return wait_for(check, timeout=timeout, what=f"service {name} to be {status}")
    except pytest.fail.Exception:
        pytest.fail(f"timed out waiting for service {name} to be {status}: {last.get('st')}")


def wait_value(get, pred, what, timeout=None):
    """Polls get() until pred(value) holds; returns that value."""
    def check():
        v = get()
        return v if pred(v) else None

    return wait_for(check, timeout=timeout, what=what)


def wait_state(d, name, pred, what):
    return wait_value(lambda: state_of(d, name), pred, f"service {name}: {what}")


def wait_running(d):
    wait_for(lambda: d.health()["state"] == "running", what="system state running")


def ndjson(body):
    return [json.loads(line) for line in body.decode().splitlines() if line.strip()]


def put(d, name, definition, query="?duration=100ms", request=None):
    """PUT /v1/services/NAME: the NDJSON stream ends after `duration` (or 200 ms after an exit)."""
    return (request or d.request)("PUT", f"/v1/services/{name}{query}", body=definition)


def put_ok(d, name, definition, query="?duration=100ms", request=None):
    r = put(d, name, definition, query, request)
    assert r.status == 200, r
    events = ndjson(r.body)
    assert events[0]["type"] == "started", events
    return events


def lines_of(path):
    return read_file(path).splitlines()


def cpu_seconds(pid):
    st = proc_stat(pid)
    return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")


def group_members(pgids):
    """Live processes whose process group is one of pgids."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit() and proc_pgid(int(name)) in pgids and alive(int(name)):
            out.append(int(name))
    return out


def local_request(path, method, url, body=None, headers=None):
    """A request on the local services socket (no token)."""
    hdrs = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    conn = UnixHTTPConnection(str(path), timeout=DEADLINE)
    try:
        conn.request(method, url, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


def local(d):
    """A request function for the daemon's default services socket."""
    path = d.state_dir / "sprite.sock"
    return lambda method, url, body=None, headers=None: local_request(path, method, url, body,
                                                                      headers)


class Stream:
    """A streamed (chunked) NDJSON response, read one event at a time as the daemon sends it."""

    def __init__(self, address, method, path, headers=None, body=b""):
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(DEADLINE)
        self.sock.connect(address)
        hdrs = {"Host": "sprite-env", **(headers or {})}
        if body:
            hdrs["Content-Length"] = str(len(body))
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
        self.sock.sendall(head.encode() + b"\r\n" + body)
        self.raw = b""
        self.data = b""
        self.ended = False
        self.eof = False
        while b"\r\n\r\n" not in self.raw:
            self._recv(DEADLINE)
            if self.eof:
                pytest.fail(f"connection closed before the response head: {self.raw!r}")
        head, _, self.raw = self.raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip()
                        for k, _, v in (line.partition(":") for line in lines[1:])}
        assert self.headers.get("transfer-encoding", "").lower() == "chunked", self.headers

    def _recv(self, timeout):
        self.sock.settimeout(max(timeout, 0.001))
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            pytest.fail(f"no event within {timeout:.1f}s; pending {self.raw[:200]!r}")
        if not chunk:
            self.eof = True
        self.raw += chunk

    def _decode(self):
        while not self.ended:
            i = self.raw.find(b"\r\n")
            if i < 0:
                return
            size = int(self.raw[:i].split(b";")[0], 16)
            if len(self.raw) < i + 2 + size + 2:
                return
            self.data += self.raw[i + 2:i + 2 + size]
            self.raw = self.raw[i + 2 + size + 2:]
            if size == 0:
                self.ended = True

    def event(self, timeout=None):
        """The next event, or None at the end of the stream."""
        deadline = time.monotonic() + (DEADLINE if timeout is None else timeout)
        while True:
            self._decode()
            if b"\n" in self.data:
                line, _, self.data = self.data.partition(b"\n")
                return json.loads(line)
            if self.ended or self.eof:
                return None
            self._recv(deadline - time.monotonic())

    def close(self):
        self.sock.close()


def refused_config(tmp_path, components):
    """Runs sprite-env with a configuration of these components, which must be refused."""
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"components": components}))
    state = tmp_path / "state"
    r = run_sprite_env(["-config", str(cfg), "-services-socket", ""],
                       env={"SPRITE_WRITE_DIR": str(state)})
    assert r.returncode == 1, (r.returncode, r.stderr)
    return r.stderr


# --------------------------------------------------------------------------------------------
# boot: dependency order, parallel starts, the main process last


def test_diamond_starts_in_dependency_order(daemon_factory, tmp_path):
    """a; b and c need a; d needs b and c. The test opens each service's gate in turn and looks
    at who has been spawned in between."""
    w = World(tmp_path)
    comps = {
        "a": gated_notify(w, "a"),
        "b": gated_notify(w, "b", needs=["a"]),
        "c": gated_notify(w, "c", needs=["a"]),
        "d": gated_notify(w, "d", needs=["b", "c"]),
    }
    d = daemon_factory(config={"components": comps})
    w.wait("spawn a")
    assert w.names() == ["spawn a"]
    assert d.health()["state"] == "booting"
    st = state_of(d, "b")
    assert st["status"] == "starting" and st["waiting_for"] == ["a"] and "pid" not in st, st
    st = state_of(d, "d")
    assert st["status"] == "starting" and st["waiting_for"] == ["b", "c"], st
    assert state_of(d, "a")["status"] == "starting" and "pid" in state_of(d, "a")

    w.open("a")
    w.wait("spawn b")
    w.wait("spawn c")
    # b and c were both spawned while neither was ready: in parallel, once a was ready
    assert w.when("spawn b") > w.when("ready a") and w.when("spawn c") > w.when("ready a")
    assert not w.has("ready b") and not w.has("ready c")
    assert not w.has("spawn d")
    assert state_of(d, "d")["waiting_for"] == ["b", "c"]

    w.open("b")
    wait_status(d, "b", "running")
    # b is running (its readiness has been handled), c is not: d must still wait for c
    st = state_of(d, "d")
    assert st["status"] == "starting" and st["waiting_for"] == ["c"] and "pid" not in st, st
    assert not w.has("spawn d")

    w.open("c")
    w.wait("spawn d")
    assert w.when("spawn d") > max(w.when("ready b"), w.when("ready c"))
    assert d.health()["state"] == "booting"
    w.open("d")
    wait_running(d)
    spawns = [n for n in w.names() if n.startswith("spawn")]
    assert spawns[0] == "spawn a" and spawns[3] == "spawn d", spawns
    assert sorted(spawns[1:3]) == ["spawn b", "spawn c"], spawns
    for name in "abcd":
        st = state_of(d, name)
        assert st["status"] == "running" and st["ready"] is True and st["ready_at"], st


def test_independent_services_start_in_parallel(daemon_factory, tmp_path):
    w = World(tmp_path)
    comps = {n: gated_notify(w, n) for n in ("x", "y", "z")}
    d = daemon_factory(config={"components": comps})
    for n in ("x", "y", "z"):
        w.wait(f"spawn {n}")  # all three spawned while none is ready
    assert not any(w.has(f"ready {n}") for n in ("x", "y", "z"))
    for n in ("x", "y", "z"):
        assert state_of(d, n)["status"] == "starting"
        w.open(n)
    wait_running(d)


def test_main_process_starts_after_every_service_is_ready(daemon_factory, tmp_path):
    w = World(tmp_path)
    comps = {
        # the seed's shape: start_command and ready_command
        "db": {"start_command": ["/bin/sh", "-c", f"{w.mark('spawn db')}; exec sleep 1000"],
               "ready_command": ["/bin/sh", "-c",
                                 f"test -e {q(w.gate('db'))} && {w.mark('ready db')}"]},
        "queue": gated_notify(w, "queue"),
    }
    main = ["/bin/sh", "-c", f"{w.mark('main')}; exec sleep 1000"]
    d = daemon_factory(config={"components": comps}, command=main)
    w.wait("spawn db")
    w.wait("spawn queue")
    h = d.health()
    assert h["state"] == "booting", h
    assert h["services"]["total"] == 2 and h["services"]["starting"] == 2, h

    w.open("db")
    wait_status(d, "db", "running")
    h = d.health()
    assert h["state"] == "booting" and h["services"]["running"] == 1, h
    assert not w.has("main")

    w.open("queue")
    w.wait("main")
    assert w.when("main") > w.when("ready db") and w.when("main") > w.when("ready queue")
    wait_running(d)
    s = d.system()
    assert s["state"] == "running" and s["services"]["running"] == 2, s
    assert "error" not in s
    d.main_pid(comm="sleep")


# --------------------------------------------------------------------------------------------
# readiness checks


def test_ready_by_command(daemon, tmp_path):
    w = World(tmp_path)
    probe = ["/bin/sh", "-c", f'test "$CHECK" = yes && test -e {q(w.gate("cmd"))}']
    put_ok(daemon, "cmd", sleeper(w, "cmd", env={"CHECK": "yes"},
                                  ready={"command": probe, "interval": "20ms", "timeout": "60s"}))
    w.wait("spawn cmd")
    st = state_of(daemon, "cmd")
    assert st["status"] == "starting" and st["ready"] is False and "pid" in st, st
    assert "waiting_for" not in st and "ready_at" not in st
    w.open("cmd")
    st = wait_status(daemon, "cmd", "running")
    assert st["ready"] is True and st["ready_at"] and "error" not in st, st


HTTP_SERVER = r'''
import os, socket, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
kind, port, gate, log = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
if kind == "tcp":
    while not os.path.exists(gate):
        time.sleep(0.01)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    while True:
        c, _ = s.accept()
        c.close()
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        code = 200 if os.path.exists(gate) else 503
        with open(log, "a") as f:
            f.write(f"{self.path} {code}\n")
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
HTTPServer(("127.0.0.1", port), H).serve_forever()
'''


def test_ready_by_tcp_port(daemon, tmp_path):
    server = tmp_path / "server.py"
    server.write_text(HTTP_SERVER)
    gate, port = tmp_path / "gate", free_port()
    put_ok(daemon, "tcp", {"cmd": [sys.executable, str(server), "tcp", str(port), str(gate),
                                   str(tmp_path / "log")],
                           "ready": {"tcp": port, "interval": "20ms", "timeout": "60s"}})
    st = state_of(daemon, "tcp")
    assert st["status"] == "starting" and st["ready"] is False, st
    gate.touch()
    wait_status(daemon, "tcp", "running")
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE):
        pass


def test_ready_by_http_needs_a_2xx(daemon, tmp_path):
    server = tmp_path / "server.py"
    server.write_text(HTTP_SERVER)
    gate, log, port = tmp_path / "gate", tmp_path / "requests.log", free_port()
    put_ok(daemon, "web", {"cmd": [sys.executable, str(server), "http", str(port), str(gate),
                                   str(log)],
                           "ready": {"http": f"http://127.0.0.1:{port}/healthz?probe=1",
                                     "interval": "20ms", "timeout": "60s"}})
    # the server is up and has answered the probe 503 (twice): not ready
    wait_for(lambda: lines_of(log).count("/healthz?probe=1 503") >= 2, what=f"503s in {log}")
    st = state_of(daemon, "web")
    assert st["status"] == "starting" and st["ready"] is False, st
    gate.touch()
    wait_status(daemon, "web", "running")
    assert "/healthz?probe=1 200" in lines_of(log)


def test_ready_by_notification_fd(daemon, tmp_path):
    w = World(tmp_path)
    put_ok(daemon, "note", gated_notify(w, "note", fd=7))
    w.wait("spawn note")
    st = state_of(daemon, "note")
    assert st["status"] == "starting" and st["ready"] is False and "pid" in st, st
    # a start while it is starting is refused
    assert_error(daemon.request("POST", "/v1/services/note/start"), 409, "conflict")
    w.open("note")
    st = wait_status(daemon, "note", "running")
    assert st["ready"] is True


def test_notification_fd_closed_without_newline_is_not_ready(daemon_factory, tmp_path):
    comps = {"mute": sh("exec 4>&-; exec sleep 1000", ready={"notify_fd": 4, "timeout": "300ms"})}
    d = daemon_factory(config={"components": comps}, ready=False)
    assert d.wait() == 1, d.stderr()
    assert ("service mute failed: not ready within 300ms: fd 4 was closed without a newline "
            "written to it") in d.stderr()


# --------------------------------------------------------------------------------------------
# boot failures


def test_service_never_ready_fails_boot_with_clear_message(daemon_factory, tmp_path):
    w = World(tmp_path)
    comps = {
        "slow": sh(f"echo pid $$ >> {q(tmp_path / 'pids')}; exec sleep 1000",
                   ready={"command": ["false"], "interval": "50ms", "timeout": "500ms"}),
        "after": sleeper(w, "after", needs=["slow"]),
    }
    marker = tmp_path / "main-ran"
    d = daemon_factory(config={"components": comps}, command=["touch", marker], ready=False)
    start = time.monotonic()
    assert d.wait() == 1, d.stderr()
    assert time.monotonic() - start >= 0.45
    err = d.stderr()
    assert re.search(r"boot failed: service slow failed: not ready within 500ms: ready command "
                     r"exited with code 1", err), err
    # the cause is named, not its consequence (after: "needs slow, which failed")
    assert re.findall(r"boot failed: service (\S+) failed", err) == ["slow"], err
    assert not marker.exists(), "the main process ran although the boot failed"
    assert not w.has("spawn after")
    pid = int(read_file(tmp_path / "pids").split()[1])
    assert not alive(pid)


def test_exit_before_ready_fails_boot_whatever_the_restart_policy(daemon_factory):
    comps = {"early": sh("exit 2", restart="always", backoff={"initial": "10ms"},
                         ready={"command": ["false"], "timeout": "30s"})}
    d = daemon_factory(config={"components": comps}, command=["true"], ready=False)
    assert d.wait() == 1, d.stderr()
    assert "boot failed: service early failed: exited with code 2 before it was ready" in d.stderr()


def test_boot_failure_with_keep_alive_on_error_shows_error_state(daemon_factory):
    comps = {"broken": sh("exec sleep 1000", ready={"command": ["false"], "interval": "50ms",
                                                    "timeout": "300ms"})}
    d = daemon_factory(config={"components": comps}, args=["-keep-alive-on-error"],
                       command=["sleep", "1000"])
    h = wait_value(d.health, lambda h: h["state"] == "error", "system state error")
    assert "service broken failed: not ready within 300ms" in h["error"], h
    s = d.system()
    assert s["state"] == "error" and s["error"] == h["error"], s
    st = wait_status(d, "broken", "failed")
    assert st["error"].startswith("not ready within 300ms"), st
    assert d.system()["services"]["failed"] == 1
    assert d.health()["process"] is None or d.health()["process"].get("pid") is None
    d.send_signal(signal.SIGTERM)
    assert d.wait() == 1, d.stderr()


# --------------------------------------------------------------------------------------------
# restarts


def spawn_times(path):
    return [int(x) for x in lines_of(path)]


def test_restart_always_backs_off_exponentially_up_to_max(daemon, tmp_path):
    spawns = tmp_path / "spawns"
    put_ok(daemon, "flappy", sh(f"date +%s%N >> {q(spawns)}", restart="always",
                                backoff={"initial": "200ms", "max": "800ms"}))
    times = wait_value(lambda: spawn_times(spawns), lambda t: len(t) >= 5, "5 spawns",
                       timeout=DEADLINE + 3)
    gaps = [(b - a) / 1e6 for a, b in zip(times, times[1:])][:4]
    expected = [200, 400, 800, 800]
    for gap, want in zip(gaps, expected):
        # the delay runs from the end of one process to the spawn of the next: a strict lower
        # bound (1 ms for timer rounding); the upper bound only catches a missing back-off cap
        assert want - 1 <= gap <= want + 350 * SCALE, (gaps, expected)
    st = state_of(daemon, "flappy")
    n = len(spawn_times(spawns))
    assert st["restarts"] in (n - 1, n), (st, n)
    st = wait_status(daemon, "flappy", "backoff")
    assert st["next_restart_at"] and st["exit_code"] == 0, st
    r = daemon.request("POST", "/v1/services/flappy/stop")
    assert r.status == 204, r
    st = state_of(daemon, "flappy")
    assert st["status"] == "stopped" and "next_restart_at" not in st, st


def test_restart_on_failure_does_not_restart_a_clean_exit(daemon, tmp_path):
    spawns = tmp_path / "spawns"
    put_ok(daemon, "clean", sh(f"date +%s%N >> {q(spawns)}; exit 0", restart="on-failure",
                               backoff={"initial": "10ms"}))
    st = wait_status(daemon, "clean", "stopped")
    assert st["exit_code"] == 0 and st["restarts"] == 0 and "error" not in st, st
    assert len(spawn_times(spawns)) == 1


def test_restart_on_failure_restarts_a_failure(daemon, tmp_path):
    spawns = tmp_path / "spawns"
    put_ok(daemon, "failing", sh(f"date +%s%N >> {q(spawns)}; exit 1", restart="on-failure",
                                 backoff={"initial": "50ms", "max": "50ms"}))
    wait_for(lambda: len(spawn_times(spawns)) >= 3, what="3 spawns")
    st = wait_state(daemon, "failing", lambda s: s["restarts"] >= 2, "2 restarts")
    assert st["exit_code"] == 1 and st["status"] != "failed", st


@pytest.mark.parametrize("script, code, error", [
    ("exit 3", 3, "exited with code 3"),
    ("kill -KILL $$", 137, "killed by SIGKILL"),
], ids=["exit-code", "signal"])
def test_restart_no_leaves_a_failure_failed(daemon, tmp_path, script, code, error):
    spawns = tmp_path / "spawns"
    events = put_ok(daemon, "once", sh(f"date +%s%N >> {q(spawns)}; {script}", restart="no"),
                    query="?duration=5s")
    assert {"type": "exit", "exit_code": code} in [
        {k: v for k, v in e.items() if k in ("type", "exit_code")} for e in events], events
    st = wait_status(daemon, "once", "failed")
    assert st["error"] == error and st["exit_code"] == code and st["restarts"] == 0, st
    assert len(spawn_times(spawns)) == 1


def test_crash_loop_does_not_burn_cpu(daemon, tmp_path):
    spawns = tmp_path / "spawns"
    put_ok(daemon, "crashy", sh(f"date +%s%N >> {q(spawns)}; exit 1", restart="always",
                                backoff={"initial": "100ms", "max": "1s"}))
    wait_for(lambda: spawn_times(spawns), what="the first spawn")
    cpu0, t0 = cpu_seconds(daemon.pid), time.monotonic()
    # delays 100, 200, 400, 800, 1000 ms: the sixth spawn comes 2.5 s after the first
    times = wait_value(lambda: spawn_times(spawns), lambda t: len(t) >= 6, "6 spawns")
    elapsed = time.monotonic() - t0
    cpu = cpu_seconds(daemon.pid) - cpu0
    assert (times[5] - times[0]) / 1e9 >= 2.499, times
    assert len(times) < 10, times
    assert cpu < 0.5 * max(1.0, SCALE), f"daemon used {cpu:.2f}s of CPU in {elapsed:.2f}s"
    assert state_of(daemon, "crashy")["restarts"] >= 5


# --------------------------------------------------------------------------------------------
# stopping and shutdown


def test_stop_refused_while_needed(daemon_factory, tmp_path):
    w = World(tmp_path)
    comps = {"base": sleeper(w, "base"), "top": sleeper(w, "top", needs=["base"])}
    d = daemon_factory(config={"components": comps})
    wait_running(d)
    r = d.request("POST", "/v1/services/base/stop")
    assert_error(r, 409, "conflict")
    assert "needed by top" in r.json()["message"], r
    assert_error(d.request("POST", "/v1/services/base/restart"), 409, "conflict")
    assert state_of(d, "base")["status"] == "running"
    # a configured service cannot be deleted through the API
    assert_error(d.request("DELETE", "/v1/services/base"), 409, "conflict")

    base_pid, top_pid = state_of(d, "base")["pid"], state_of(d, "top")["pid"]
    assert d.request("POST", "/v1/services/top/stop").status == 204
    assert not alive(top_pid)
    assert state_of(d, "top")["status"] == "stopped"
    assert d.request("POST", "/v1/services/base/stop").status == 204
    assert not alive(base_pid)
    # starting top starts what it needs first
    assert d.request("POST", "/v1/services/top/start").status == 204
    wait_status(d, "top", "running")
    assert state_of(d, "base")["status"] == "running"
    starts = [line.split("service ")[1] for line in d.stderr().splitlines()
              if re.search(r"service \w+: started, pid", line)]
    assert [s.split(":")[0] for s in starts] == ["base", "top", "base", "top"], starts


def trapping(w, name, linger="0.2", **fields):
    """A service that records "up NAME PID", and on SIGTERM records "stop NAME", lingers, records
    "exit NAME" and exits 0. ("up" comes once the trap is set and the sleep is forked, so that
    a SIGTERM after it reaches both; it is ready, on fd 3, once "up" is written.)"""
    fields.setdefault("ready", {"notify_fd": 3, "timeout": "60s"})
    return sh(f"trap '{w.mark('stop ' + name)}; sleep {linger}; {w.mark('exit ' + name)}; exit 0' "
              f"TERM; sleep 1000 3>&- & echo \"up {name} $$\" >> {q(w.events)}; echo >&3; "
              "exec 3>&-; wait", **fields)


def test_shutdown_stops_in_reverse_dependency_order(daemon_factory, tmp_path):
    w = World(tmp_path)
    comps = {
        "a": trapping(w, "a"),
        "b": trapping(w, "b", needs=["a"]),
        "c": trapping(w, "c", linger="0.5", needs=["b"]),
        "d": trapping(w, "d", linger="0.5", needs=["b"]),
    }
    main = ["/bin/sh", "-c", f"trap '{w.mark('stop main')}; exit 0' TERM; sleep 1000 & "
                             f"{w.mark('main up')}; wait"]
    d = daemon_factory(config={"components": comps}, command=main)
    w.wait("main up")
    pids = {}
    for line in w.lines():
        if line.startswith("up "):
            _, name, pid = line.split()
            pids[name] = int(pid)
    assert sorted(pids) == ["a", "b", "c", "d"], w.lines()
    d.send_signal(signal.SIGTERM)
    assert d.wait() == 0, d.stderr()
    order = [n for n in w.names() if n.split()[0] in ("stop", "exit")]
    pos = {n: i for i, n in enumerate(order)}
    assert order[0] == "stop main", order
    # c and d (which need b) end before b is asked to stop, b before a
    for dep in ("c", "d"):
        assert pos[f"exit {dep}"] < pos["stop b"], order
    assert pos["exit b"] < pos["stop a"], order
    assert order[-2:] == ["stop a", "exit a"], order
    # c and d were stopped in parallel: d was asked to stop before c had finished (they linger)
    assert pos["stop d"] < pos["exit c"] and pos["stop c"] < pos["exit d"], order
    assert not [p for p in pids.values() if alive(p)]
    assert group_members(set(pids.values())) == []


def test_shutdown_sigkills_a_service_after_its_stop_timeout(daemon_factory, tmp_path):
    w = World(tmp_path)
    comps = {
        "stubborn": sh(f"trap '' TERM; echo \"up stubborn $$\" >> {q(w.events)}; exec sleep 1000",
                       stop_timeout="500ms"),
        "quick": sh(f"echo \"up quick $$\" >> {q(w.events)}; exec sleep 1000",
                    needs=["stubborn"]),
    }
    d = daemon_factory(config={"components": comps})
    wait_for(lambda: len(w.lines()) == 2, what="both services up")
    pids = {line.split()[1]: int(line.split()[2]) for line in w.lines()}
    start = time.monotonic()
    d.send_signal(signal.SIGTERM)
    assert d.wait() == 0, d.stderr()
    assert time.monotonic() - start >= 0.45
    err = d.stderr()
    killed = f"service stubborn: process group {pids['stubborn']} still running after 500 ms: " \
             "sending SIGKILL"
    assert killed in err, err
    assert err.index("service quick: process killed by SIGTERM") < err.index(killed), err
    assert not alive(pids["stubborn"]) and not alive(pids["quick"])


def test_api_stop_sigkills_after_stop_timeout(daemon, tmp_path):
    w = World(tmp_path)
    put_ok(daemon, "stubborn", sh(f"trap '' TERM; {w.mark('up')}; exec sleep 1000",
                                  stop_timeout="300ms", stop_signal="TERM"))
    w.wait("up")
    pid = wait_status(daemon, "stubborn", "running")["pid"]
    start = time.monotonic()
    r = daemon.request("POST", "/v1/services/stubborn/stop")
    assert r.status == 204, r
    assert time.monotonic() - start >= 0.28
    assert not alive(pid)
    st = state_of(daemon, "stubborn")
    assert st["status"] == "stopped" and st["exit_code"] == 137, st


# --------------------------------------------------------------------------------------------
# definitions: refused graphs, persistence, the components directory


@pytest.mark.parametrize("needs, cycle", [
    ({"a": ["b"], "b": ["a"]}, r"dependency cycle: (a -> b -> a|b -> a -> b)"),
    ({"a": ["b"], "b": ["c"], "c": ["a"]},
     r"dependency cycle: (a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c)"),
], ids=["two", "three"])
def test_dependency_cycle_refused_at_start(tmp_path, needs, cycle):
    comps = {n: {"cmd": ["sleep", "1000"], "needs": ns} for n, ns in needs.items()}
    comps["free"] = {"cmd": ["sleep", "1000"]}
    err = refused_config(tmp_path, comps)
    assert re.search(cycle, err), err


@pytest.mark.parametrize("comps, message", [
    ({"web": {"cmd": "true", "needs": ["api"]}}, "service web needs api, which is not defined"),
    ({"db": {"cmd": "true", "needs": ["db"]}}, "service db cannot depend on itself"),
], ids=["missing", "self"])
def test_missing_or_self_need_refused_at_start(tmp_path, comps, message):
    err = refused_config(tmp_path, comps)
    assert message in err, err


def test_put_with_a_missing_or_self_need_is_400(daemon):
    r = put(daemon, "web", {"cmd": ["sleep", "1000"], "needs": ["ghost"]})
    assert_error(r, 400, "invalid_service")
    assert "service web needs ghost, which is not defined" in r.json()["message"], r
    r = put(daemon, "self", {"cmd": ["sleep", "1000"], "needs": ["self"]})
    assert_error(r, 400, "invalid_service")
    assert "cannot depend on itself" in r.json()["message"], r
    assert daemon.request("GET", "/v1/services").json() == []
    assert_error(daemon.request("GET", "/v1/services/web"), 404, "not_found")
    assert not (daemon.state_dir / "services" / "web.json").exists()


def strip_state(svc):
    return {k: v for k, v in svc.items() if k != "state"}


def test_api_definitions_survive_a_daemon_restart(daemon_factory, tmp_path):
    w = World(tmp_path)
    d1 = daemon_factory()
    put_ok(d1, "keeper", sleeper(w, "keeper", restart="on-failure", stop_timeout="2s",
                                 backoff={"initial": "300ms", "max": "5s"}, env={"K": "V"}))
    put_ok(d1, "child", sleeper(w, "child", needs=["keeper"]))
    wait_status(d1, "child", "running")
    saved = d1.state_dir / "services" / "keeper.json"
    assert saved.exists() and stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert json.loads(saved.read_text())["stop_timeout"] == "2s"
    before = {s["name"]: strip_state(s) for s in d1.request("GET", "/v1/services").json()}
    assert before["keeper"]["origin"] == "api"
    pid = state_of(d1, "keeper")["pid"]
    d1.send_signal(signal.SIGTERM)
    assert d1.wait() == 0, d1.stderr()
    assert not alive(pid)

    d2 = daemon_factory(env={"SPRITE_WRITE_DIR": str(d1.state_dir)})
    wait_for(lambda: d2.health()["state"] == "running", what="the second daemon to boot")
    after = {s["name"]: strip_state(s) for s in d2.request("GET", "/v1/services").json()}
    assert after == before
    assert state_of(d2, "keeper")["status"] == "running"
    assert state_of(d2, "child")["status"] == "running"
    wait_for(lambda: w.names().count("spawn keeper") == 2 and w.names().count("spawn child") == 2,
             what="a second spawn of each")


def write_exe(path, text):
    path.write_text(text)
    path.chmod(0o755)


def test_components_dir_layout(daemon_factory, tmp_path):
    w = World(tmp_path)
    cdir = tmp_path / "components"
    for name in ("db", "web", ".hidden"):
        (cdir / name).mkdir(parents=True)
    write_exe(cdir / "db" / "start", f"#!/bin/sh\n{w.mark('spawn db')}\nexec sleep 1000\n")
    write_exe(cdir / "db" / "ready", f"#!/bin/sh\ntest -e {q(w.gate('db'))}\n")
    (cdir / "db" / "service.json").write_text(json.dumps({
        "restart": "always", "stop_timeout": "2s", "ready": {"interval": "20ms"}}))
    write_exe(cdir / "web" / "start", f"#!/bin/sh\n{w.mark('spawn web')}\nexec sleep 1000\n")
    write_exe(cdir / "web" / "ready", f"#!/bin/sh\ntest -e {q(w.gate('web'))}\n")
    (cdir / "web" / "service.json").write_text(json.dumps({
        "needs": ["db"], "ready": {"interval": "20ms", "timeout": "60s"}}))
    write_exe(cdir / ".hidden" / "start", f"#!/bin/sh\n{w.mark('spawn hidden')}\n")
    (cdir / "README").write_text("not a service\n")

    d = daemon_factory(args=["-components-dir", str(cdir)])
    w.wait("spawn db")
    assert state_of(d, "web")["waiting_for"] == ["db"]
    assert not w.has("spawn web")
    w.open("db")
    w.wait("spawn web")
    assert w.names() == ["spawn db", "spawn web"]
    svcs = {s["name"]: s for s in d.request("GET", "/v1/services").json()}
    assert sorted(svcs) == ["db", "web"]
    db, web = svcs["db"], svcs["web"]
    assert db["origin"] == "components_dir" and web["origin"] == "components_dir"
    assert db["cmd"] == str(cdir / "db" / "start") and db["args"] == []
    assert db["restart"] == "always" and db["stop_timeout"] == "2s", db
    assert web["needs"] == ["db"]
    assert web["ready"]["command"] == [str(cdir / "web" / "ready")], web
    assert web["ready"]["interval"] == "20ms", web
    assert web["state"]["status"] == "starting"
    assert d.health()["state"] == "booting"
    w.open("web")
    wait_running(d)
    assert_error(d.request("DELETE", "/v1/services/web"), 409, "conflict")


def test_components_dir_command_given_twice_is_refused(tmp_path):
    cdir = tmp_path / "components"
    (cdir / "x").mkdir(parents=True)
    write_exe(cdir / "x" / "start", "#!/bin/sh\nexec sleep 1000\n")
    (cdir / "x" / "service.json").write_text(json.dumps({"cmd": ["sleep", "1"]}))
    r = run_sprite_env(["-components-dir", str(cdir), "-services-socket", ""],
                       env={"SPRITE_WRITE_DIR": str(tmp_path / "state")})
    assert r.returncode == 1, r.stderr
    assert f"components directory {cdir}" in r.stderr, r.stderr


# --------------------------------------------------------------------------------------------
# the services socket and the token


def test_services_socket_needs_no_token_is_0600_and_serves_only_services(daemon):
    path = daemon.state_dir / "sprite.sock"
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    req = local(daemon)
    r = req("GET", "/v1/services")
    assert r.status == 200 and r.json() == [], r
    for method, url in [("GET", "/v1/system"), ("GET", "/health"), ("GET", "/v1/processes"),
                        ("POST", "/exec")]:
        assert req(method, url).status == 404, (method, url)


def test_main_api_needs_the_token_for_services(daemon, tmp_path):
    w = World(tmp_path)
    for method, url, body in [("GET", "/v1/services", None), ("GET", "/v1/services/x", None),
                              ("PUT", "/v1/services/x", sleeper(w, "x")),
                              ("POST", "/v1/services/x/start", None),
                              ("POST", "/v1/services/signal", {"name": "x", "signal": "HUP"})]:
        r = daemon.request(method, url, body=body, token=None)
        assert r.status == 401, (method, url, r)
        r = daemon.request(method, url, body=body, token="wrong-token")
        assert r.status == 401, (method, url, r)
    assert not w.has("spawn x")
    assert daemon.request("GET", "/v1/services").json() == []


@pytest.mark.parametrize("how", ["flag", "config"])
def test_services_socket_elsewhere(daemon_factory, how):
    sockdir = tempfile.mkdtemp(prefix="se-svc-", dir="/tmp")
    try:
        path = os.path.join(sockdir, "services.sock")
        if how == "flag":
            d = daemon_factory(args=["-services-socket", path])
        else:
            d = daemon_factory(config={"services": {"socket": path}})
        assert not (d.state_dir / "sprite.sock").exists()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert local_request(path, "GET", "/v1/services").status == 200
        # a socket another live daemon serves on is not taken over
        d2 = daemon_factory(args=["-services-socket", path], ready=False)
        assert d2.wait() == 1, d2.stderr()
        assert "another process is serving on this socket" in d2.stderr()
        assert local_request(path, "GET", "/v1/services").status == 200
        # the socket of a daemon that died without cleaning up is taken over
        d.kill()
        assert os.path.exists(path)
        d3 = daemon_factory(args=["-services-socket", path])
        assert local_request(path, "GET", "/v1/services").status == 200
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        d3.send_signal(signal.SIGTERM)
        assert d3.wait() == 0, d3.stderr()
    finally:
        shutil.rmtree(sockdir, ignore_errors=True)


def test_services_socket_disabled(daemon_factory):
    d = daemon_factory(args=["-services-socket", ""])
    assert not (d.state_dir / "sprite.sock").exists()
    assert d.request("GET", "/v1/services").status == 200


def test_full_lifecycle_over_the_services_socket(daemon, tmp_path):
    w = World(tmp_path)
    req = local(daemon)
    script = (f"trap 'echo got-usr2' USR2; {w.mark('spawn life')}; echo armed; echo >&3; "
              "exec 3>&-; while :; do sleep 0.05; done")
    events = put_ok(daemon, "life", sh(script, ready={"notify_fd": 3}), request=req)
    assert events[-1]["type"] == "complete", events
    st = wait_status(daemon, "life", "running")
    assert [s["name"] for s in req("GET", "/v1/services").json()] == ["life"]
    assert get_service(daemon, "life", request=req)["state"]["pid"] == st["pid"]
    log = daemon.state_dir / "logs" / "services" / "life.log"
    wait_for(lambda: "armed" in lines_of(log), what="armed")
    assert req("POST", "/v1/services/signal", {"name": "life", "signal": "USR2"}).status == 204
    wait_for(lambda: "got-usr2" in lines_of(log), what="got-usr2 in the log")
    r = req("GET", "/v1/services/life/logs")
    assert r.status == 200 and {"type": "stdout", "data": "armed\n"} in [
        {k: e[k] for k in ("type", "data")} for e in ndjson(r.body)], r
    assert req("POST", "/v1/services/life/restart").status == 204
    st2 = wait_state(daemon, "life", lambda s: s["status"] == "running" and s["pid"] != st["pid"],
                     "running with a new pid")
    assert not alive(st["pid"])
    assert req("POST", "/v1/services/life/stop").status == 204
    assert not alive(st2["pid"])
    assert req("POST", "/v1/services/life/start").status == 204
    wait_status(daemon, "life", "running")
    assert req("DELETE", "/v1/services/life").status == 204
    assert req("GET", "/v1/services/life").status == 404
    wait_for(lambda: w.names().count("spawn life") == 3, what="3 spawns")


# --------------------------------------------------------------------------------------------
# the routes


def test_put_streams_events_and_saves_logs(daemon, tmp_path):
    script = 'echo "hello $GREETING"; pwd; echo oops >&2; exit 3'
    work = tmp_path / "work"
    work.mkdir()
    events = put_ok(daemon, "hello", {"cmd": "/bin/sh", "args": ["-c", script],
                                      "env": {"GREETING": "world"}, "dir": str(work)},
                    query="?duration=10s")
    types = [e["type"] for e in events]
    assert types[0] == "started" and events[0]["data"] == "Service hello started", events
    assert types[-1] == "complete" and types[-2] == "exit", events
    assert all(isinstance(e["timestamp"], int) for e in events), events
    out = [e["data"] for e in events if e["type"] == "stdout"]
    err = [e["data"] for e in events if e["type"] == "stderr"]
    # a record is one line, with its newline
    assert out == ["hello world\n", f"{work}\n"] and err == ["oops\n"], events
    assert events[-2]["exit_code"] == 3
    logs = events[-1]["log_files"]
    base = daemon.state_dir / "logs" / "services"
    assert logs == {"stdout": str(base / "hello.log"), "stderr": str(base / "hello.stderr.log")}
    assert read_file(logs["stdout"]) == f"hello world\n{work}\n"
    assert read_file(logs["stderr"]) == "oops\n"
    saved = json.loads((daemon.state_dir / "services" / "hello.json").read_text())
    assert saved["cmd"] == "/bin/sh" and saved["args"] == ["-c", script], saved
    svc = get_service(daemon, "hello")
    assert svc["restart"] == "no" and svc["stop_signal"] == "SIGTERM", svc
    assert svc["stop_timeout"] == "5s" and svc["origin"] == "api", svc
    assert svc["state"]["status"] == "failed" and svc["state"]["exit_code"] == 3, svc


def test_put_stream_lasts_for_the_duration(daemon, tmp_path):
    w = World(tmp_path)
    start = time.monotonic()
    events = put_ok(daemon, "long", sleeper(w, "long"), query="?duration=300ms")
    elapsed = time.monotonic() - start
    assert 0.29 <= elapsed < 3.0, elapsed
    assert [e["type"] for e in events] == ["started", "complete"], events
    wait_status(daemon, "long", "running")


def test_put_errors(daemon, tmp_path):
    w = World(tmp_path)
    assert_error(put(daemon, "-bad", sleeper(w, "x")), 400, "invalid_service")
    r = put(daemon, "typo", {"cmd": ["sleep", "1"], "restrat": "always"})
    assert_error(r, 400, "invalid_service")
    assert "restrat" in r.json()["message"], r
    assert_error(put(daemon, "nocmd", {"restart": "always"}), 400, "invalid_service")
    r = daemon.request("PUT", "/v1/services/notjson", body=b"{cmd: sleep",
                       headers={"Content-Type": "application/json"})
    assert r.status == 400, r
    assert_error(put(daemon, "dur", sleeper(w, "x"), query="?duration=forever"), 400,
                 "invalid_duration")
    assert daemon.request("GET", "/v1/services").json() == []
    put_ok(daemon, "twice", sleeper(w, "twice"))
    wait_status(daemon, "twice", "running")
    assert_error(put(daemon, "twice", sleeper(w, "twice")), 409, "already_exists")
    assert w.names() == ["spawn twice"]


def test_logs_tail_and_follow(daemon, tmp_path):
    w = World(tmp_path)
    script = (f"for i in 1 2 3 4 5; do echo line$i; done; {w.wait_gate('more')}; echo more; "
              "exec sleep 1000")
    put_ok(daemon, "talker", sh(script))
    log = daemon.state_dir / "logs" / "services" / "talker.log"
    wait_for(lambda: "line5" in lines_of(log), what="line5 in the log file")

    def records(query):
        r = daemon.request("GET", f"/v1/services/talker/logs{query}")
        assert r.status == 200 and r.headers["content-type"].startswith("application/x-ndjson")
        return [(e["type"], e["data"]) for e in ndjson(r.body)]

    assert records("?tail=2") == [("stdout", "line4\n"), ("stdout", "line5\n")]
    assert records("") == [("stdout", f"line{i}\n") for i in range(1, 6)]
    assert records("?tail=all") == records("")
    assert_error(daemon.request("GET", "/v1/services/talker/logs?tail=lots"), 400, "invalid_tail")
    assert_error(daemon.request("GET", "/v1/services/nobody/logs"), 404, "not_found")

    s = Stream(daemon.address, "GET", "/v1/services/talker/logs?tail=1&follow=true",
               headers=daemon.auth_header())
    try:
        assert s.status == 200
        e = s.event()
        assert (e["type"], e["data"]) == ("stdout", "line5\n"), e
        w.open("more")
        e = s.event()
        assert (e["type"], e["data"]) == ("stdout", "more\n"), e
    finally:
        s.close()


def test_signal_route(daemon, tmp_path):
    script = "trap 'echo got-usr1' USR1; trap 'echo got-hup' HUP; echo armed; " \
             "while :; do sleep 0.05; done"
    put_ok(daemon, "sig", sh(script))
    log = daemon.state_dir / "logs" / "services" / "sig.log"
    wait_for(lambda: "armed" in lines_of(log), what="armed")

    def signal_(body):
        return daemon.request("POST", "/v1/services/signal", body=body)

    assert signal_({"name": "sig", "signal": "usr1"}).status == 204
    wait_for(lambda: "got-usr1" in lines_of(log), what="got-usr1")
    assert signal_({"name": "sig", "signal": "SIGHUP"}).status == 204
    wait_for(lambda: "got-hup" in lines_of(log), what="got-hup")
    assert_error(signal_({"name": "sig", "signal": "FOO"}), 400, "invalid_signal")
    assert_error(signal_({"name": "sig", "signal": "STOP"}), 400, "invalid_signal")
    assert_error(signal_({"name": "sig"}), 400, "invalid_request")
    assert_error(signal_({"name": "nobody", "signal": "HUP"}), 404, "not_found")
    pid = state_of(daemon, "sig")["pid"]
    # TERM: the answer comes once the process is gone
    assert signal_({"name": "sig", "signal": "TERM"}).status == 204
    assert not alive(pid)
    st = wait_status(daemon, "sig", "failed")
    assert st["error"] == "killed by SIGTERM", st
    assert_error(signal_({"name": "sig", "signal": "HUP"}), 409, "not_running")


def test_start_stop_restart_routes(daemon, tmp_path):
    w = World(tmp_path)
    put_ok(daemon, "svc", sleeper(w, "svc"))
    pid1 = wait_status(daemon, "svc", "running")["pid"]
    assert daemon.request("POST", "/v1/services/svc/stop").status == 204
    assert not alive(pid1)
    st = state_of(daemon, "svc")
    assert st["status"] == "stopped" and "pid" not in st, st
    assert_error(daemon.request("POST", "/v1/services/svc/stop"), 409, "not_running")
    assert daemon.request("POST", "/v1/services/svc/start").status == 204
    pid2 = wait_status(daemon, "svc", "running")["pid"]
    assert daemon.request("POST", "/v1/services/svc/start").status == 204  # already running
    assert daemon.request("POST", "/v1/services/svc/restart").status == 204
    wait_state(daemon, "svc", lambda s: s["status"] == "running" and s["pid"] != pid2,
               "running with a new pid")
    assert not alive(pid2)
    wait_for(lambda: w.names().count("spawn svc") == 3, what="3 spawns")
    assert_error(daemon.request("GET", "/v1/services/svc/stop"), 405, "method_not_allowed")
    assert_error(daemon.request("POST", "/v1/services/svc/explode"), 404, "not_found")
    assert_error(daemon.request("POST", "/v1/services/nobody/start"), 404, "not_found")


def test_delete(daemon, tmp_path):
    w = World(tmp_path)
    put_ok(daemon, "base", sleeper(w, "base"))
    put_ok(daemon, "top", sleeper(w, "top", needs=["base"]))
    base_pid = wait_status(daemon, "base", "running")["pid"]
    top_pid = wait_status(daemon, "top", "running")["pid"]
    saved = daemon.state_dir / "services"
    r = daemon.request("DELETE", "/v1/services/base")
    assert_error(r, 409, "conflict")
    assert "needed by top" in r.json()["message"], r
    assert daemon.request("DELETE", "/v1/services/top").status == 204
    assert not alive(top_pid)
    assert not (saved / "top.json").exists()
    assert_error(daemon.request("GET", "/v1/services/top"), 404, "not_found")
    assert (saved / "base.json").exists()
    assert daemon.request("DELETE", "/v1/services/base").status == 204
    assert not alive(base_pid)
    assert not (saved / "base.json").exists()
    assert daemon.request("GET", "/v1/services").json() == []
    assert_error(daemon.request("DELETE", "/v1/services/base"), 404, "not_found")


# --------------------------------------------------------------------------------------------
# more behaviour: leftovers, failures to start, stop while waiting, back-off details, users,
# log files, shutdown during boot


def test_what_a_service_leaves_behind_is_stopped(daemon, tmp_path):
    """A process ends when its group is empty: a leader that exits leaves children that get the
    stop signal, then SIGKILL after the stop timeout when they ignore it."""
    bg, armed = tmp_path / "bg", tmp_path / "armed"
    # the leader waits until the TERM-ignoring child has set its trap before it exits
    script = (f"sleep 1000 & echo $! >> {q(bg)}; "
              f"(trap '' TERM; touch {q(armed)}; exec sleep 1000) & echo $! >> {q(bg)}; "
              f"while [ ! -e {q(armed)} ]; do sleep 0.01; done; exit 0")
    put_ok(daemon, "parent", sh(script, stop_timeout="300ms"))
    pids = wait_value(lambda: lines_of(bg), lambda p: len(p) == 2, "both background pids")
    st = wait_status(daemon, "parent", "stopped")
    assert st["exit_code"] == 0 and "error" not in st, st
    assert not any(alive(int(p)) for p in pids), pids
    err = daemon.stderr()
    assert "service parent: process group" in err and "sending SIGKILL" in err, err


def test_put_of_a_service_that_cannot_start(daemon, tmp_path):
    events = put_ok(daemon, "ghost", {"cmd": [str(tmp_path / "no-such-program")]},
                    query="?duration=10s")
    types = [e["type"] for e in events]
    assert types == ["started", "error", "exit", "complete"], events
    assert events[1]["data"].startswith("Failed to start service: "), events
    assert str(tmp_path / "no-such-program") in events[1]["data"], events
    assert events[2]["exit_code"] == 1
    assert state_of(daemon, "ghost")["status"] == "failed"


def test_put_of_a_service_whose_need_fails(daemon, tmp_path):
    # base never gets ready (if it has failed already when top comes, top starts it again)
    put_ok(daemon, "base", sh("exec sleep 1000", ready={"command": ["false"], "interval": "20ms",
                                                        "timeout": "300ms"}))
    events = put_ok(daemon, "top", sh("exec sleep 1000", needs=["base"]), query="?duration=10s")
    types = [e["type"] for e in events]
    assert types == ["started", "error", "exit", "complete"], events
    assert events[1]["data"] == "Failed to start service: needs base, which failed", events
    st = state_of(daemon, "top")
    assert st["status"] == "failed" and st["error"] == "needs base, which failed", st
    assert state_of(daemon, "base")["status"] == "failed"


def test_not_ready_in_time_after_boot_is_a_failure(daemon, tmp_path):
    w = World(tmp_path)
    put_ok(daemon, "lazy", sh(f"echo \"up $$\" >> {q(w.events)}; exec sleep 1000",
                              ready={"command": ["false"], "interval": "20ms",
                                     "timeout": "200ms"}))
    st = wait_status(daemon, "lazy", "failed")
    assert st["error"] == "not ready within 200ms: ready command exited with code 1", st
    assert st["restarts"] == 0 and "pid" not in st, st
    for line in w.lines():
        assert not alive(int(line.split()[1])), line


def test_stop_and_delete_a_service_waiting_for_its_needs(daemon, tmp_path):
    w = World(tmp_path)
    put_ok(daemon, "slow", gated_notify(w, "slow"))
    w.wait("spawn slow")
    put_ok(daemon, "waiter", sleeper(w, "waiter", needs=["slow"]))
    put_ok(daemon, "other", sleeper(w, "other", needs=["slow"]))
    st = state_of(daemon, "waiter")
    assert st["status"] == "starting" and st["waiting_for"] == ["slow"], st
    assert daemon.request("POST", "/v1/services/waiter/stop").status == 204
    assert state_of(daemon, "waiter")["status"] == "stopped"
    assert daemon.request("DELETE", "/v1/services/other").status == 204
    assert_error(daemon.request("GET", "/v1/services/other"), 404, "not_found")
    w.open("slow")
    wait_status(daemon, "slow", "running")
    assert state_of(daemon, "waiter")["status"] == "stopped"
    assert not w.has("spawn waiter") and not w.has("spawn other")


def test_start_during_backoff_skips_the_delay(daemon, tmp_path):
    spawns = tmp_path / "spawns"
    put_ok(daemon, "patient", sh(f"date +%s%N >> {q(spawns)}; exit 1", restart="on-failure",
                                 backoff={"initial": "30s", "max": "30s"}))
    st = wait_status(daemon, "patient", "backoff")
    assert st["next_restart_at"], st
    assert daemon.request("POST", "/v1/services/patient/start").status == 204
    wait_for(lambda: len(spawn_times(spawns)) == 2, timeout=5, what="a second spawn at once")


def test_backoff_goes_back_to_initial_after_reset_after(daemon, tmp_path):
    """A service that ran (ready) for longer than reset_after restarts after the initial delay
    again: its gaps stay near run time + initial instead of doubling."""
    spawns = tmp_path / "spawns"
    put_ok(daemon, "steady", sh(f"date +%s%N >> {q(spawns)}; sleep 0.4; exit 1",
                                restart="always",
                                backoff={"initial": "200ms", "max": "5s", "reset_after": "300ms"}))
    times = wait_value(lambda: spawn_times(spawns), lambda t: len(t) >= 4, "4 spawns")
    gaps = [(b - a) / 1e6 for a, b in zip(times, times[1:])][:3]
    # run time 400 ms + delay: without the reset 600, 800, 1200 ms; with it about 600 each. A
    # loaded machine adds to any gap (a late spawn, a late exit), never takes away: the third
    # gap tells the two apart with room for that.
    assert all(g >= 590 for g in gaps), gaps
    assert gaps[2] < 1100, gaps


def test_custom_stop_signal_and_user(daemon, tmp_path):
    w = World(tmp_path)
    # (a foreground sleep: background jobs of a non-interactive shell ignore SIGINT)
    put_ok(daemon, "polite", sh(f"trap '{w.mark('got INT')}; exit 0' INT; {w.mark('up')}; "
                                "while :; do sleep 0.05; done", stop_signal="INT"))
    w.wait("up")
    assert get_service(daemon, "polite")["stop_signal"] == "SIGINT"
    assert daemon.request("POST", "/v1/services/polite/stop").status == 204
    assert w.has("got INT")
    assert state_of(daemon, "polite")["exit_code"] == 0

    put_ok(daemon, "nobody", sh("exec sleep 1000", user="nobody"))
    pid = wait_status(daemon, "nobody", "running")["pid"]
    status = wait_value(lambda: proc_status(pid), lambda s: s and s["Name"] == "sleep",
                        "the exec of sleep")
    assert status["Uid"].split()[0] == "65534" and status["Gid"].split()[0] == "65534", status


PACED = r'''
import os, sys, time
log = sys.argv[1]
for i in range(12):
    tag = b"%03d" % i
    os.write(1, tag + b"x" * 996 + b"\n")  # 1000 bytes
    while True:  # one line at a time: the next only once the daemon has written this one
        try:
            with open(log, "rb") as f:
                if tag + b"x" in f.read():
                    break
        except FileNotFoundError:
            pass
        time.sleep(0.002)
os.write(1, b"done\n")
time.sleep(1000)
'''


def test_log_files_rotate_and_the_ring_is_bounded(daemon_factory, tmp_path):
    cfg = {"services": {"log_file_bytes": 4096, "log_files": 1, "ring_bytes": 4096}}
    d = daemon_factory(config=cfg)
    base = d.state_dir / "logs" / "services"
    prog = tmp_path / "paced.py"
    prog.write_text(PACED)
    put_ok(d, "chatty", {"cmd": [sys.executable, str(prog), str(base / "chatty.log")]})
    wait_for(lambda: "done" in lines_of(base / "chatty.log"), what="done in the log")
    line = [b"%03d" % i + b"x" * 996 for i in range(12)]
    # 4 lines of 1000 bytes fit in 4096 (and "done" after them): the 5th and the 9th line went
    # to a new file, and one rotated file is kept
    assert (base / "chatty.log").read_bytes() == b"".join(x + b"\n" for x in line[8:]) + \
        b"done\n"
    assert (base / "chatty.log.1").read_bytes() == b"".join(x + b"\n" for x in line[4:8])
    assert not (base / "chatty.log.2").exists()
    r = d.request("GET", "/v1/services/chatty/logs")
    recs = [e["data"] for e in ndjson(r.body)]
    # the ring keeps at most 4096 bytes: the newest records only
    assert recs[-1] == "done\n" and 3 <= len(recs) <= 5, recs
    assert recs[:-1] == [x.decode() + "\n" for x in line[12 - len(recs) + 1:]]


BURST = r'''
import os, sys, time
os.write(1, b"y" * 999 + b"\n")
with open(sys.argv[1]) as f:  # the test says when the burst may come
    pass
os.write(1, b"".join(b"z" * 99 + b"\n" for _ in range(80)))  # 8000 bytes in one write
os.write(1, b"done\n")
time.sleep(1000)
'''


def test_log_file_stays_within_log_file_bytes(daemon_factory, tmp_path):
    """A file never grows past services.log_file_bytes, even when one read from the pipe holds
    more than that (a burst of short lines): whole lines go to the next file."""
    cfg = {"services": {"log_file_bytes": 4096, "log_files": 2}}
    d = daemon_factory(config=cfg)
    prog, fifo = tmp_path / "burst.py", tmp_path / "go"
    prog.write_text(BURST)
    os.mkfifo(fifo)
    put_ok(d, "burst", {"cmd": [sys.executable, str(prog), str(fifo)]})
    base = d.state_dir / "logs" / "services"
    wait_for(lambda: lines_of(base / "burst.log"), what="the first line")
    with open(fifo, "w"):
        pass
    wait_for(lambda: "done" in lines_of(base / "burst.log"), what="done in the log")
    sizes = {p.name: p.stat().st_size for p in base.glob("burst.log*")}
    assert all(size <= 4096 for size in sizes.values()), sizes


def test_follow_ends_when_the_service_is_deleted(daemon, tmp_path):
    w = World(tmp_path)
    put_ok(daemon, "brief", sh(f"echo hi; {w.mark('up')}; echo >&3; exec sleep 1000 3>&-",
                               ready={"notify_fd": 3}))
    wait_status(daemon, "brief", "running")
    s = Stream(daemon.address, "GET", "/v1/services/brief/logs?follow=true",
               headers=daemon.auth_header())
    try:
        assert s.event()["data"] == "hi\n"
        assert daemon.request("DELETE", "/v1/services/brief").status == 204
        assert s.event() is None  # the stream ends
    finally:
        s.close()


def test_sigterm_during_boot_stops_everything(daemon_factory, tmp_path):
    w = World(tmp_path)
    comps = {
        "a": gated_notify(w, "a"),
        "b": sleeper(w, "b", needs=["a"]),
    }
    marker = tmp_path / "main-ran"
    d = daemon_factory(config={"components": comps}, command=["touch", marker])
    w.wait("spawn a")
    pid = state_of(d, "a")["pid"]
    d.send_signal(signal.SIGTERM)
    d.wait()
    assert not alive(pid)
    assert not w.has("spawn b") and not marker.exists()
    assert "service b: started" not in d.stderr()


def test_shutting_down_state_and_no_new_services(daemon_factory, tmp_path):
    w = World(tmp_path)
    comps = {"stubborn": sh(f"trap '' TERM; {w.mark('up')}; exec sleep 1000",
                            stop_timeout="1s")}
    d = daemon_factory(config={"components": comps})
    w.wait("up")
    d.send_signal(signal.SIGTERM)
    wait_for(lambda: d.health()["state"] == "shutting_down", what="state shutting_down")
    assert_error(put(d, "late", sleeper(w, "late")), 503, "shutting_down")
    assert_error(d.request("POST", "/v1/services/stubborn/start"), 503, "shutting_down")
    assert d.wait() == 0, d.stderr()
    assert not w.has("spawn late")


def test_persisted_definitions_shadowed_or_broken_are_skipped(daemon_factory, tmp_path):
    w = World(tmp_path)
    state = tmp_path / "shared-state"
    (state / "services").mkdir(parents=True, mode=0o700)
    state.chmod(0o700)
    (state / "services" / "dup.json").write_text(json.dumps(sleeper(w, "dup-from-file")))
    (state / "services" / "broken.json").write_text("{not json")
    (state / "services" / "fine.json").write_text(json.dumps(sleeper(w, "fine")))
    d = daemon_factory(config={"components": {"dup": sleeper(w, "dup-from-config")}},
                       env={"SPRITE_WRITE_DIR": str(state)})
    wait_running(d)
    svcs = {s["name"]: s["origin"] for s in d.request("GET", "/v1/services").json()}
    assert svcs == {"dup": "config", "fine": "api"}, svcs
    err = d.stderr()
    assert "dup.json" in err and "skipped" in err, err
    assert "broken.json" in err, err
    assert w.has("spawn dup-from-config") and not w.has("spawn dup-from-file")


def test_shutdown_with_a_service_in_backoff_is_prompt(daemon, tmp_path):
    put_ok(daemon, "resting", sh("exit 1", restart="always", backoff={"initial": "30s"}))
    wait_status(daemon, "resting", "backoff")
    start = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait() == 0, daemon.stderr()
    assert time.monotonic() - start < 5, "shutdown waited for the back-off"


def test_stop_while_starting(daemon, tmp_path):
    w = World(tmp_path)
    put_ok(daemon, "never", gated_notify(w, "never"))
    w.wait("spawn never")
    st = state_of(daemon, "never")
    assert st["status"] == "starting"
    assert daemon.request("POST", "/v1/services/never/stop").status == 204
    assert not alive(st["pid"])
    st = state_of(daemon, "never")
    assert st["status"] == "stopped" and "error" not in st, st


def test_main_process_end_stops_the_services(daemon_factory, tmp_path):
    w = World(tmp_path)
    comps = {"db": trapping(w, "db"),
             # "dependencies" is the seed's name for "needs"
             "api": trapping(w, "api", dependencies=["db"])}
    main = ["/bin/sh", "-c", f"while [ ! -e {q(w.gate('main'))} ]; do sleep 0.01; done; exit 7"]
    d = daemon_factory(config={"components": comps}, command=main)
    wait_running(d)
    wait_for(lambda: len([n for n in w.names() if n.startswith("up ")]) == 2, what="both up")
    assert get_service(d, "api")["needs"] == ["db"]
    w.open("main")
    assert d.wait() == 7, d.stderr()
    order = [n for n in w.names() if n.split()[0] in ("stop", "exit")]
    assert order == ["stop api", "exit api", "stop db", "exit db"], order


def test_spawn_failure_during_boot_fails_boot(daemon_factory, tmp_path):
    comps = {"lost": {"cmd": ["sleep", "1000"], "dir": str(tmp_path / "no-such-dir")}}
    d = daemon_factory(config={"components": comps}, command=["true"], ready=False)
    assert d.wait() == 1, d.stderr()
    assert re.search(r"boot failed: service lost failed: .*no-such-dir", d.stderr()), d.stderr()


def test_put_duration_alias_and_logs_tail_zero(daemon, tmp_path):
    w = World(tmp_path)
    start = time.monotonic()
    events = put_ok(daemon, "alias", sh(f"echo hi; {w.mark('up')}; echo >&3; exec sleep 1000 3>&-",
                                        ready={"notify_fd": 3}), query="?timeout=400ms")
    assert time.monotonic() - start >= 0.39
    assert events[-1]["type"] == "complete", events
    assert {"type": "stdout", "data": "hi\n"} in [{k: e[k] for k in ("type", "data")}
                                                  for e in events if "data" in e], events
    r = daemon.request("GET", "/v1/services/alias/logs?tail=0")
    assert r.status == 200 and ndjson(r.body) == [], r


@pytest.mark.parametrize("definition, field", [
    ({"cmd": ["sleep", "1"], "ready": {"notify_fd": 2}}, "ready.notify_fd"),
    ({"cmd": ["sleep", "1"], "ready": {"tcp": 70000}}, "ready.tcp"),
    ({"cmd": ["sleep", "1"], "ready": {"command": ["true"], "timeout": "0s"}}, "ready.timeout"),
    ({"cmd": ["sleep", "1"], "backoff": {"initial": "2s", "max": "1s"}}, "backoff"),
    ({"cmd": ["sleep", "1"], "restart": "sometimes"}, "restart"),
    ({"cmd": ["sleep", "1"], "dir": "relative/dir"}, "dir"),
    ({"cmd": ["sleep", "1"], "start_command": ["sleep", "1"]}, "start_command"),
    ({"cmd": ["sleep", "1"], "stop_signal": "NOPE"}, "stop_signal"),
    ({"cmd": ["sleep", "1"], "name": "other"}, "name"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_definition_is_400_naming_the_field(daemon, definition, field):
    r = put(daemon, "bad", definition)
    assert_error(r, 400, "invalid_service")
    assert field in r.json()["message"], r
    assert daemon.request("GET", "/v1/services").json() == []


def test_service_process_context(daemon, tmp_path):
    """Its own session and group, stdin on /dev/null, no daemon fd and no API token inherited."""
    put_ok(daemon, "ctx", sh('echo "token=${SPRITE_HTTP_API_TOKEN:-none}"; echo >&3; '
                             "exec sleep 1000 3>&-", ready={"notify_fd": 3}))
    pid = wait_status(daemon, "ctx", "running")["pid"]
    wait_value(lambda: proc_status(pid), lambda s: s and s["Name"] == "sleep", "the exec of sleep")
    assert proc_pgid(pid) == pid and int(proc_stat(pid)[3]) == pid
    assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
    assert sorted(int(f) for f in os.listdir(f"/proc/{pid}/fd")) == [0, 1, 2]
    log = daemon.state_dir / "logs" / "services" / "ctx.log"
    assert wait_value(lambda: lines_of(log), bool, "the output") == ["token=none"]


def test_saved_definition_whose_need_is_gone_does_not_stop_the_daemon(daemon_factory, tmp_path):
    """A saved API definition that needs a service the configuration no longer defines is
    reported and skipped: removing a component from the configuration must not stop the daemon
    from starting."""
    w = World(tmp_path)
    d1 = daemon_factory(config={"components": {"db": sleeper(w, "db")}})
    put_ok(d1, "app", sleeper(w, "app", needs=["db"]))
    wait_status(d1, "app", "running")
    d1.send_signal(signal.SIGTERM)
    assert d1.wait() == 0, d1.stderr()

    d2 = daemon_factory(config={"components": {}}, env={"SPRITE_WRITE_DIR": str(d1.state_dir)},
                        ready=False)
    try:
        d2.wait_ready()
    finally:
        # either way, the problem must be reported naming the saved definition
        assert "app" in d2.stderr(), d2.stderr()
    assert "app" not in [s["name"] for s in d2.request("GET", "/v1/services").json()
                         if s["state"]["status"] == "running"]


def test_log_records_split_long_lines_and_replace_bad_utf8(daemon, tmp_path):
    prog = tmp_path / "out.py"
    prog.write_text("import os, time\n"
                    "os.write(1, b'x' * 20000 + b'\\n')\n"
                    "os.write(1, b'\\xffok\\n')\n"
                    "os.write(1, b'no newline at the end')\n"
                    "os.close(1)\n"
                    "time.sleep(0.2)\n")
    events = put_ok(daemon, "odd", {"cmd": [sys.executable, str(prog)]}, query="?duration=10s")
    out = [e["data"] for e in events if e["type"] == "stdout"]
    assert out == ["x" * 16384, "x" * (20000 - 16384) + "\n", "\ufffdok\n",
                   "no newline at the end"], [o[:40] for o in out]
    r = daemon.request("GET", "/v1/services/odd/logs")
    assert [e["data"] for e in ndjson(r.body)] == out
    log = daemon.state_dir / "logs" / "services" / "odd.log"
    assert log.read_bytes() == b"x" * 20000 + b"\n\xffok\nno newline at the end"
