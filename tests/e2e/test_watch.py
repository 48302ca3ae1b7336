# SPDX-License-Identifier: MIT
"""GET /v1/files/watch: inotify events under a directory of the files root, as WebSocket text
messages or as a chunked NDJSON body; recursive watches follow new directories; the path stays
inside the root whatever the symlinks say; limits and clean-up when the client goes away."""

import json
import os
import signal
import socket
import time
import urllib.parse

import pytest
import websocket

from conftest import DEADLINE, RawClient, assert_error, files_daemon, wait_for

OP_TEXT, OP_CLOSE = 1, 8


@pytest.fixture
def env(daemon_factory, tmp_path):
    d = files_daemon(daemon_factory, tmp_path)
    (d.root / "w").mkdir()
    return d


def watch_target(path, recursive=False, user=None):
    q = {"path": path}
    if recursive:
        q["recursive"] = "true"
    if user:
        q["user"] = user
    return "/v1/files/watch?" + urllib.parse.urlencode(q)


class WSWatch:
    """A watch over a WebSocket: one JSON event per text message."""

    def __init__(self, d, path, recursive=False, user=None, rcvbuf=None):
        sockopt = [(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)] if rcvbuf else []
        self.ws = websocket.create_connection(
            f"ws://127.0.0.1:{d.port}{watch_target(path, recursive, user)}",
            header=[f"Authorization: Bearer {d.token}"], timeout=DEADLINE, sockopt=sockopt)
        self.close_code = None

    def next(self):
        """The next event, or None once the daemon closed (self.close_code is then set)."""
        try:
            op, data = self.ws.recv_data(control_frame=True)
        except websocket.WebSocketTimeoutException:
            pytest.fail(f"no watch event within {self.ws.gettimeout()}s")
        if op == OP_CLOSE:
            self.close_code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
            return None
        assert op == OP_TEXT, (op, data)
        return json.loads(data)

    def close(self):
        self.ws.shutdown()  # goes away without a close frame


class NDJSONWatch:
    """A watch over plain HTTP: a chunked application/x-ndjson body read line by line."""

    def __init__(self, d, path, recursive=False, user=None):
        self.client = RawClient(d.address)
        self.client.send((f"GET {watch_target(path, recursive, user)} HTTP/1.1\r\nHost: x\r\n"
                          f"Authorization: Bearer {d.token}\r\n\r\n").encode())
        c = self.client
        while b"\r\n\r\n" not in c.buf:
            c._fill()
        head, _, c.buf = c.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.body = b""  # de-chunked bytes not yet split into lines
        self.ended = False

    def _chunk(self):
        c = self.client
        while b"\r\n" not in c.buf:
            c._fill()
        size_line, _, c.buf = c.buf.partition(b"\r\n")
        size = int(size_line, 16)
        while len(c.buf) < size + 2:
            c._fill()
        self.body += c.buf[:size]
        c.buf = c.buf[size + 2:]
        if size == 0:
            self.ended = True

    def next(self):
        """The next event, or None at the end of the body."""
        while b"\n" not in self.body:
            if self.ended:
                return None
            self._chunk()
        line, _, self.body = self.body.partition(b"\n")
        return json.loads(line)

    def close(self):
        self.client.close()


def open_watch(kind, d, path, **kw):
    w = (WSWatch if kind == "ws" else NDJSONWatch)(d, path, **kw)
    first = w.next()
    assert first["type"] == "start", first
    return w


