# SPDX-License-Identifier: MIT
"""Fixtures and helpers for the sprite-env end-to-end tests.

Run with Debian's pytest, as root:  /usr/bin/python3 -m pytest tests/e2e -q

Environment:
  SPRITE_ENV_BIN              binary under test (default build/sprite-env, relative to the repo)
  SPRITE_HELPERS_DIR          helper programs (default build/helpers)
  SPRITE_E2E_DEADLINE_SCALE   multiplies every deadline (default 1; try 3 under valgrind)

Every test gets a hard timeout (SIGALRM; `@pytest.mark.timeout(N)` changes it) and every daemon
is killed, with its whole process tree, when the test ends. The pytest process makes itself a
child subreaper, so processes orphaned by a killed daemon come back to us and are reaped here
instead of lingering as zombies.
"""

import base64
import ctypes
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _repo_path(value, default):
    p = Path(value or default)
    return p if p.is_absolute() else REPO / p


BIN = _repo_path(os.environ.get("SPRITE_ENV_BIN"), "build/sprite-env")
HELPERS = _repo_path(os.environ.get("SPRITE_HELPERS_DIR"), "build/helpers")
SCALE = float(os.environ.get("SPRITE_E2E_DEADLINE_SCALE", "1"))
DEADLINE = 10.0 * SCALE  # seconds allowed for anything that "should happen soon"
TEST_TIMEOUT = 90.0 * SCALE  # hard limit per test

PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except OSError:
        pass


_become_subreaper()


# --------------------------------------------------------------------------------------------
# pytest hooks: markers, binary check, per-test hard timeout


def pytest_configure(config):
    config.addinivalue_line("markers", "timeout(seconds): hard timeout for one test")


def pytest_sessionstart(session):
    if not os.access(BIN, os.X_OK):
        pytest.exit(f"sprite-env binary not found at {BIN}: run `make` (or set SPRITE_ENV_BIN)", 2)


class HardTimeout(Exception):
    """Not an OSError, so that code polling sockets cannot swallow it."""


@pytest.fixture(autouse=True)
def _hard_timeout(request):
    marker = request.node.get_closest_marker("timeout")
    secs = float(marker.args[0]) * SCALE if marker else TEST_TIMEOUT

    def expired(signum, frame):
        raise HardTimeout(f"test exceeded its hard timeout of {secs:.0f}s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, secs)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# --------------------------------------------------------------------------------------------
# small utilities


def helper(name):
    """Path of a compiled helper from tests/helpers/NAME.c."""
    p = HELPERS / name
    if not os.access(p, os.X_OK):
        pytest.fail(f"helper {p} is missing: run `make`")
    return str(p)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=None, interval=0.01, what="condition"):
    """Polls predicate() until it returns something truthy; returns that value or fails."""
    deadline = time.monotonic() + (DEADLINE if timeout is None else timeout)
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(interval)


def read_file(path):
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        return ""


# --------------------------------------------------------------------------------------------
# /proc helpers


def proc_stat(pid):
    """Fields of /proc/PID/stat after the comm field: [state, ppid, pgrp, session, ...] or None."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return data[data.rindex(")") + 2:].split()


def proc_state(pid):
    st = proc_stat(pid)
    return st[0] if st else None


def proc_ppid(pid):
    st = proc_stat(pid)
    return int(st[1]) if st else None


def proc_pgid(pid):
    st = proc_stat(pid)
    return int(st[2]) if st else None


def proc_sid(pid):
    st = proc_stat(pid)
    return int(st[3]) if st else None


def proc_status(pid):
    """/proc/PID/status as a dict of strings, or None if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def proc_rss_kib(pid):
    st = proc_status(pid)
    return int(st["VmRSS"].split()[0]) if st and "VmRSS" in st else None


def proc_comm(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError):
        return None


def alive(pid):
    """True if pid exists and is not a zombie."""
    s = proc_state(pid)
    return s is not None and s not in ("Z", "X")


