# SPDX-License-Identifier: MIT
"""The Docker-Engine-compatible exec API, driven by the real clients.

The wire reference is shared/spec/exec-apis.md, Part A. The clients: the docker CLI
(/usr/local/bin/docker, with DOCKER_HOST and DOCKER_CUSTOM_HEADERS), docker-py (Debian's
python3-docker) and dockerode (npm, installed into tests/e2e/node by `scripts/deps.sh test`), plus
raw HTTP for what the clients hide (headers, framing, error bodies).
"""

import errno
import fcntl
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import termios
import threading
import time
from pathlib import Path

import pytest

from conftest import DEADLINE, REPO, RawClient, alive, descendants, proc_comm, wait_for

DOCKER = os.environ.get("SPRITE_E2E_DOCKER", "/usr/local/bin/docker")
NODE_DIR = REPO / "tests" / "e2e" / "node"
HEX64 = re.compile(r"[0-9a-f]{64}")
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW_STREAM = "application/vnd.docker.raw-stream"

# docker-py 5.0.3 (Debian 12) uses APIs that Python 3.11 deprecates: not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:docker")


def auth(d):
    return {"Authorization": f"Bearer {d.token}"}


def require_docker_cli():
    if not os.access(DOCKER, os.X_OK):
        pytest.fail(f"the docker CLI is not at {DOCKER} (set SPRITE_E2E_DOCKER)")


def assert_docker_headers(headers, what="response"):
    """The headers moby's middlewares put on every response (spec A.2)."""
    assert headers.get("api-version") == "1.51", f"Api-Version on the {what}: {headers}"
    assert headers.get("ostype") == "linux", f"Ostype on the {what}: {headers}"
    assert headers.get("docker-experimental") == "false", f"Docker-Experimental on the {what}: " \
                                                           f"{headers}"
    assert headers.get("server"), f"no Server header on the {what}: {headers}"


def assert_docker_error(resp, status, message=None):
    """A Docker error: the status, application/json, {"message": …} (spec A.3)."""
    assert resp.status == status, resp
    ctype = resp.headers.get("content-type", "")
    assert ctype.startswith("application/json"), f"content-type {ctype!r} for {resp}"
    body = resp.json()
    assert isinstance(body.get("message"), str) and body["message"], body
    if message is not None:
        assert body["message"] == message, body
    assert_docker_headers(resp.headers, f"{status} error")
    return body["message"]


def parse_frames(data):
    """Docker stdcopy frames (spec A.6) → [(stream, payload)]; the whole input must be frames."""
    frames = []
    i = 0
    while i < len(data):
        assert len(data) - i >= 8, f"a partial frame header at the end: {data[i:i + 40]!r}"
        head = data[i:i + 8]
        assert head[1:4] == b"\0\0\0", f"bad stdcopy header {head!r} at offset {i}"
        assert head[0] in (1, 2), f"stream byte {head[0]} (only 1 and 2 may come from the " \
                                  f"daemon) in {head!r}"
        size = struct.unpack(">I", head[4:8])[0]
        assert len(data) - i - 8 >= size, f"a partial frame at the end: {data[i:i + 40]!r}"
        frames.append((head[0], data[i + 8:i + 8 + size]))
        i += 8 + size
    return frames


def demux(data):
    frames = parse_frames(data)
    out = b"".join(p for s, p in frames if s == 1)
    err = b"".join(p for s, p in frames if s == 2)
    return out, err


def container_id(d, name="sprite"):
    r = d.request("GET", f"/containers/{name}/json")
    assert r.status == 200, r
    cid = r.json()["Id"]
    assert HEX64.fullmatch(cid), cid
    return cid


def exec_create(d, body, prefix="", container="sprite"):
    """POST [prefix]/containers/NAME/exec (or POST /exec with container=None) → the exec id."""
    path = f"{prefix}/containers/{container}/exec" if container else f"{prefix}/exec"
    r = d.request("POST", path, body=body)
    assert r.status == 201, r
    assert_docker_headers(r.headers, "exec create")
    eid = r.json()["Id"]
    assert isinstance(eid, str) and eid, r
    return eid


def exec_inspect(d, eid, prefix=""):
    r = d.request("GET", f"{prefix}/exec/{eid}/json")
    assert r.status == 200, r
    assert_docker_headers(r.headers, "exec inspect")
    return r.json()


class Hijack:
    """POST /exec/{id}/start with Connection: Upgrade + Upgrade: tcp on a raw socket."""

    def __init__(self, d, eid, body=None, prefix="", upgrade=True, headers=None):
        raw = json.dumps({"Detach": False, "Tty": False} if body is None else body).encode()
        self.client = RawClient(d.address)
        self.sock = self.client.sock
        hdrs = {"Host": "e2e", "Content-Type": "application/json", "Content-Length": str(len(raw))}
        if upgrade:
            hdrs.update({"Connection": "Upgrade", "Upgrade": "tcp"})
        hdrs.update(auth(d))
        hdrs.update(headers or {})
        head = f"POST {prefix}/exec/{eid}/start HTTP/1.1\r\n" + \
            "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
        assert self.client.send(head.encode() + b"\r\n" + raw)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self._recv()
            if not chunk:
                pytest.fail(f"connection closed before the response head: {buf!r}")
            buf += chunk
        head, _, self.rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status_line = lines[0]
        self.status = int(lines[0].split(" ", 2)[1])
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()

    def _recv(self):
        try:
            return self.sock.recv(65536)
        except ConnectionResetError:
            return b""
        except socket.timeout:
            pytest.fail(f"no data from the daemon within {self.sock.gettimeout()}s")

    def read_some(self):
        if self.rest:
            data, self.rest = self.rest, b""
            return data
        return self._recv()

    def read_to_eof(self):
        out = bytearray()
        while True:
            data = self.read_some()
            if not data:
                return bytes(out)
            out += data

    def send(self, data):
        self.sock.sendall(data)

    def shut_wr(self):
        self.sock.shutdown(socket.SHUT_WR)

    def close(self):
        self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run_hijacked(d, eid, body=None, prefix="", stdin=None):
    """Starts an exec with the hijack, sends stdin (then half-closes), reads to EOF."""
    with Hijack(d, eid, body=body, prefix=prefix) as h:
        assert h.status == 101, (h.status_line, h.headers, h.rest)
        if stdin is not None:
            h.send(stdin)
        h.shut_wr()
        return h.headers, h.read_to_eof()