def collect(w, expected):
    """Reads events until each of `expected` ((type, path) pairs) has been seen, in that order
    (other events may come between); returns every event read."""
    seen, todo = [], list(expected)
    deadline = time.monotonic() + DEADLINE
    while todo:
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting for {todo}; got {seen}")
        ev = w.next()
        if ev is None:
            pytest.fail(f"the watch ended while waiting for {todo}; got {seen}")
        seen.append(ev)
        if (ev["type"], ev.get("path")) == todo[0]:
            todo.pop(0)
    return seen


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.parametrize("kind", ["ws", "ndjson"])
def test_file_events(env, kind):
    w = open_watch(kind, env, "/w")
    f, g = env.root / "w" / "f", env.root / "w" / "g"
    f.write_bytes(b"hello")
    os.chmod(f, 0o600)
    os.rename(f, g)
    os.unlink(g)
    seen = collect(w, [("create", "/w/f"), ("write", "/w/f"), ("chmod", "/w/f"),
                       ("rename", "/w/f"), ("create", "/w/g"), ("remove", "/w/g")])
    for ev in seen:
        assert set(ev) == {"type", "path", "name", "is_dir"}, ev
        assert ev["name"] == ev["path"][len("/w/"):] and ev["is_dir"] is False, ev
    os.mkdir(env.root / "w" / "sub")
    ev = collect(w, [("create", "/w/sub")])[-1]
    assert ev == {"type": "create", "path": "/w/sub", "name": "sub", "is_dir": True}
    w.close()
    assert env.health()["status"] == "ok"


def test_ndjson_response_shape(env):
    (env.root / "w" / "x").mkdir()
    w = NDJSONWatch(env, "w/./x/..//")
    assert w.status == 200
    assert w.headers["content-type"] == "application/x-ndjson"
    assert w.headers["transfer-encoding"] == "chunked"
    assert w.next() == {"type": "start", "path": "/w"}  # the path as the list route cleans it
    w.close()


def test_watching_the_root_and_odd_names(env):
    w = open_watch("ws", env, "/")
    (env.root / "top").write_bytes(b"")
    odd = os.fsencode(env.root) + b"/odd\xff\"\n"
    open(odd, "wb").close()
    seen = collect(w, [("create", "/top"), ("create", "/odd\ufffd\"\n")])
    assert seen[-1]["name"] == "odd\ufffd\"\n"
    w.close()