def children(pid):
    out = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError):
        return out
    for t in tasks:
        try:
            out += [int(x) for x in Path(f"/proc/{pid}/task/{t}/children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        for c in children(todo.pop()):
            out.append(c)
            todo.append(c)
    return out


def pids_in_session(sid):
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit() and proc_sid(int(name)) == sid:
            out.append(int(name))
    return out


def zombie_children(pid):
    return [c for c in children(pid) if proc_state(c) == "Z"]


def reap_ours(pids, timeout=None):
    """Reaps those of pids that were reparented to us (we are a subreaper) until all are gone."""
    me = os.getpid()
    deadline = time.monotonic() + (DEADLINE if timeout is None else timeout)
    while True:
        pending = []
        for p in pids:
            if proc_stat(p) is None:
                continue
            if proc_ppid(p) == me:
                try:
                    os.waitpid(p, os.WNOHANG)
                except ChildProcessError:
                    pass
                if proc_stat(p) is not None:
                    pending.append(p)
            elif alive(p):
                pending.append(p)
        if not pending or time.monotonic() >= deadline:
            return pending
        time.sleep(0.01)


# --------------------------------------------------------------------------------------------
# HTTP


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=None):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # dict, lower-case names
        self.body = body

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            pytest.fail(f"response body is not JSON: {self.body[:200]!r}")

    def __repr__(self):
        return f"<Response {self.status} {self.body[:200]!r}>"


def assert_error(resp, status, code):
    """An error response: the status, a JSON body {"code","message"} and a JSON content type."""
    assert resp.status == status, resp
    ctype = resp.headers.get("content-type", "")
    assert ctype.startswith("application/json"), f"content-type {ctype!r} for {resp}"
    body = resp.json()
    assert body.get("code") == code, body
    assert isinstance(body.get("message"), str) and body["message"], body


class RawClient:
    """One connection, spoken to byte by byte: for keep-alive, pipelining and malformed input."""

    def __init__(self, address, timeout=None, rcvbuf=None):
        self.address = address
        if isinstance(address, str):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(DEADLINE if timeout is None else timeout)
        self.sock.connect(address)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        """Sends everything; returns False if the peer closed or reset the connection."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        except socket.timeout:
            pytest.fail(f"no complete response within {self.sock.gettimeout()}s; received so far: "
                        f"{self.buf[:300]!r}")
        if not chunk:
            raise EOFError("connection closed by the daemon")
        self.buf += chunk

    def read_response(self):
        """Reads one response (Content-Length or chunked body). Raises EOFError on close."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        assert parts[0].startswith("HTTP/1."), f"bad status line {lines[0]!r}"
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    self._fill()
                size_line, _, self.buf = self.buf.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    self._fill()
                body += self.buf[:size]
                self.buf = self.buf[size + 2:]
                if size == 0:
                    break
        else:
            n = int(headers.get("content-length", "0"))
            while len(self.buf) < n:
                self._fill()
            body, self.buf = self.buf[:n], self.buf[n:]
        return Response(status, headers, body)

    def request(self, method, path, headers=None, body=b""):
        hdrs = {"Host": "sprite-env"}
        if body:
            hdrs["Content-Length"] = str(len(body))
        hdrs.update(headers or {})
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
        self.send(head.encode() + b"\r\n" + body)
        return self.read_response()

    def at_eof(self, timeout=None):
        """Waits until the daemon closes the connection; returns the bytes received meanwhile."""
        self.sock.settimeout(DEADLINE if timeout is None else timeout)
        data = self.buf
        self.buf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return data
            if not chunk:
                return data
            data += chunk


# --------------------------------------------------------------------------------------------
# the daemon


def base_env():
    """Our environment without any SPRITE_* variable, so the host cannot leak into a test."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SPRITE_")}


def clean_signals():
    """For preexec_fn: nothing blocked, every signal at SIG_DFL. pytest may itself have been
    started with signals ignored (a background job of a shell ignores SIGINT and SIGQUIT), and
    sprite-env rightly passes those on to the main process."""
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for s in signal.valid_signals():
        if s in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(s, signal.SIG_DFL)
        except (OSError, ValueError):
            pass


def _no_core_dumps():
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class Daemon:
    """One sprite-env process, started in its own session with a temporary state directory.

    listen: "tcp" (a free 127.0.0.1 port), "unix" (a socket in a short temp dir), a string
            passed verbatim to -listen, or None for no -listen flag at all.
    token:  the API token put in SPRITE_HTTP_API_TOKEN; None leaves it unset.
    pid1:   run under `unshare --pid --fork --mount-proc` so that sprite-env is PID 1.
    preexec_fn: runs in the child before exec, after the signal mask and dispositions have been
            reset to a clean state (nothing blocked, nothing ignored) and core dumps disabled.
    """

    def __init__(self, tmp_path, args=(), command=None, env=None, config=None, listen="tcp",
                 token="default", pid1=False, preexec_fn=None):
        self.tmp = Path(tmp_path)
        self.state_dir = self.tmp / "state"
        self.state_dir.mkdir(exist_ok=True)
        self.stderr_path = self.tmp / "sprite-env.stderr"
        self.stdout_path = self.tmp / "sprite-env.stdout"
        self.token = secrets.token_hex(16) if token == "default" else token
        self.sockdir = None
        self.port = None
        self.unix_path = None

        argv = [str(BIN)]
        if config is not None:
            self.config_path = self.tmp / "config.json"
            text = config if isinstance(config, str) else json.dumps(config)
            self.config_path.write_text(text)
            argv += ["-config", str(self.config_path)]
        if listen == "tcp":
            self.port = free_port()
            argv += ["-listen", f"127.0.0.1:{self.port}"]
        elif listen == "unix":
            # sun_path is 108 bytes: pytest's tmp_path can be longer than that.
            self.sockdir = tempfile.mkdtemp(prefix="se-", dir="/tmp")
            self.unix_path = os.path.join(self.sockdir, "api.sock")
            argv += ["-listen", f"unix:{self.unix_path}"]
        elif listen is not None:
            argv += ["-listen", listen]
            self._set_address(listen)
        argv += list(args)
        if command is not None:
            argv += ["--"] + [str(c) for c in command]

        e = base_env()
        e["SPRITE_WRITE_DIR"] = str(self.state_dir)
        if self.token is not None:
            e["SPRITE_HTTP_API_TOKEN"] = self.token
        for k, v in (env or {}).items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        self.env = e

        self.pid1 = pid1
        if pid1:
            argv = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"] + argv
        self.argv = argv

        def preexec():
            clean_signals()
            _no_core_dumps()
            if preexec_fn:
                preexec_fn()

        with open(self.stderr_path, "wb") as err, open(self.stdout_path, "wb") as out:
            self.proc = subprocess.Popen(argv, env=e, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, start_new_session=True, preexec_fn=preexec,
                                         cwd=str(self.tmp))
        self.returncode = None
        self.pid = self._find_pid()

    # -- addresses and process identity

    def _set_address(self, listen):
        if listen.startswith("unix:"):
            self.unix_path = listen[len("unix:"):]
        else:
            self.port = int(listen.rsplit(":", 1)[1])

    def _find_pid(self):
        """The pid of sprite-env itself (under unshare, the child of the unshare process)."""
        if not self.pid1:
            return self.proc.pid

        def found():
            if self.proc.poll() is not None:
                return -1
            kids = children(self.proc.pid)
            for k in kids:
                if proc_stat(k) and proc_comm(k) != "unshare":
                    return k
            return None

        pid = wait_for(found, what="sprite-env to start under unshare")
        return None if pid == -1 else pid  # None: it has already exited

    @property
    def address(self):
        """A socket address for RawClient: the unix path, or (host, port)."""
        if self.unix_path:
            return self.unix_path
        return ("127.0.0.1", self.port)

    def stderr(self):
        return read_file(self.stderr_path)

    def stdout(self):
        return read_file(self.stdout_path)

    # -- HTTP

    def connection(self, timeout=None):
        t = DEADLINE if timeout is None else timeout
        if self.unix_path:
            return UnixHTTPConnection(self.unix_path, timeout=t)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=t)

    def auth_header(self, token="default"):
        tok = self.token if token == "default" else token
        return {} if tok is None else {"Authorization": f"Bearer {tok}"}

    def request(self, method, path, body=None, headers=None, token="default", timeout=None):
        """One request on a fresh connection. token=None sends no Authorization header."""
        hdrs = {}
        hdrs.update(self.auth_header(token))
        hdrs.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        finally:
            conn.close()

    def health(self):
        r = self.request("GET", "/health", token=None)
        assert r.status == 200, r
        return r.json()

    def system(self):
        r = self.request("GET", "/v1/system")
        assert r.status == 200, r
        return r.json()

    def wait_ready(self, timeout=None):
        """Polls GET /health until it answers 200; fails if the daemon exits first."""
        deadline = time.monotonic() + (DEADLINE if timeout is None else timeout)
        last = None
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"sprite-env exited with {self.proc.returncode} before becoming ready;"
                            f" stderr:\n{self.stderr()}")
            try:
                r = self.request("GET", "/health", token=None, timeout=1.0 * SCALE)
                if r.status == 200:
                    return self
                last = r
            except (OSError, http.client.HTTPException) as e:
                last = e
            if time.monotonic() >= deadline:
                pytest.fail(f"sprite-env not ready: last /health attempt: {last!r}; stderr:\n"
                            f"{self.stderr()}")
            time.sleep(0.02)

    def main_pid(self, comm=None):
        """The main process pid from /health, once it has exec'd (its comm is `comm`, if given)."""
        def get():
            p = self.health().get("process")
            if not p or not p.get("pid"):
                return None
            if comm is not None and proc_comm(p["pid"]) != comm:
                return None
            return p["pid"]

        return wait_for(get, what=f"main process {comm or ''} in /health")

    # -- signals and exit

    def send_signal(self, sig):
        assert self.pid is not None, f"sprite-env is gone; stderr:\n{self.stderr()}"
        os.kill(self.pid, sig)

    def running(self):
        return self.proc.poll() is None

    def wait(self, timeout=None):
        """Waits for sprite-env to exit and returns its exit status (as a shell would show it)."""
        try:
            rc = self.proc.wait(DEADLINE if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"sprite-env still running after {timeout or DEADLINE}s; stderr:\n"
                        f"{self.stderr()}")
        self.returncode = rc if rc >= 0 else 128 - rc
        return self.returncode

    def kill(self):
        """SIGKILLs sprite-env and everything it started, and reaps what comes back to us."""
        victims = set(descendants(self.proc.pid)) | set(pids_in_session(self.proc.pid))
        victims.discard(os.getpid())
        victims.discard(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)  # under unshare, --kill-child does the rest
        for p in sorted(victims):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            pass
        return reap_ours(victims)

    def cleanup(self):
        leftover = self.kill()
        if self.sockdir:
            shutil.rmtree(self.sockdir, ignore_errors=True)
        return leftover


@pytest.fixture
def daemon_factory(tmp_path):
    """daemon_factory(**kwargs) starts a Daemon (see its docstring); ready=True waits for /health.

    Several daemons may be started in one test; each gets its own subdirectory of tmp_path.
    """
    started = []

    def start(ready=True, **kwargs):
        d_tmp = tmp_path / f"d{len(started)}"
        d_tmp.mkdir()
        d = Daemon(d_tmp, **kwargs)
        started.append(d)
        if ready:
            d.wait_ready()
        return d

    yield start
    leftovers = []
    for d in started:
        leftovers += d.cleanup()
    assert not leftovers, f"processes survived cleanup: {leftovers}"
    for d in started:
        assert_no_sanitizer_report(d.stderr())


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def assert_no_sanitizer_report(text):
    """Under the ASan+UBSan build a report in the daemon's stderr fails the test."""
    for marker in SANITIZER_MARKERS:
        assert marker not in text, f"sanitizer report in sprite-env's stderr:\n{text}"


def files_daemon(daemon_factory, tmp_path):
    """A daemon whose file routes are rooted at tmp/root (with its own etc/passwd and etc/group:
    root and nobody), next to tmp/outside, which nothing done through the daemon may touch or
    see. The daemon gets .root and .outside."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                         "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    os.chmod(tmp_path, 0o755)
    os.chmod(root, 0o755)
    d = daemon_factory(config={"files": {"root": str(root)}})
    d.root = root
    d.outside = outside
    return d


@pytest.fixture
def daemon(daemon_factory):
    """A ready daemon with no main command, on a TCP port, with a known token."""
    return daemon_factory()


def run_sprite_env(args, env=None, timeout=None, cwd=None):
    """Runs sprite-env to completion (for -version and bad configurations)."""
    e = base_env()
    e["SPRITE_HTTP_API_TOKEN"] = "e2e-unused"  # never write a token file outside the test dir
    e.update(env or {})
    try:
        r = subprocess.run([str(BIN)] + list(args), env=e, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, cwd=cwd,
                           timeout=DEADLINE if timeout is None else timeout,
                           start_new_session=True)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"sprite-env {args} did not exit: stderr so far {e.stderr!r}")
    assert_no_sanitizer_report(r.stderr)
    return r


def basic_auth(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