# --------------------------------------------------------------------------------------------
# the docker CLI


class DockerCLI:
    """Runs the docker CLI against one daemon, with a fresh HOME and DOCKER_CONFIG.

    Every process started is killed (with its process group) when the test ends."""

    def __init__(self, home):
        require_docker_cli()
        self.home = Path(home)
        (self.home / "docker-config").mkdir(parents=True, exist_ok=True)
        self.procs = []

    def env(self, d, token="default", host=None):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith("DOCKER_") and not k.startswith("SPRITE_")}
        e["HOME"] = str(self.home)
        e["DOCKER_CONFIG"] = str(self.home / "docker-config")
        e["DOCKER_CLI_HINTS"] = "false"
        if host is None:
            host = f"unix://{d.unix_path}" if d.unix_path else f"tcp://127.0.0.1:{d.port}"
        e["DOCKER_HOST"] = host
        tok = d.token if token == "default" else token
        if tok is not None:
            e["DOCKER_CUSTOM_HEADERS"] = f"Authorization=Bearer {tok}"
        return e

    def popen(self, d, args, token="default", **kwargs):
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        kwargs.setdefault("start_new_session", True)
        p = subprocess.Popen([DOCKER] + list(args), env=self.env(d, token), cwd=str(self.home),
                             **kwargs)
        self.procs.append(p)
        return p

    def run(self, d, *args, input=None, token="default", timeout=None):
        """Runs `docker ARGS…` to completion: a CompletedProcess with text stdout/stderr."""
        p = self.popen(d, args, token=token,
                       stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL)
        try:
            out, err = p.communicate(input, timeout=DEADLINE if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            self.kill(p)
            out, err = p.communicate()
            pytest.fail(f"docker {' '.join(args)} did not finish; stdout {out[-500:]!r} "
                        f"stderr {err[-500:]!r}")
        return subprocess.CompletedProcess(p.args, p.returncode, out.decode(errors="replace"),
                                           err.decode(errors="replace"))

    @staticmethod
    def kill(p):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def cleanup(self):
        for p in self.procs:
            self.kill(p)
            try:
                p.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                pass
            for f in (p.stdin, p.stdout, p.stderr):
                if f:
                    f.close()


@pytest.fixture
def cli(tmp_path):
    c = DockerCLI(tmp_path / "cli-home")
    yield c
    c.cleanup()


def test_cli_exec_echo(daemon, cli):
    r = cli.run(daemon, "exec", "sprite", "echo", "hi")
    assert (r.returncode, r.stdout, r.stderr) == (0, "hi\n", "")


def test_cli_exec_streams_and_exit_code(daemon, cli):
    r = cli.run(daemon, "exec", "sprite", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")


def test_cli_exec_stdin(daemon, cli):
    r = cli.run(daemon, "exec", "-i", "sprite", "cat", input=b"data\n")
    assert (r.returncode, r.stdout, r.stderr) == (0, "data\n", "")


def test_cli_exec_stdin_larger_than_a_pipe_then_eof(daemon, cli):
    data = os.urandom(512 * 1024)
    r = cli.run(daemon, "exec", "-i", "sprite", "sh", "-c", "wc -c; echo done >&2", input=data)
    assert (r.returncode, r.stdout.strip(), r.stderr) == (0, str(len(data)), "done\n")


def test_cli_exec_without_i_gives_no_stdin(daemon, cli):
    # the CLI half-closes right after the 101: that must not hang the command nor end it early
    r = cli.run(daemon, "exec", "sprite", "sh", "-c", "cat; echo after-cat", input=b"ignored\n")
    assert (r.returncode, r.stdout, r.stderr) == (0, "after-cat\n", "")


def test_cli_exec_env(daemon, cli):
    # Go's JSON encoder sends <, > and & as \u003c, \u003e and \u0026
    r = cli.run(daemon, "exec", "-e", "K=V", "-e", "ODD=<a&b> c", "sprite", "sh", "-c",
                'echo "$K|$ODD"')
    assert (r.returncode, r.stdout, r.stderr) == (0, "V|<a&b> c\n", "")


def test_cli_exec_workdir(daemon, cli, tmp_path):
    wd = tmp_path / "work dir"
    wd.mkdir()
    r = cli.run(daemon, "exec", "-w", str(wd), "sprite", "pwd")
    assert (r.returncode, r.stdout, r.stderr) == (0, f"{wd}\n", "")
    r = cli.run(daemon, "exec", "-w", "/tmp", "sprite", "pwd")
    assert (r.returncode, r.stdout) == (0, "/tmp\n")


def test_cli_exec_user(daemon, cli):
    r = cli.run(daemon, "exec", "-u", "nobody", "sprite", "id", "-un")
    assert (r.returncode, r.stdout, r.stderr) == (0, "nobody\n", "")
    r = cli.run(daemon, "exec", "-u", "1234:1234", "sprite", "sh", "-c", "id -u; id -g")
    assert (r.returncode, r.stdout, r.stderr) == (0, "1234\n1234\n", "")


def test_cli_exec_detached(daemon, cli, tmp_path):
    marker = tmp_path / "detached"
    start = time.monotonic()
    r = cli.run(daemon, "exec", "-d", "sprite", "sh", "-c",
                f"echo x > '{marker}'; exec sleep 1001")
    took = time.monotonic() - start
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert took < DEADLINE / 2, f"docker exec -d took {took:.1f}s"
    wait_for(lambda: marker.exists() and marker.read_text() == "x\n",
             what="the detached command to write its file")
    # the CLI has gone; the detached process must keep running
    sleeps = wait_for(lambda: [p for p in descendants(daemon.pid) if proc_comm(p) == "sleep"
                               and alive(p)], what="the detached sleep under the daemon")
    assert len(sleeps) == 1, sleeps


def test_cli_large_output_is_lossless(daemon, cli):
    # frames of at most 32 KiB on the wire; the CLI puts them back together
    expected = "".join(f"{i}\n" for i in range(1, 300001))
    r = cli.run(daemon, "exec", "sprite", "sh", "-c", "seq 1 300000; seq 1 300000 >&2")
    assert r.returncode == 0
    assert r.stdout == expected and r.stderr == expected, (len(r.stdout), len(r.stderr))


def test_cli_unknown_user_is_reported(daemon, cli):
    # moby checks the user at create (a 400 the CLI prints); after a start's non-101 answer the
    # v28 CLI only says "unable to upgrade to tcp, received 400" and the reason is lost
    r = cli.run(daemon, "exec", "-u", "no-such-user-e2e", "sprite", "true")
    assert r.returncode == 1, r
    assert "Error response from daemon:" in r.stderr and "no-such-user-e2e" in r.stderr, r


def test_cli_missing_workdir_is_reported(daemon, cli):
    # either refused at create (rc 1, "Error response from daemon: …") or, as moby does, the
    # reason in the stream after the 101 (rc 126): the user must see which directory
    r = cli.run(daemon, "exec", "-w", "/no-such-dir-e2e", "sprite", "true")
    assert r.returncode in (1, 126), r
    assert "/no-such-dir-e2e" in r.stdout + r.stderr, r


def test_exec_create_with_an_unknown_user_is_400(daemon):
    r = daemon.request("POST", "/containers/sprite/exec",
                       body={"Cmd": ["true"], "User": "no-such-user-e2e"})
    assert "no-such-user-e2e" in assert_docker_error(r, 400)


def test_cli_unknown_container(daemon, cli):
    r = cli.run(daemon, "exec", "x", "echo", "hi")
    assert r.returncode == 1, r
    assert "Error response from daemon: No such container: x" in r.stderr, r.stderr
    assert r.stdout == ""


def test_cli_unknown_binary_is_127_with_the_reason(daemon, cli):
    r = cli.run(daemon, "exec", "sprite", "no-such-binary-e2e", "arg")
    assert r.returncode == 127, r
    text = r.stdout + r.stderr
    assert "no-such-binary-e2e" in text, r
    assert re.search(r"no such file|not found", text, re.I), r


def test_cli_killed_by_a_signal_is_128_plus_n(daemon, cli):
    r = cli.run(daemon, "exec", "sprite", "sh", "-c", "kill -9 $$")
    assert r.returncode == 137, r
    r = cli.run(daemon, "exec", "sprite", "sh", "-c", "kill -TERM $$")
    assert r.returncode == 143, r


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_cli_without_the_right_token(daemon, cli, token):
    r401 = daemon.request("GET", "/containers/sprite/json", token=token)
    message = assert_docker_error(r401, 401)
    r = cli.run(daemon, "exec", "sprite", "echo", "hi", token=token)
    assert r.returncode == 1, r
    assert r.stdout == "", r
    assert f"Error response from daemon: {message}" in r.stderr, r.stderr


def test_cli_ps_lists_sprite(daemon, cli):
    cid = container_id(daemon)
    r = cli.run(daemon, "ps", "--no-trunc", "--format", "{{.ID}} {{.Names}}")
    assert r.returncode == 0, r
    assert f"{cid} sprite" in r.stdout.splitlines(), r.stdout
    r = cli.run(daemon, "ps")
    assert r.returncode == 0, r
    assert "sprite" in r.stdout and cid[:12] in r.stdout, r.stdout


def test_cli_inspect(daemon, cli):
    r = cli.run(daemon, "inspect", "sprite")
    assert r.returncode == 0, r
    body = json.loads(r.stdout)
    assert isinstance(body, list) and len(body) == 1, body
    c = body[0]
    assert HEX64.fullmatch(c["Id"]), c
    assert c["Id"] == container_id(daemon)
    assert c["Name"] == "/sprite", c
    assert c["State"]["Running"] is True, c
    r = cli.run(daemon, "inspect", "--format", "{{.Name}} {{.State.Running}}", "sprite")
    assert (r.returncode, r.stdout) == (0, "/sprite true\n"), r


def test_cli_version_and_info(daemon, cli):
    r = cli.run(daemon, "version")
    assert r.returncode == 0, r
    assert re.search(r"^Server:", r.stdout, re.M), r.stdout
    assert "Error" not in r.stderr, r.stderr
    r = cli.run(daemon, "info")
    assert r.returncode == 0, r
    assert re.search(r"^Server:", r.stdout, re.M), r.stdout
    assert "ERROR" not in r.stdout + r.stderr, r


def test_cli_over_a_unix_socket(daemon_factory, cli):
    d = daemon_factory(listen="unix")
    r = cli.run(d, "exec", "sprite", "sh", "-c", "echo hi; echo ho >&2; exit 4")
    assert (r.returncode, r.stdout, r.stderr) == (4, "hi\n", "ho\n")
    r = cli.run(d, "exec", "-i", "sprite", "cat", input=b"data\n")
    assert (r.returncode, r.stdout) == (0, "data\n")


def test_cli_20_concurrent_execs(daemon, cli):
    results = {}
    errors = []

    def one(i):
        try:
            results[i] = cli.run(daemon, "exec", "sprite", "echo", str(i), timeout=DEADLINE * 3)
        except BaseException as e:  # noqa: B902 - reported below
            errors.append((i, repr(e)))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE * 4)
    assert not errors, errors
    assert not [t for t in threads if t.is_alive()], "some docker exec did not finish"
    for i in range(20):
        r = results[i]
        assert (r.returncode, r.stdout, r.stderr) == (0, f"{i}\n", ""), (i, r)


def loop_procs(d):
    """The shell and the `sleep 1000` of the chatty command below, under the daemon."""
    out = []
    for p in descendants(d.pid):
        if not alive(p):
            continue
        try:
            argv = Path(f"/proc/{p}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        except (FileNotFoundError, ProcessLookupError):
            continue
        if argv == [b"sleep", b"1000"] or (argv[:2] == [b"sh", b"-c"] and b"CHATTY" in argv[2]):
            out.append(p)
    return out


CHATTY = "sleep 1000 & while :; do echo CHATTY; sleep 0.01; done"


def assert_gone_and_healthy(d, cli, victims):
    wait_for(lambda: not [p for p in victims if alive(p)],
             what="the process group to be killed after the client went away")
    assert d.running(), d.stderr()
    assert d.health()["status"] == "ok"
    r = cli.run(d, "exec", "sprite", "echo", "still here")
    assert (r.returncode, r.stdout) == (0, "still here\n"), r


def test_cli_killed_mid_stream_kills_the_group(daemon, cli):
    p = cli.popen(daemon, ["exec", "sprite", "sh", "-c", CHATTY])
    first = p.stdout.readline()
    assert first == b"CHATTY\n", first
    victims = wait_for(lambda: len(loop_procs(daemon)) == 2 and loop_procs(daemon),
                       what="the shell and its sleep")
    cli.kill(p)
    p.wait(DEADLINE)
    assert_gone_and_healthy(daemon, cli, victims)


def test_raw_hijack_closed_mid_stream_kills_the_group(daemon, cli):
    eid = exec_create(daemon, {"Cmd": ["sh", "-c", CHATTY], "AttachStdout": True,
                               "AttachStderr": True})
    h = Hijack(daemon, eid)
    try:
        assert h.status == 101, (h.status_line, h.headers)
        data = b""
        while b"CHATTY" not in data:
            chunk = h.read_some()
            assert chunk, "the stream ended early"
            data += chunk
        victims = wait_for(lambda: len(loop_procs(daemon)) == 2 and loop_procs(daemon),
                           what="the shell and its sleep")
    finally:
        h.close()
    assert_gone_and_healthy(daemon, cli, victims)
    info = wait_for(lambda: (lambda i: i if i["Running"] is False else None)(
        exec_inspect(daemon, eid)), what="the exec to be recorded as ended")
    assert isinstance(info["ExitCode"], int), info


# -- docker exec -it under a real terminal


def set_winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class PtyCLI:
    """The docker CLI on a pty of ours (its controlling terminal), read through the master."""

    def __init__(self, cli, d, args, rows, cols):
        self.master, self.slave = os.openpty()
        set_winsize(self.slave, rows, cols)

        def ctty():
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = cli.popen(d, args, stdin=self.slave, stdout=self.slave, stderr=self.slave,
                              preexec_fn=ctty)
        os.close(self.slave)
        self.slave = None
        self.out = b""

    def pump(self, timeout=0.05):
        r, _, _ = select.select([self.master], [], [], timeout)
        if r:
            try:
                data = os.read(self.master, 65536)
            except OSError as e:
                if e.errno != errno.EIO:
                    raise
                data = b""
            self.out += data
            return data
        return None

    def expect(self, pattern, what):
        rx = re.compile(pattern)

        def seen():
            self.pump()
            return rx.search(self.out)

        return wait_for(seen, what=f"{what}; terminal so far: {self.out[-400:]!r}")

    def type(self, text):
        os.write(self.master, text.encode())

    def close(self):
        if self.master is not None:
            os.close(self.master)
            self.master = None


def test_cli_exec_it_under_a_terminal(daemon, cli):
    term = PtyCLI(cli, daemon, ["exec", "-it", "sprite", "sh"], rows=33, cols=111)
    try:
        term.expect(rb"[#$] $", "a shell prompt")
        term.out = b""
        term.type('echo "@@$(stty size)@@"\r')
        m = term.expect(rb"@@(\d+) (\d+)@@", "the output of stty size")
        assert (int(m.group(1)), int(m.group(2))) == (33, 111), term.out
        term.type("tty\r")
        term.expect(rb"/dev/pts/\d+\r\n", "the output of tty")

        # a new window size: the kernel signals the CLI (its controlling terminal), and so do we
        set_winsize(term.master, 40, 120)
        os.kill(term.proc.pid, signal.SIGWINCH)

        def resized():
            term.out = b""
            term.type('echo "@@$(stty size)@@"\r')
            m = term.expect(rb"@@(\d+) (\d+)@@", "the output of stty size")
            return (int(m.group(1)), int(m.group(2))) == (40, 120)

        wait_for(resized, what="stty size to show the new window size 40 120")
        term.type("exit 5\r")

        def exited():
            term.pump()
            return term.proc.poll() is not None

        wait_for(exited, what="docker exec -it to exit")
        assert term.proc.returncode == 5, (term.proc.returncode, term.out)
    finally:
        term.close()


def test_cli_exec_t_output_comes_raw(daemon, cli):
    # -t without -i and without a terminal on stdin: the CLI sends no resize, output is raw
    r = cli.run(daemon, "exec", "-t", "sprite", "sh", "-c", "tty; echo err >&2; exit 6")
    assert r.returncode == 6, r
    assert r.stdout.startswith("/dev/pts/"), r
    assert "err\r\n" in r.stdout, r  # stderr goes through the terminal too


# -- the container name and id


def test_container_name_from_config(daemon_factory, cli):
    d = daemon_factory(config={"docker": {"container_name": "box"}})
    r = cli.run(d, "exec", "box", "echo", "in a box")
    assert (r.returncode, r.stdout) == (0, "in a box\n"), r
    r = cli.run(d, "exec", "sprite", "echo", "hi")
    assert r.returncode == 1, r
    assert "Error response from daemon: No such container: sprite" in r.stderr, r
    r = cli.run(d, "ps", "--format", "{{.Names}}")
    assert r.returncode == 0 and "box" in r.stdout.split(), r
    assert "sprite" not in r.stdout.split(), r
    body = d.request("GET", "/containers/box/json").json()
    assert body["Name"] == "/box" and HEX64.fullmatch(body["Id"]), body


@pytest.mark.parametrize("length", [64, 12])
def test_container_lookup_by_id(daemon, cli, length):
    # docker-py's containers.list() looks each container up by its full id; users copy the
    # 12-character id that `docker ps` shows (moby accepts any unique prefix)
    cid = container_id(daemon)
    for ref in (cid[:length],):
        r = daemon.request("GET", f"/v1.51/containers/{ref}/json")
        assert r.status == 200, (ref, r)
        assert r.json()["Id"] == cid
        r = cli.run(daemon, "exec", ref, "echo", "by id")
        assert (r.returncode, r.stdout) == (0, "by id\n"), (ref, r)


def test_container_id_is_stable_across_restarts(daemon_factory):
    first = daemon_factory()
    cid = container_id(first)
    assert container_id(first) == cid
    first.kill()
    again = daemon_factory(env={"SPRITE_WRITE_DIR": str(first.state_dir)})
    assert container_id(again) == cid


# --------------------------------------------------------------------------------------------
# raw HTTP: ping, headers, versioned paths, errors


def test_ping_head_and_get_need_no_token(daemon):
    for method in ("HEAD", "GET"):
        for token in (None, "default"):
            r = daemon.request(method, "/_ping", token=token)
            assert r.status == 200, (method, r)
            assert_docker_headers(r.headers, f"{method} /_ping")
            if method == "GET":
                assert r.body == b"OK", r
            else:
                assert r.body == b"", r
    r = daemon.request("GET", "/v1.51/_ping", token=None)
    assert r.status == 200 and r.body == b"OK", r
    assert_docker_headers(r.headers, "GET /v1.51/_ping")


def test_versioned_and_unversioned_paths(daemon):
    cid = container_id(daemon)
    for prefix in ("", "/v1.41", "/v1.50", "/v1.51", "/v1.24"):
        r = daemon.request("GET", f"{prefix}/containers/sprite/json")
        assert r.status == 200, (prefix, r)
        assert_docker_headers(r.headers, f"GET {prefix}/containers/sprite/json")
        body = r.json()
        assert body["Id"] == cid and body["Name"] == "/sprite", body
        assert body["State"]["Running"] is True, body


def test_errors_are_json_with_a_message_and_docker_headers(daemon):
    assert_docker_error(daemon.request("GET", "/containers/x/json"), 404, "No such container: x")
    assert_docker_error(daemon.request("GET", "/v1.51/containers/x/json"), 404,
                        "No such container: x")
    assert_docker_error(daemon.request("POST", "/v1.51/containers/x/exec",
                                       body={"Cmd": ["true"]}), 404, "No such container: x")
    for path in ("/containers/sprite/json", "/v1.51/containers/sprite/json",
                 "/v1.51/containers/sprite/exec", "/exec/abc/json", "/containers/json"):
        method = "POST" if path.endswith("/exec") else "GET"
        r = daemon.request(method, path, token=None)
        assert_docker_error(r, 401)
        r = daemon.request(method, path, token="wrong")
        assert_docker_error(r, 401)


def test_seed_exec_create_start_inspect(daemon):
    cid = container_id(daemon)
    eid = exec_create(daemon, {"Cmd": ["sh", "-c", "echo hi; echo ho >&2; exit 3"],
                               "AttachStdout": True, "AttachStderr": True}, container=None)
    info = exec_inspect(daemon, eid)
    assert info["Running"] is False and info["ExitCode"] is None, info  # created, not started
    headers, data = run_hijacked(daemon, eid)
    assert_docker_headers(headers, "101")
    assert headers.get("connection", "").lower() == "upgrade", headers
    assert headers.get("upgrade", "").lower() == "tcp", headers
    assert headers.get("content-type") == MULTIPLEXED, headers
    assert demux(data) == (b"hi\n", b"ho\n")
    # inspected the moment the stream ends, as the CLI does: the exit code is already there
    info = exec_inspect(daemon, eid)
    assert info["Running"] is False, info
    assert info["ExitCode"] == 3, info
    assert info["ID"] == eid, info
    assert info["ContainerID"] == cid, info
    assert isinstance(info["Pid"], int) and info["Pid"] > 0, info
    assert info["OpenStdin"] is False and info["OpenStdout"] is True \
        and info["OpenStderr"] is True, info
    pc = info["ProcessConfig"]
    assert pc["entrypoint"] == "sh", pc
    assert pc["arguments"] == ["-c", "echo hi; echo ho >&2; exit 3"], pc
    assert pc["tty"] is False and pc["privileged"] is False, pc
    # the record stays for inspection
    assert exec_inspect(daemon, eid, prefix="/v1.51")["ExitCode"] == 3


def test_seed_exec_frames_by_hand(daemon):
    eid = exec_create(daemon, {"Cmd": ["sh", "-c", "echo hi"], "AttachStdout": True,
                               "AttachStderr": True}, container=None)
    with Hijack(daemon, eid) as h:
        assert h.status == 101, (h.status_line, h.headers)
        h.shut_wr()
        data = h.read_to_eof()
    assert data[:8] == b"\x01\x00\x00\x00\x00\x00\x00\x03", data
    assert data == b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n", data


def test_exec_stdin_half_close(daemon):
    eid = exec_create(daemon, {"Cmd": ["sh", "-c", "cat; echo eof >&2"], "AttachStdin": True,
                               "AttachStdout": True, "AttachStderr": True})
    assert exec_inspect(daemon, eid)["OpenStdin"] is True
    data = os.urandom(300 * 1024)
    headers, out = run_hijacked(daemon, eid, stdin=data)
    assert demux(out) == (data, b"eof\n")
    assert exec_inspect(daemon, eid)["ExitCode"] == 0


def test_exec_unknown_id_is_404(daemon):
    msg = "No such exec instance: nope"
    assert_docker_error(daemon.request("GET", "/exec/nope/json"), 404, msg)
    assert_docker_error(daemon.request("GET", "/v1.51/exec/nope/json"), 404, msg)
    assert_docker_error(daemon.request("POST", "/exec/nope/start", body={"Detach": True}), 404,
                        msg)
    assert_docker_error(daemon.request("POST", "/exec/nope/resize?h=10&w=10"), 404, msg)
    with Hijack(daemon, "nope") as h:
        assert h.status == 404, (h.status_line, h.headers)
        assert_docker_headers(h.headers, "404 of a hijacked start")


def test_exec_started_twice_is_409(daemon):
    eid = exec_create(daemon, {"Cmd": ["cat"], "AttachStdin": True, "AttachStdout": True})
    with Hijack(daemon, eid) as h:
        assert h.status == 101, (h.status_line, h.headers)
        wait_for(lambda: exec_inspect(daemon, eid)["Running"] is True, what="cat to run")
        assert_docker_error(daemon.request("POST", f"/exec/{eid}/start", body={"Detach": True}),
                            409)  # while running
        h.send(b"bye\n")
        h.shut_wr()  # cat sees EOF and exits
        assert demux(h.read_to_eof()) == (b"bye\n", b"")
    assert exec_inspect(daemon, eid)["ExitCode"] == 0
    assert_docker_error(daemon.request("POST", f"/exec/{eid}/start", body={"Detach": True}),
                        409)  # after it ran
    with Hijack(daemon, eid) as h2:
        assert h2.status == 409, (h2.status_line, h2.headers)


@pytest.mark.parametrize("body", [{"Cmd": []}, {"Cmd": None}, {}, {"AttachStdout": True}])
def test_exec_create_without_a_command_is_400(daemon, body):
    assert_docker_error(daemon.request("POST", "/containers/sprite/exec", body=body), 400,
                        "No exec command specified")
    assert_docker_error(daemon.request("POST", "/v1.51/containers/sprite/exec", body=body), 400,
                        "No exec command specified")


def test_seed_exec_create_with_empty_cmd_is_400(daemon):
    assert_docker_error(daemon.request("POST", "/exec", body={"Cmd": []}), 400,
                        "No exec command specified")


@pytest.mark.parametrize("query", [
    # moby's Uint32Value: a missing, empty, signed, non-decimal or too large number is a 400
    "h=x&w=1", "h=1&w=x", "h=-1&w=10", "h=99999999999&w=1", "h=1.5&w=2",
    "h=&w=10", "h=10", "w=10", "", "h=%2B5&w=3",
])
def test_exec_resize_bad_numbers_are_400(daemon, query):
    eid = exec_create(daemon, {"Cmd": ["true"], "Tty": True, "AttachStdout": True})
    assert_docker_error(daemon.request("POST", f"/exec/{eid}/resize?{query}"), 400)


def test_exec_resize_before_start_is_applied_at_start(daemon):
    eid = exec_create(daemon, {"Cmd": ["sh", "-c", "stty size"], "Tty": True,
                               "AttachStdout": True, "AttachStderr": True})
    # a resize may come before the process runs (spec A.7); dockerode sends a JSON body too
    r = daemon.request("POST", f"/v1.51/exec/{eid}/resize?h=31&w=97", body={"h": 31, "w": 97})
    assert r.status == 200 and r.body == b"", r
    assert_docker_headers(r.headers, "resize")
    headers, data = run_hijacked(daemon, eid, body={"Detach": False, "Tty": True})
    assert headers.get("content-type") == RAW_STREAM, headers
    assert data == b"31 97\r\n", data
    assert exec_inspect(daemon, eid)["ExitCode"] == 0


def test_exec_tty_console_size_from_create(daemon):
    eid = exec_create(daemon, {"Cmd": ["sh", "-c", "stty size; tty"], "Tty": True,
                               "AttachStdout": True, "AttachStderr": True,
                               "ConsoleSize": [25, 81]})
    headers, data = run_hijacked(daemon, eid, body={"Detach": False, "Tty": True})
    lines = data.split(b"\r\n")
    assert lines[0] == b"25 81", data
    assert lines[1].startswith(b"/dev/pts/"), data
    assert exec_inspect(daemon, eid)["ProcessConfig"]["tty"] is True


def test_exec_start_without_upgrade_is_a_close_delimited_200(daemon):
    eid = exec_create(daemon, {"Cmd": ["sh", "-c", "echo plain; echo perr >&2; exit 2"],
                               "AttachStdout": True, "AttachStderr": True})
    with Hijack(daemon, eid, upgrade=False) as h:
        assert h.status == 200, (h.status_line, h.headers)
        assert_docker_headers(h.headers, "200 of a plain start")
        assert h.headers.get("content-type") == RAW_STREAM, h.headers
        assert "content-length" not in h.headers, h.headers
        assert "transfer-encoding" not in h.headers, h.headers
        data = h.read_to_eof()
    assert demux(data) == (b"plain\n", b"perr\n")
    info = exec_inspect(daemon, eid)
    assert (info["Running"], info["ExitCode"]) == (False, 2), info


def test_exec_content_type_follows_the_api_version(daemon):
    # spec A.6: !Tty and API >= 1.42 → multiplexed-stream; API < 1.42 → raw-stream (same frames)
    for prefix, ctype in (("/v1.51", MULTIPLEXED), ("/v1.41", RAW_STREAM)):
        eid = exec_create(daemon, {"Cmd": ["echo", prefix], "AttachStdout": True}, prefix=prefix)
        headers, data = run_hijacked(daemon, eid, prefix=prefix)
        assert headers.get("content-type") == ctype, (prefix, headers)
        assert demux(data) == (prefix.encode() + b"\n", b""), data


def test_exec_detached_start(daemon, tmp_path):
    marker = tmp_path / "marker"
    eid = exec_create(daemon, {"Cmd": ["sh", "-c", f"echo x > '{marker}'; exit 4"],
                               "Detach": True})
    r = daemon.request("POST", f"/v1.51/exec/{eid}/start", body={"Detach": True, "Tty": False})
    assert r.status == 200 and r.body == b"", r
    assert_docker_headers(r.headers, "detached start")
    info = wait_for(lambda: (lambda i: i if i["Running"] is False else None)(
        exec_inspect(daemon, eid)), what="the detached exec to end")
    assert info["ExitCode"] == 4, info
    assert marker.read_text() == "x\n"


def test_exec_exit_codes_on_the_wire(daemon):
    cases = [(["sh", "-c", "kill -9 $$"], 137), (["no-such-binary-e2e"], 127),
             (["sh", "-c", "exit 255"], 255), (["true"], 0)]
    for cmd, code in cases:
        eid = exec_create(daemon, {"Cmd": cmd, "AttachStdout": True, "AttachStderr": True})
        _, data = run_hijacked(daemon, eid)
        out, err = demux(data)
        info = exec_inspect(daemon, eid)
        assert (info["Running"], info["ExitCode"]) == (False, code), (cmd, info, out, err)
        if code == 127:
            assert b"no-such-binary-e2e" in out + err, (out, err)


def test_exec_not_executable_is_126(daemon, tmp_path):
    d = tmp_path / "a-dir"
    d.mkdir()
    eid = exec_create(daemon, {"Cmd": [str(d)], "AttachStdout": True, "AttachStderr": True})
    _, data = run_hijacked(daemon, eid)
    out, err = demux(data)
    assert str(d).encode() in out + err, (out, err)
    assert exec_inspect(daemon, eid)["ExitCode"] == 126


# --------------------------------------------------------------------------------------------
# docker-py
#
# docker-py (5.0.3, and upstream still: docker/docker-py#3332, #2042) parses the 101 head through
# a buffered reader, then reads the stream from the raw socket: output that arrived together with
# the head is lost, and exec_run returns b"". The daemon holds a docker-py start back for 50 ms
# (moby's runc start-up hides the race the same way); these tests check that nothing is lost.


def sh(script):
    return ["sh", "-c", script]


@pytest.fixture
def dockerpy(daemon):
    import docker  # Debian's python3-docker (scripts/deps.sh test): a failure if missing

    # an explicit version: with none, the constructor asks GET /version before a header can be
    # set (test_dockerpy_from_env covers that way, with the token in the config file)
    client = docker.DockerClient(base_url=f"tcp://127.0.0.1:{daemon.port}", version="1.41",
                                 timeout=DEADLINE)
    client.api.headers["Authorization"] = f"Bearer {daemon.token}"
    yield client
    client.close()


def test_dockerpy_exec_run(daemon, dockerpy, tmp_path):
    c = dockerpy.containers.get("sprite")
    assert c.id == container_id(daemon)
    assert c.name == "sprite"
    r = c.exec_run(sh('echo "$K:$(pwd)"; echo err >&2; exit 3'), demux=True,
                   environment={"K": "V"}, workdir=str(tmp_path))
    assert r.exit_code == 3, r
    assert r.output == (f"V:{tmp_path}\n".encode(), b"err\n"), r
    r = c.exec_run(sh("id -un"), user="nobody", demux=True)
    assert (r.exit_code, r.output) == (0, (b"nobody\n", None)), r
    r = c.exec_run(sh("echo plain; echo both >&2"))  # no demux: stdout and stderr mixed
    assert r.exit_code == 0, r
    assert r.output == b"plain\nboth\n", r


def test_dockerpy_exec_run_output_is_never_lost(daemon, dockerpy):
    c = dockerpy.containers.get("sprite")
    for i in range(40):
        r = c.exec_run(["echo", str(i)], demux=True)
        assert (r.exit_code, r.output) == (0, (f"{i}\n".encode(), None)), (i, r)


def test_dockerpy_default_client_negotiates_without_a_token(daemon):
    import docker

    # version "auto": GET /version comes before any header can be set, so it needs no token
    client = docker.DockerClient(base_url=f"tcp://127.0.0.1:{daemon.port}", timeout=DEADLINE)
    try:
        assert client.api.api_version == "1.51"
        client.api.headers["Authorization"] = f"Bearer {daemon.token}"
        r = client.containers.get("sprite").exec_run(["echo", "auto"])
        assert (r.exit_code, r.output) == (0, b"auto\n"), r
    finally:
        client.close()


def test_dockerpy_exec_run_failures(daemon, dockerpy):
    c = dockerpy.containers.get("sprite")
    assert c.exec_run(["sh", "-c", "kill -9 $$"]).exit_code == 137
    assert c.exec_run(["no-such-binary-e2e"]).exit_code == 127
    assert c.exec_run(["true"]).exit_code == 0


def test_dockerpy_containers_list(daemon, dockerpy):
    names = [c.name for c in dockerpy.containers.list()]
    assert "sprite" in names, names
    assert dockerpy.ping() is True


def test_dockerpy_low_level_socket(daemon, dockerpy):
    from docker.utils.socket import frames_iter

    api = dockerpy.api
    # the command prints only after reading what we send: no output can race the 101 head
    ex = api.exec_create("sprite", ["sh", "-c", "cat; echo done >&2; exit 9"], stdin=True)
    assert api.exec_inspect(ex["Id"])["OpenStdin"] is True
    sock = api.exec_start(ex["Id"], socket=True)
    raw = getattr(sock, "_sock", sock)
    raw.sendall(b"through the socket\n")
    raw.shutdown(socket.SHUT_WR)
    out, err = b"", b""
    for stream, data in frames_iter(sock, tty=False):
        assert stream in (1, 2), (stream, data)
        if stream == 1:
            out += data
        else:
            err += data
    sock.close()
    assert (out, err) == (b"through the socket\n", b"done\n")
    info = api.exec_inspect(ex["Id"])
    assert (info["Running"], info["ExitCode"]) == (False, 9), info


def test_dockerpy_errors(daemon, dockerpy):
    import docker

    with pytest.raises(docker.errors.NotFound) as e:
        dockerpy.containers.get("x")
    assert "No such container: x" in str(e.value)
    bad = docker.DockerClient(base_url=f"tcp://127.0.0.1:{daemon.port}", version="1.41",
                              timeout=DEADLINE)
    try:
        bad.api.headers["Authorization"] = "Bearer wrong"
        with pytest.raises(docker.errors.APIError) as e:
            bad.containers.get("sprite")
        assert e.value.response.status_code == 401
    finally:
        bad.close()


def write_config_with_token(dir_path, token):
    """A docker config.json whose HttpHeaders carry the token (read by the CLI and docker-py)."""
    dir_path.mkdir(parents=True, exist_ok=True)
    (dir_path / "config.json").write_text(
        json.dumps({"HttpHeaders": {"Authorization": f"Bearer {token}"}}))
    return dir_path


def test_dockerpy_from_env(daemon, tmp_path, monkeypatch):
    import docker

    conf = write_config_with_token(tmp_path / "docker-py-config", daemon.token)
    for k in list(os.environ):
        if k.startswith("DOCKER_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{daemon.port}")
    monkeypatch.setenv("DOCKER_CONFIG", str(conf))
    client = docker.from_env(timeout=DEADLINE)  # negotiates: GET /version
    try:
        assert client.api.api_version == "1.51"
        assert client.version()["ApiVersion"] == "1.51"
        r = client.containers.get("sprite").exec_run(sh("echo env; exit 1"))
        assert (r.exit_code, r.output) == (1, b"env\n"), r
    finally:
        client.close()


def test_cli_token_from_the_config_file(daemon, cli):
    write_config_with_token(cli.home / "docker-config", daemon.token)
    r = cli.run(daemon, "exec", "sprite", "echo", "hi", token=None)
    assert (r.returncode, r.stdout, r.stderr) == (0, "hi\n", ""), r


# --------------------------------------------------------------------------------------------
# dockerode


def test_dockerode(daemon):
    node = shutil.which("node")
    have_dockerode = (NODE_DIR / "node_modules" / "dockerode").is_dir()
    if not node and not have_dockerode:
        pytest.skip("neither node nor dockerode is installed (bash scripts/deps.sh test)")
    assert node, "dockerode is installed but node is not on PATH"
    assert have_dockerode, "node is installed but not dockerode: run `bash scripts/deps.sh test`"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["SPRITE_E2E_TOKEN"] = daemon.token
    p = subprocess.Popen([node, str(NODE_DIR / "dockerode_exec.js"), str(daemon.port), "sprite"],
                         env=env, cwd=str(NODE_DIR), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=DEADLINE * 3)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        pytest.fail(f"the dockerode script did not finish: {out!r} {err!r}")
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert p.returncode == 0, (out, err)
    res = json.loads(out)
    cid = container_id(daemon)

    c = res["container"]
    assert "error" not in c, c["error"]
    assert (c["id"], c["name"], c["running"]) == (cid, "/sprite", True), c
    assert any(x["id"] == cid and "/sprite" in x["names"] for x in c["listed"]), c

    h = res["hijack"]
    assert "error" not in h, h["error"]
    assert (h["stdout"], h["stderr"], h["exitCode"], h["running"]) == \
        ("hello dockerode\n", "err:dockerode\n", 7, False), h

    pl = res["plain"]
    assert "error" not in pl, pl["error"]
    assert (pl["stdout"], pl["stderr"], pl["exitCode"], pl["running"]) == \
        ("plain\n", "perr\n", 2, False), pl