def test_idle_stream_survives_the_write_timeout(daemon_factory, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    d = daemon_factory(config={"files": {"root": str(root)}, "http": {"write_timeout": "300ms"}})
    w = open_watch("ndjson", d, "/")
    time.sleep(1.0)  # proves a negative: an idle stream outlives several write timeouts
    (root / "late").write_bytes(b"x")
    collect(w, [("create", "/late")])
    w.close()


def test_recursive_follows_new_directories(env):
    (env.root / "w" / "pre" / "deep").mkdir(parents=True)
    w = open_watch("ws", env, "/w", recursive=True)
    (env.root / "w" / "pre" / "deep" / "x").write_bytes(b"1")
    collect(w, [("create", "/w/pre/deep/x")])

    os.mkdir(env.root / "w" / "new")
    seen = collect(w, [("create", "/w/new")])
    (env.root / "w" / "new" / "f").write_bytes(b"2")
    seen = collect(w, [("create", "/w/new/f"), ("write", "/w/new/f")])
    assert seen[-1]["name"] == "new/f"

    # a tree made in one go: whatever was created before the new directories were watched is
    # reported from the listing made right after the watch was added
    (env.root / "w" / "a" / "b" / "c").mkdir(parents=True)
    (env.root / "w" / "a" / "b" / "c" / "f").write_bytes(b"3")
    collect(w, [("create", "/w/a/b/c/f")])
    (env.root / "w" / "a" / "b" / "c" / "g").write_bytes(b"4")
    collect(w, [("create", "/w/a/b/c/g")])

    # a directory moved in is watched; one moved away is not any more
    (env.outside / "mv" / "in").mkdir(parents=True)
    os.rename(env.outside / "mv", env.root / "w" / "mv")
    collect(w, [("create", "/w/mv")])
    (env.root / "w" / "mv" / "in" / "f").write_bytes(b"5")
    collect(w, [("create", "/w/mv/in/f")])
    os.rename(env.root / "w" / "mv", env.outside / "gone")
    collect(w, [("rename", "/w/mv")])
    (env.outside / "gone" / "in" / "leak").write_bytes(b"6")
    (env.root / "w" / "marker").write_bytes(b"")
    seen = collect(w, [("create", "/w/marker")])
    assert not [e for e in seen if "leak" in e["path"]], seen
    w.close()


def test_non_recursive_ignores_nested_entries(env):
    (env.root / "w" / "sub").mkdir()
    w = open_watch("ndjson", env, "/w")
    (env.root / "w" / "sub" / "nested").write_bytes(b"x")
    (env.root / "w" / "marker").write_bytes(b"")
    seen = collect(w, [("create", "/w/marker")])
    assert not [e for e in seen if "nested" in e["path"]], seen
    w.close()


def test_symlinks_never_leave_the_root(env):
    os.symlink("../outside", env.root / "up")
    os.symlink(str(env.outside), env.root / "abs")
    for path in ("/up", "/abs", "/up/", "/w/../../outside"):
        assert_error(env.request("GET", watch_target(path)), 404, "not_found")
    # ".." above the root stays at the root
    w = NDJSONWatch(env, "/../..")
    assert w.next() == {"type": "start", "path": "/"}
    w.close()
    # a recursive watch of the whole root sees the links, never what they point at
    w = open_watch("ws", env, "/", recursive=True)
    (env.outside / "secret").write_bytes(b"s")
    os.mkdir(env.outside / "dir")
    (env.root / "marker").write_bytes(b"")
    seen = collect(w, [("create", "/marker")])
    assert not [e for e in seen if "secret" in e["path"] or "dir" in e["path"]], seen
    w.close()
    # a link inside the root is followed inside it
    os.symlink("w", env.root / "in")
    w = open_watch("ws", env, "/in")
    (env.root / "w" / "via").write_bytes(b"")
    collect(w, [("create", "/in/via")])
    w.close()


def test_errors(env):
    (env.root / "file").write_bytes(b"x")
    assert_error(env.request("GET", "/v1/files/watch"), 400, "bad_request")
    assert_error(env.request("GET", watch_target("/missing")), 404, "not_found")
    assert_error(env.request("GET", watch_target("/missing/deeper")), 404, "not_found")
    assert_error(env.request("GET", watch_target("/file")), 400, "not_a_directory")
    assert_error(env.request("GET", watch_target("/w") + "&recursive=maybe"), 400, "bad_request")
    assert_error(env.request("GET", watch_target("/w", user="no-such-user-e2e")), 400,
                 "bad_request")
    assert env.request("GET", watch_target("/w"), token=None).status == 401
    # the same over a WebSocket: the error comes before the upgrade
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        WSWatch(env, "/missing")
    assert e.value.status_code == 404


def test_user_rights(env):
    private = env.root / "private"
    private.mkdir(mode=0o700)
    assert_error(env.request("GET", watch_target("/private", user="nobody")), 403, "forbidden")
    shared = env.root / "shared"
    (shared / "closed").mkdir(parents=True)
    os.chmod(shared / "closed", 0o700)
    w = open_watch("ws", env, "/shared", recursive=True, user="nobody")
    (shared / "closed" / "hidden").write_bytes(b"")  # nobody cannot read it: not watched
    (shared / "open").write_bytes(b"")
    seen = collect(w, [("create", "/shared/open")])
    assert not [e for e in seen if "hidden" in e["path"]], seen
    w.close()


@pytest.mark.parametrize("kind", ["ws", "ndjson"])
def test_end_when_the_directory_goes(env, kind):
    (env.root / "w" / "sub").mkdir()
    w = open_watch(kind, env, "/w", recursive=True)
    (env.root / "w" / "sub" / "f").write_bytes(b"")
    os.unlink(env.root / "w" / "sub" / "f")
    os.rmdir(env.root / "w" / "sub")
    os.rmdir(env.root / "w")
    seen = collect(w, [("remove", "/w/sub/f"), ("remove", "/w/sub")])
    while True:
        ev = w.next()
        assert ev is not None, f"closed without an end event after {seen}"
        if ev["type"] == "end":
            break
        seen.append(ev)
    assert ev == {"type": "end", "reason": "deleted"}
    assert w.next() is None
    if kind == "ws":
        assert w.close_code == 1000
    w.close()

    (env.root / "m").mkdir()
    w = open_watch(kind, env, "/m")
    os.rename(env.root / "m", env.root / "m2")
    ev = w.next()
    while ev and ev["type"] != "end":
        ev = w.next()
    assert ev == {"type": "end", "reason": "moved"}
    w.close()


def test_clients_leaving_free_everything(env):
    for i in range(20):
        (env.root / "w" / f"d{i}" / "x").mkdir(parents=True)
    # (base may still count the socket of an earlier request the daemon is about to close)
    base = fd_count(env.pid)
    watches = []
    for i in range(4):
        watches.append(open_watch("ws", env, "/w", recursive=True))
        watches.append(open_watch("ndjson", env, "/w", recursive=True))
    peak = fd_count(env.pid)
    (env.root / "w" / "d3" / "x" / "f").write_bytes(b"")
    for w in watches:
        collect(w, [("create", "/w/d3/x/f")])
    for w in watches:
        w.close()
    wait_for(lambda: fd_count(env.pid) <= base, what="the watchers' fds closed")
    # every watcher held a socket and an inotify fd, and gave both back
    assert peak - fd_count(env.pid) >= 16, (base, peak, fd_count(env.pid))
    # a client that leaves before reading anything
    s = socket.create_connection(("127.0.0.1", env.port))
    s.sendall((f"GET {watch_target('/w', True)} HTTP/1.1\r\nHost: x\r\n"
               f"Authorization: Bearer {env.token}\r\n\r\n").encode())
    s.close()
    wait_for(lambda: fd_count(env.pid) <= base, what="an abandoned watcher freed")
    assert env.health()["status"] == "ok"


@pytest.mark.timeout(120)
def test_at_most_64_watchers(env):
    base = fd_count(env.pid)
    watches = [open_watch("ndjson", env, "/w") for _ in range(64)]
    assert_error(env.request("GET", watch_target("/w")), 429, "too_many_watchers")
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        WSWatch(env, "/w")
    assert e.value.status_code == 429
    watches.pop().close()

    def one_more():
        r = NDJSONWatch(env, "/w")
        if r.status == 200:
            return r
        r.close()
        return None

    watches.append(wait_for(one_more, what="a free watcher slot"))
    for w in watches:
        w.close()
    wait_for(lambda: fd_count(env.pid) <= base, what="the watchers' fds closed")
    assert env.health()["status"] == "ok"


@pytest.mark.timeout(120)
def test_a_client_that_does_not_read_gets_an_overflow(env):
    """Events pile up past the send backlog cap: dropped, then one overflow; the daemon stays
    small and serves everyone meanwhile, and events flow again once the client reads."""
    w = open_watch("ws", env, "/w", rcvbuf=4096)
    long = "n" * 200
    rss0 = int(open(f"/proc/{env.pid}/status").read().split("VmRSS:")[1].split()[0])
    for i in range(30000):
        p = env.root / "w" / f"{long}{i}"
        p.write_bytes(b"")
        os.unlink(p)
    assert env.health()["status"] == "ok"
    rss1 = int(open(f"/proc/{env.pid}/status").read().split("VmRSS:")[1].split()[0])
    assert rss1 - rss0 < 64 * 1024, (rss0, rss1)  # KiB: no unbounded queue
    seen = collect(w, [("overflow", None)])  # sent once the client has read the backlog
    assert len(seen) < 30000 * 2
    (env.root / "w" / "after").write_bytes(b"")
    collect(w, [("create", "/w/after")])
    w.close()


@pytest.mark.timeout(120)
def test_at_most_8192_directories_per_watcher(env):
    big = env.root / "big"
    for i in range(8200):
        (big / f"{i:04d}").mkdir(parents=True)
    w = open_watch("ws", env, "/big", recursive=True)
    ev = w.next()
    assert ev["type"] == "error" and "8192" in ev["message"], ev
    (big / "0000" / "f").write_bytes(b"")  # watched directories go on reporting
    collect(w, [("create", "/big/0000/f")])
    w.close()


def test_shutdown_with_live_watchers(env):
    """SIGTERM frees every watcher (the ASan build reports any leak at exit)."""
    watches = [open_watch("ws", env, "/w", recursive=True),
               open_watch("ndjson", env, "/w", recursive=True)]
    env.send_signal(signal.SIGTERM)
    assert env.wait() == 0
    for w in watches:
        w.close()
