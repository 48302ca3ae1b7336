# SPDX-License-Identifier: MIT
"""Sandboxes end to end: POST/GET/DELETE /v1/sandboxes, the proxied agent routes (exec,
processes, files, WebSocket exec), isolation, the overlay's lower layer, volumes and bind mounts,
id-mapped mounts, request checking, memory limits, pause/resume, time-to-live, `docker exec`, a
daemon killed and restarted, and what a destroy leaves (nothing).

The contract is docs/sandboxes.md; the proxied routes are docs/api.md's. Sandboxes need root.

Fixtures:
  rootfs     (module) a busybox rootfs made from Debian's busybox-static: /bin/busybox and a
             relative symlink per applet, /etc/passwd and /etc/group with root and nobody; 0755
             along its path. Sandboxes share it as their read-only lower layer.
  oci_image  (module) an OCI image layout made here (two tar+gzip layers: the busybox files plus
             /etc/doomed and /etc/kept, then /etc/added and the whiteout /etc/.wh.doomed), and
             the same layout as a tarball.
  hosts      hosts(state_dir=None, token=…, config=…) starts a daemon (daemon_factory)
             whose write directory is a short /tmp/sbx-* directory (the agent's socket is
             <write dir>/sandboxes/<id>/run/api.sock, and a unix socket path is at most 107
             bytes) or the given one (a restart), and returns a Host (sandbox_util) for it.
             At teardown, a live daemon DELETEs every sandbox it lists; then, for every sandbox
             the test saw or that has a directory in a write dir, nothing may be left: no cgroup
             directory sprite-sandboxes/<id> in any hierarchy, no process it had, no
             sandboxes/<id> or sandboxes/.containers/<id>, no mount mentioning the write dirs,
             tmp_path or the rootfs. Whatever is left fails the test and is then removed by force
             (thaw, SIGKILL what the cgroups hold, rmdir, umount -l), so that one failing test
             never poisons the next.
  host       hosts() once.

Daemons are killed with their process tree by daemon_factory after `hosts` has cleaned up.
"""

import base64
import concurrent.futures
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from conftest import BIN, DEADLINE, alive, reap_ours, wait_for
from sandbox_util import (CREATE_TIMEOUT, RFC3339, SANDBOX_FIELDS, Host, Registry,
                          build_oci_image, cgroup_dir, cgroup_dirs, cgroup_pids, chmod_path,
                          cpu_ticks, docker, force_remove_cgroups, kill_tracked, leftovers_of,
                          make_busybox_rootfs, mounts_mentioning, new_cgroups_of, ns_pid, poll,
                          q, sandbox_cgroup_names, still_alive, track, tree_listing,
                          wait_nothing_left)
from test_exec_ws import (OP_TEXT, WS, exec_path, plain_result, run_plain, stream_bytes,
                          upgrade_request)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes need root")

MIB = 1024 * 1024
RUNC = BIN.parent / "sprite-runc"


# --------------------------------------------------------------------------------------------
# fixtures


def _open_up(path, tmp_path_factory):
    """chmod 0755 from path up to pytest's base temp dir (and its pytest-of-<user> parent)."""
    base = tmp_path_factory.getbasetemp()
    stop = base.parent if base.parent.name.startswith("pytest-of-") else base
    chmod_path(path, stop=stop)


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory):
    d = tmp_path_factory.mktemp("sbx-rootfs")
    root = make_busybox_rootfs(d / "rootfs")
    _open_up(root, tmp_path_factory)
    return root


@pytest.fixture(scope="module")
def oci_image(tmp_path_factory):
    d = tmp_path_factory.mktemp("sbx-image")
    img = build_oci_image(d)
    _open_up(img.layout, tmp_path_factory)
    return img


def _cleanup(made, registry, our_dirs, watched_paths):
    """The teardown of `hosts`: returns the problems found (after undoing them)."""
    problems = []
    state_dirs = []
    for h in made:
        if str(h.state_dir) not in [str(s) for s in state_dirs]:
            state_dirs.append(h.state_dir)
    live = {}  # state dir -> the last live Host on it
    for h in made:
        if h.d.running():
            live[str(h.state_dir)] = h

    # 1. DELETE what every live daemon lists
    for sd, h in live.items():
        try:
            sbs = h.list()
        except Exception as e:  # noqa: BLE001 - report and go on cleaning
            problems.append(f"GET /v1/sandboxes failed at cleanup: {e!r}")
            continue
        for sb in sbs:
            registry.seen.setdefault((sd, sb["id"]), []).extend(track(cgroup_pids(sb["id"])))
            try:
                # 409 while it is being created (a test cut short): retry until it is not
                r = poll(lambda: (lambda r: r if r.status != 409 else None)(h.delete(sb["id"])),
                         timeout=CREATE_TIMEOUT, interval=0.1) or h.delete(sb["id"])
                if r.status not in (204, 404):
                    problems.append(f"DELETE {sb['id']} at cleanup: {r}")
            except Exception as e:  # noqa: BLE001
                problems.append(f"DELETE {sb['id']} at cleanup: {e!r}")
        try:
            left = h.list()
            if left:
                problems.append(f"sandboxes still listed after DELETE: {[s['id'] for s in left]}")
        except Exception as e:  # noqa: BLE001
            problems.append(f"GET /v1/sandboxes failed after cleanup: {e!r}")

    # 2. every sandbox seen, or with a directory on disk: nothing may be left
    for sd in state_dirs:
        ids = set(registry.ids(sd))
        base = Path(sd) / "sandboxes"
        for d in (base, base / ".containers"):
            try:
                ids |= {p.name for p in d.iterdir() if p.name != ".containers"}
            except (FileNotFoundError, NotADirectoryError):
                pass
        check_dirs = str(sd) in live
        for sid in sorted(ids):
            tracked = registry.seen.get((str(sd), sid), [])
            if poll(lambda: not leftovers_of(sd, sid, tracked, check_dirs)):
                reap_ours([p for p, _ in tracked], timeout=0.5)
                continue
            problems += leftovers_of(sd, sid, tracked, check_dirs)
            kill_tracked(tracked)
            stuck = force_remove_cgroups(sid)
            if stuck:
                problems.append(f"cannot remove cgroups {stuck}")

    # 3. mounts
    for line in mounts_mentioning(*state_dirs, *watched_paths):
        problems.append(f"mount left on the host: {line}")
        subprocess.run(["umount", "-l", line.split()[4]], capture_output=True)
    # 4. our write dirs (never through a mount that is still there)
    if not mounts_mentioning(*our_dirs):
        for d in our_dirs:
            shutil.rmtree(d, ignore_errors=True)
    return problems


@pytest.fixture
def hosts(daemon_factory, tmp_path, rootfs):
    registry = Registry()
    made = []
    our_dirs = []

    def start(state_dir=None, token="default", config=None, **kw):
        if state_dir is None:
            state_dir = Path(tempfile.mkdtemp(prefix="sbx-", dir="/tmp"))
            os.chmod(state_dir, 0o755)
            our_dirs.append(state_dir)
        kwargs = dict(kw)
        kwargs["env"] = dict(kwargs.get("env") or {}, SPRITE_WRITE_DIR=str(state_dir))
        if token != "default":
            kwargs["token"] = token
        if config is not None:
            kwargs["config"] = config
        h = Host(daemon_factory(**kwargs), state_dir, registry)
        made.append(h)
        return h

    yield start
    problems = _cleanup(made, registry, our_dirs, [tmp_path, rootfs])
    assert not problems, "cleanup found: " + "\n".join(problems)


@pytest.fixture
def host(hosts):
    return hosts()


# --------------------------------------------------------------------------------------------
# helpers


def assert_json_error(r, status, code=None, mentions=None):
    """An error answer: the status, a JSON {"code","message"}; the code and a word of the
    message when given."""
    assert r.status == status, r
    ctype = r.headers.get("content-type", "")
    assert ctype.startswith("application/json"), f"content-type {ctype!r} for {r}"
    body = r.json()
    assert isinstance(body.get("code"), str) and body["code"], body
    assert isinstance(body.get("message"), str) and body["message"], body
    if code is not None:
        assert body["code"] == code, body
    if mentions is not None:
        assert mentions in body["message"], f"{mentions!r} not in {body['message']!r}"
    return body


def ps_pids_and_commands(text):
    """busybox ps output → [(pid, command)]."""
    lines = text.splitlines()
    header = lines[0].split()
    assert header[0] == "PID" and header[-1] in ("COMMAND", "CMD"), lines[0]
    out = []
    for line in lines[1:]:
        parts = line.split(None, len(header) - 1)
        if parts and parts[0].isdigit():
            out.append((int(parts[0]), parts[-1] if len(parts) == len(header) else ""))
    return out


def stream_until(ws, needle):
    """Reads a process stream (text messages) until its stdout holds needle; returns it."""
    out = b""
    while needle not in out:
        op, data = ws.recv()
        assert op == OP_TEXT, (op, data[:100])
        m = json.loads(data)
        assert m["type"] != "exit", f"the process exited before {needle!r}: {out!r}"
        if m["type"] == "stdout":
            out += m["data"].encode() if m["encoding"] == "utf-8" else \
                base64.b64decode(m["data"])
    return out


def process_output(h, ref, sel):
    """The whole stdout of a process of sandbox ref (it must have exited): the stream replay."""
    with WS(h.d, f"/v1/sandboxes/{q(ref)}/processes/{q(sel)}/stream") as ws:
        msgs = []
        for op, data in ws.until_close():
            assert op == OP_TEXT, (op, data[:100])
            msgs.append(json.loads(data))
    assert msgs and msgs[-1]["type"] == "exit", msgs[-3:]
    missed = [m for m in msgs if m["type"] == "missed"]
    assert not missed, missed
    return stream_bytes(msgs, "stdout"), msgs[-1]


def cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    except OSError:
        return None


def assert_destroyed(h, sb, tracked):
    """After a destroy: 404, and nothing left on the host (cgroups, processes, dirs, mounts)."""
    wait_for(lambda: h.get(sb["id"]).status == 404, what=f"{sb['id']} to be gone")
    wait_nothing_left(h.state_dir, sb["id"], tracked)
    assert not mounts_mentioning(h.state_dir, f"/{sb['id']}"), \
        mounts_mentioning(h.state_dir, f"/{sb['id']}")


def state_entries(h):
    """What is under <write dir>/sandboxes besides .containers, and under .containers."""
    base = h.state_dir / "sandboxes"
    top = sorted(p.name for p in base.iterdir() if p.name != ".containers") \
        if base.is_dir() else []
    cont = base / ".containers"
    return top, sorted(p.name for p in cont.iterdir()) if cont.is_dir() else []


# --------------------------------------------------------------------------------------------
# 1. create, get, list, delete


def test_create_get_list_delete(host, rootfs):
    r = host.create(name="box1", rootfs=str(rootfs), env={"K": "V"}, labels={"team": "a"})
    assert r.status == 201, f"{r}\n{host.d.stderr()[-2000:]}"
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    sb = r.json()
    assert SANDBOX_FIELDS <= set(sb), f"missing {SANDBOX_FIELDS - set(sb)} in {sb}"
    assert re.fullmatch(r"[0-9a-f]{16}", sb["id"]), sb
    assert (sb["name"], sb["state"], sb["rootfs"], sb["image"], sb["image_digest"]) == \
        ("box1", "running", str(rootfs), None, None), sb
    assert RFC3339.fullmatch(sb["created_at"]), sb
    assert RFC3339.fullmatch(sb["last_active_at"]), sb
    assert sb["last_active_at"] >= sb["created_at"], sb
    assert (sb["user"], sb["workdir"], sb["hostname"], sb["network"]) == \
        ("root", "/", "box1", "none"), sb
    assert (sb["ttl_sec"], sb["on_ttl"], sb["oom_kills"], sb["error"]) == (0, "pause", 0, None)
    assert sb["mounts"] == [] and sb["env"] == {"K": "V"} and sb["labels"] == {"team": "a"}, sb
    assert isinstance(sb["resources"], dict), sb
    # the agent: a live host process, PID 1 of its own pid namespace, in the sandbox's cgroup
    assert isinstance(sb["pid"], int) and alive(sb["pid"]), sb
    assert ns_pid(sb["pid"]) == 1, f"the agent is pid {ns_pid(sb['pid'])} in its namespace"
    assert sb["pid"] in cgroup_pids(sb["id"]), (sb["pid"], cgroup_pids(sb["id"]))
    # on the host, as the doc lays it out
    assert (host.sandbox_dir(sb["id"]) / "sandbox.json").is_file()
    assert (host.sandbox_dir(sb["id"]) / "bundle").is_dir()
    assert host.container_dir(sb["id"]).is_dir()
    assert cgroup_dirs(sb["id"]), "no cgroup sprite-sandboxes/<id>"
    if os.access(RUNC, os.X_OK):
        r = subprocess.run([str(RUNC), "--root", str(host.state_dir / "sandboxes" / ".containers"),
                            "list"], capture_output=True, text=True, timeout=DEADLINE)
        assert r.returncode == 0 and sb["id"] in r.stdout, r

    def same(a, b):
        return {k: v for k, v in a.items() if k != "last_active_at"} == \
            {k: v for k, v in b.items() if k != "last_active_at"}

    by_id, by_name = host.info(sb["id"]), host.info("box1")
    assert same(by_id, sb) and same(by_name, sb), (sb, by_id, by_name)

    # a second one, no name: its name is its id (and so its hostname); listed after the first
    sb2 = host.create_ok(rootfs=str(rootfs))
    assert sb2["name"] == sb2["id"] and sb2["hostname"] == sb2["id"], sb2
    assert [s["id"] for s in host.list()] == [sb["id"], sb2["id"]]

    # every sandbox route needs the token, the proxied ones too
    for method, path in (("GET", "/v1/sandboxes"), ("GET", "/v1/sandboxes/box1"),
                         ("POST", "/v1/sandboxes/box1/exec"), ("DELETE", "/v1/sandboxes/box1"),
                         ("GET", "/v1/volumes")):
        assert_json_error(host.request(method, path, token=None), 401, "unauthorized")

    host.delete_ok("box1")
    assert_json_error(host.get("box1"), 404)
    assert_json_error(host.get(sb["id"]), 404)
    assert_json_error(host.delete("box1"), 404)
    assert [s["id"] for s in host.list()] == [sb2["id"]]
    host.delete_ok(sb2["id"])
    assert host.list() == []


# --------------------------------------------------------------------------------------------
# 2. OCI images


@pytest.mark.parametrize("form", ["layout", "tarball"])
def test_create_from_oci_image(host, oci_image, form):
    src = oci_image.layout if form == "layout" else oci_image.tarball
    sb = host.create_ok(image=str(src))
    assert sb["image"] == str(src), sb
    assert sb["image_digest"] == oci_image.manifest_digest, sb
    hexd = oci_image.manifest_digest.split(":", 1)[1]
    assert (host.state_dir / "images" / hexd / "rootfs").is_dir(), \
        sorted(os.listdir(host.state_dir / "images"))
    assert host.sh_ok(sb["id"], f"cat {oci_image.added}") == oci_image.added_content.decode()
    assert host.sh_ok(sb["id"], f"cat {oci_image.kept}") == "layer 1 kept\n"
    r = host.sh(sb["id"], f"ls /etc; test -e {oci_image.removed}")
    assert r["exit_code"] == 1, r
    names = r["stdout"].split()
    assert "added" in names and "kept" in names and "doomed" not in names, names
    assert ".wh.doomed" not in names, names
    # a second sandbox of the same image shares the unpacked lower layer
    sb2 = host.create_ok(image=str(src))
    assert sb2["image_digest"] == sb["image_digest"]
    assert sorted(os.listdir(host.state_dir / "images")) == [hexd]
    host.delete_ok(sb["id"])
    host.delete_ok(sb2["id"])


def test_unused_images_beyond_the_cache_are_removed(hosts, oci_image):
    """sandboxes.image_cache: the unpacked images no sandbox uses are kept up to that many (the
    most recently used); with 0, an image goes when its last sandbox does, not before."""
    host = hosts(config={"sandboxes": {"image_cache": 0}})
    hexd = oci_image.manifest_digest.split(":", 1)[1]
    images = host.state_dir / "images"
    sb = host.create_ok(image=str(oci_image.layout))
    sb2 = host.create_ok(image=str(oci_image.layout))
    host.delete_ok(sb["id"])
    assert (images / hexd / "rootfs").is_dir(), "removed while a sandbox still uses it"
    assert host.sh_ok(sb2["id"], f"cat {oci_image.kept}") == "layer 1 kept\n"
    host.delete_ok(sb2["id"])
    wait_for(lambda: os.listdir(images) == [], what="the unused image removed")
    # kept by default
    host2 = hosts(config={"sandboxes": {"image_cache": 8}})
    sb = host2.create_ok(image=str(oci_image.layout))
    host2.delete_ok(sb["id"])
    assert (host2.state_dir / "images" / hexd / "rootfs").is_dir()


# --------------------------------------------------------------------------------------------
# 3. the proxied agent routes


def test_exec_in_a_sandbox(host, rootfs):
    host.create_ok(name="ex", rootfs=str(rootfs))
    r = host.sh("ex", "echo out; echo err >&2; exit 3")
    assert (r["stdout"], r["stderr"], r["exit_code"]) == ("out\n", "err\n", 3), r
    r = host.exec("ex", "/bin/echo", "hello", "world")
    assert (r["stdout"], r["exit_code"]) == ("hello world\n", 0), r
    r = host.exec("ex", "/no/such/program")
    assert r["exit_code"] == 127, r
    r = host.sh("ex", 'echo "$K"; pwd', envs={"K": "v1"}, cwd="/tmp")
    assert (r["stdout"], r["exit_code"]) == ("v1\n/tmp\n", 0), r
    r = host.exec("ex", "/bin/id", "-u", user="nobody")
    assert r["stdout"] == "65534\n", r
    r = host.sh("ex", "exec sleep 1000", timeout_sec=1)
    assert r["exit_code"] == 137 and r["timed_out"], r


def test_create_settings_apply_inside(host, rootfs):
    """env, user, workdir and hostname of the create request are what a process gets."""
    sb = host.create_ok(name="settings", rootfs=str(rootfs), env={"GREETING": "hello"},
                        user="nobody", workdir="/tmp", hostname="custom-host")
    assert (sb["user"], sb["workdir"], sb["hostname"]) == ("nobody", "/tmp", "custom-host"), sb
    out = host.sh_ok("settings", 'echo "$GREETING"; pwd; id -u; hostname')
    assert out == "hello\n/tmp\n65534\ncustom-host\n", out
    # a request's own user and cwd still win
    assert host.sh_ok("settings", "id -u; pwd", user="root", cwd="/") == "0\n/\n"


def test_services_in_a_sandbox(host, rootfs):
    """/v1/sandboxes/{id}/services… are the agent's service routes: a service defined there runs
    inside the sandbox (its pid namespace: the agent is its parent) and is listed there only."""
    host.create_ok(name="svc", rootfs=str(rootfs))
    r = host.request("PUT", "/v1/sandboxes/svc/services/web?duration=1s",
                     body=json.dumps({"cmd": "/bin/sh",
                                      "args": ["-c", "echo up; exec sleep 1000"]}).encode())
    assert r.status == 200, r
    events = [json.loads(line) for line in r.body.decode().splitlines() if line.strip()]
    assert events[0]["type"] == "started", events
    assert any(e["type"] == "stdout" and "up" in e["data"] for e in events), events
    r = host.request("GET", "/v1/sandboxes/svc/services/web")
    assert r.status == 200, r
    svc = json.loads(r.body)
    assert svc["state"]["status"] == "running", svc
    ps = host.sh_ok("svc", "ps -o pid,ppid,args")
    assert any(line.split()[1:3] == ["1", "sleep"] for line in ps.splitlines()[1:]), ps
    r = host.request("POST", "/v1/sandboxes/svc/services/web/stop")
    assert r.status == 204, r


def test_raw_agent_route(host, rootfs):
    """/v1/sandboxes/{id}/-/<path> is the agent's /<path>: here sprite-env's HTTP exec."""
    host.create_ok(name="raw", rootfs=str(rootfs))
    r = host.request("POST", "/v1/sandboxes/raw/-/exec?cmd=echo&cmd=hello")
    assert r.status == 200, r
    assert r.body == b"\x01hello\n\x03\x00", r.body


def test_keep_alive_through_the_proxy(host, rootfs):
    """A client's connection stays open across proxied requests (the proxy gives it back to the
    host's server when a response ends), and its next request may be the host's own."""
    host.create_ok(name="ka", rootfs=str(rootfs))
    conn = host.d.connection()
    try:
        sock = None
        for method, path, body in [
                ("POST", "/v1/sandboxes/ka/exec", {"cmd": "echo", "args": ["one"]}),
                ("GET", "/v1/sandboxes/ka/processes", None),
                ("HEAD", "/v1/sandboxes/ka/-/health", None),
                ("GET", "/v1/sandboxes", None),  # the host's own route, same connection
                ("POST", "/v1/sandboxes/ka/exec", {"cmd": "echo", "args": ["two"]})]:
            data = json.dumps(body).encode() if body is not None else None
            headers = {**host.d.auth_header(), "Content-Type": "application/json"}
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            payload = r.read()
            assert r.status == 200, (method, path, r.status, payload)
            assert not r.will_close, (method, path, r.getheaders())
            sock = sock or conn.sock
            assert conn.sock is sock, f"{method} {path}: the connection was not kept"
            if path.endswith("/exec"):
                assert json.loads(payload)["stdout"] in ("one\n", "two\n"), payload
    finally:
        conn.close()


def test_background_processes_in_a_sandbox(host, rootfs):
    host.create_ok(name="bgbox", rootfs=str(rootfs))
    p = host.bg("bgbox", "echo started; exec sleep 1000", tag="bg1")
    assert p["tag"] == "bg1" and isinstance(p["pid"], int), p
    listed = {x["tag"]: x for x in host.processes("bgbox")}
    assert listed["bg1"]["state"] == "running", listed
    assert host.process("bgbox", "bg1")["pid"] == p["pid"]
    # its output, followed through the proxy
    with WS(host.d, "/v1/sandboxes/bgbox/processes/bg1/stream") as ws:
        assert stream_until(ws, b"started\n") == b"started\n"
    # the process is in the sandbox: a host pid in the sandbox's cgroup
    hp = host.host_pid_of("bgbox", p["pid"])
    # kill it
    r = host.request("DELETE", "/v1/sandboxes/bgbox/processes/bg1")
    assert r.status == 200, r
    assert r.json()["tag"] == "bg1", r
    ended = host.wait_exited("bgbox", "bg1")
    assert ended["exit_code"] == 137 and ended.get("signal") == "SIGKILL", ended
    wait_for(lambda: not alive(hp), what="the killed process to be gone")
    out, last = process_output(host, "bgbox", "bg1")
    assert out == b"started\n" and last["exit_code"] == 137, (out, last)
    assert_json_error(host.request("DELETE", "/v1/sandboxes/bgbox/processes/bg1"), 409,
                      "not_running")


def test_files_in_a_sandbox(host, rootfs):
    host.create_ok(name="files", rootfs=str(rootfs))
    name = f"sbx-{secrets.token_hex(4)}.txt"
    data = b"hello from the files route\n" + bytes(range(256))
    r = host.request("PUT", "/v1/sandboxes/files/files/write?" +
                     urllib.parse.urlencode({"path": f"/tmp/{name}"}), body=data)
    assert r.status == 200, r
    e = r.json()
    assert (e["name"], e["path"], e["type"], e["size"]) == (name, f"/tmp/{name}", "file",
                                                             len(data)), e
    assert not os.path.exists(f"/tmp/{name}"), "the file was written on the host's /tmp"
    r = host.request("POST", "/v1/sandboxes/files/files/read", body={"path": f"/tmp/{name}"})
    assert r.status == 200 and r.body == data, r
    assert host.sh_ok("files", f"md5sum < /tmp/{name}").split()[0] == \
        hashlib.md5(data).hexdigest()
    host.sh_ok("files", "mkdir -p /srv/d && echo x > /srv/d/a && echo y > /srv/d/b")
    r = host.request("POST", "/v1/sandboxes/files/files/list", body={"path": "/srv/d"})
    assert r.status == 200, r
    assert sorted(x["name"] for x in r.json()["entries"]) == ["a", "b"], r.json()
    r = host.request("POST", "/v1/sandboxes/files/files/list", body={"path": "/etc"})
    names = {x["name"] for x in r.json()["entries"]}
    assert {"passwd", "group", "hostname", "hosts"} <= names, names
    assert_json_error(host.request("POST", "/v1/sandboxes/files/files/read",
                                   body={"path": "/nope"}), 404, "not_found")


def test_websocket_exec_in_a_sandbox(host, rootfs):
    host.create_ok(name="wsbox", rootfs=str(rootfs))
    out, err, code = run_plain(host.d, "/v1/sandboxes/wsbox" + exec_path(
        "/bin/sh", "-c", "echo ws-out; echo ws-err >&2; hostname; exit 5"))
    assert (out, err, code) == (b"ws-out\nwsbox\n", b"ws-err\n", 5)
    # with stdin
    with WS(host.d, "/v1/sandboxes/wsbox" + exec_path("/bin/cat", stdin="true")) as ws:
        ws.send_binary(b"\x00piped through\n")
        ws.send_binary(b"\x04")
        msgs = ws.until_close()
    assert plain_result(msgs) == (b"piped through\n", b"", 0)


# --------------------------------------------------------------------------------------------
# 4. isolation


def test_two_sandboxes_are_isolated(host, rootfs):
    a = host.create_ok(name="iso-a", rootfs=str(rootfs), hostname="alpha")
    b = host.create_ok(name="iso-b", rootfs=str(rootfs))
    # files
    host.sh_ok("iso-a", "echo secret > /tmp/only-in-a; echo secret > /etc/only-in-a")
    r = host.sh("iso-b", "test -e /tmp/only-in-a || test -e /etc/only-in-a")
    assert r["exit_code"] == 1, r
    assert not (rootfs / "etc" / "only-in-a").exists(), "written to the shared lower layer"
    # hostnames
    assert host.sh_ok("iso-a", "hostname; cat /etc/hostname") == "alpha\nalpha\n"
    assert host.sh_ok("iso-b", "hostname") == "iso-b\n"
    # pid namespaces: the agent is PID 1, and each sees only its own processes
    assert ns_pid(a["pid"]) == 1 and ns_pid(b["pid"]) == 1
    assert a["pid"] != b["pid"]
    sleeper = host.bg("iso-a", "exec sleep 1000", tag="sleeper")
    hp = host.host_pid_of("iso-a", sleeper["pid"])
    assert hp in cgroup_pids(a["id"]) and hp not in cgroup_pids(b["id"])
    ps_a = ps_pids_and_commands(host.sh_ok("iso-a", "ps"))
    ps_b = ps_pids_and_commands(host.sh_ok("iso-b", "ps"))
    assert 1 in [p for p, _ in ps_a] and 1 in [p for p, _ in ps_b], (ps_a, ps_b)
    assert any(c == "sleep 1000" for _, c in ps_a), ps_a
    assert not any("sleep" in c for _, c in ps_b), ps_b
    assert len(ps_b) <= 4, f"B sees more than its agent, sh and ps: {ps_b}"
    assert "sprite-env" in host.sh_ok("iso-b", "tr '\\0' ' ' < /proc/1/cmdline")
    # network "none": loopback only
    ifaces = host.sh_ok("iso-a", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '").split()
    assert ifaces == ["lo"], ifaces


def test_the_seccomp_filter_holds_namespaces_and_mounts_back(host, rootfs):
    """Root in a sandbox has Docker's default capabilities and a seccomp filter: no new user
    namespace (which needs no capability), no other namespace, no mount, no keyring; the
    rest of what programs do still works."""
    host.create_ok(name="filtered", rootfs=str(rootfs))
    status = host.sh_ok("filtered", "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status")
    assert "Seccomp:\t2" in status, status
    for cmd in ("unshare -U true", "unshare -n true", "unshare -m true",
                "mount -t tmpfs none /mnt", "umount /proc"):
        r = host.sh("filtered", cmd + " 2>&1")
        assert r["exit_code"] != 0, (cmd, r)
        assert "ermission" in r["stdout"] or "not permitted" in r["stdout"], (cmd, r)
    # what programs do every day still works: fork, exec, pipes, background jobs
    assert host.sh_ok("filtered", "echo a | cat; sleep 0 & wait; echo done") == "a\ndone\n"
    # sockets that would cross the network namespace (vsock) or reach kernel crypto: refused
    # (the host's own root as the lower layer, for its python3; nothing is written to it)
    host.create_ok(name="py", rootfs="/")
    probe = ("import socket\n"
             "for f, t in ((socket.AF_VSOCK, socket.SOCK_STREAM),"
             " (socket.AF_ALG, socket.SOCK_SEQPACKET), (socket.AF_INET, socket.SOCK_STREAM)):\n"
             "  try:\n    socket.socket(f, t).close(); print(int(f), 'ok')\n"
             "  except OSError as e: print(int(f), e.errno)\n")
    r = host.exec("py", "python3", "-c", probe)
    assert r["stdout"].split("\n")[:3] == ["40 97", "38 97", "2 ok"], r


def test_host_network(host, rootfs):
    host.create_ok(name="hostnet", rootfs=str(rootfs), network="host")
    inside = host.sh_ok("hostnet", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '").split()
    outside = [line.split(":")[0].strip()
               for line in Path("/proc/net/dev").read_text().splitlines()[2:]]
    assert sorted(inside) == sorted(outside), (inside, outside)


# --------------------------------------------------------------------------------------------
# 5. the lower layer is never written


def test_the_lower_layer_is_never_written(hosts, tmp_path, tmp_path_factory):
    lower = make_busybox_rootfs(tmp_path / "lower")
    (lower / "etc" / "motd").write_text("lower motd\n")
    (lower / "data").mkdir()
    (lower / "data" / "file").write_bytes(b"lower data\n")
    _open_up(lower, tmp_path_factory)
    before = tree_listing(lower)
    h = hosts()
    sb = h.create_ok(rootfs=str(lower))
    h.sh_ok(sb["id"], "set -e; echo new > /newfile; echo more >> /etc/motd; rm /bin/yes;"
            " rm -r /data; chmod 600 /etc/group; mkdir -p /var/x/y; touch /etc/passwd;"
            " ln -s /nowhere /etc/link; mv /etc/motd /etc/motd2; mv /etc/motd2 /etc/motd;"
            " dd if=/dev/zero of=/bin/busybox-copy bs=1k count=64 2>/dev/null")
    assert h.sh_ok(sb["id"], "cat /etc/motd; test ! -e /bin/yes && test ! -e /data &&"
                   " stat -c %a /etc/group") == "lower motd\nmore\n600\n"
    other = h.create_ok(rootfs=str(lower))
    assert h.sh_ok(other["id"], "cat /etc/motd /data/file; test -e /bin/yes && echo yes") == \
        "lower motd\nlower data\nyes\n"
    assert tree_listing(lower) == before, _listing_diff(before, tree_listing(lower))
    h.delete_ok(sb["id"])
    h.delete_ok(other["id"])
    after = tree_listing(lower)
    assert after == before, _listing_diff(before, after)


def _listing_diff(before, after):
    b, a = set(before), set(after)
    return f"gone or changed: {sorted(b - a)[:10]}\nnew or changed: {sorted(a - b)[:10]}"


# --------------------------------------------------------------------------------------------
# 6. volumes and bind mounts


def test_volumes_and_bind_mounts(host, rootfs, tmp_path):
    r = host.request("POST", "/v1/volumes", body={"name": "shared"})
    assert r.status == 201, r
    assert r.json()["name"] == "shared", r.json()
    assert_json_error(host.request("POST", "/v1/volumes", body={"name": "shared"}), 409)
    for bad in ("", "../x", "-x", "a/b", "a" * 65):
        assert_json_error(host.request("POST", "/v1/volumes", body={"name": bad}), 400)
    assert_json_error(host.request("POST", "/v1/volumes", body={}), 400)
    assert "shared" in [v["name"] for v in host.volumes()]

    vol = [{"type": "volume", "source": "shared", "target": "/data"}]
    a = host.create_ok(name="vol-a", rootfs=str(rootfs), mounts=vol)
    b = host.create_ok(name="vol-b", rootfs=str(rootfs), mounts=vol)
    host.sh_ok("vol-a", "echo from-a > /data/x; mkdir -p /data/sub; echo in-sub > /data/sub/f")
    assert host.sh_ok("vol-b", "cat /data/x") == "from-a\n"
    assert (host.state_dir / "volumes" / "shared" / "x").read_text() == "from-a\n"
    host.sh_ok("vol-b", "echo from-b > /data/y")
    assert host.sh_ok("vol-a", "cat /data/y") == "from-b\n"

    ro = host.create_ok(name="vol-ro", rootfs=str(rootfs), mounts=[
        {"type": "volume", "source": "shared", "target": "/ro", "readonly": True}])
    assert host.sh_ok("vol-ro", "cat /ro/x") == "from-a\n"
    r = host.sh("vol-ro", "touch /ro/new")
    assert r["exit_code"] != 0, r
    assert not (host.state_dir / "volumes" / "shared" / "new").exists()

    sub = host.create_ok(name="vol-sub", rootfs=str(rootfs), mounts=[
        {"type": "volume", "source": "shared", "target": "/s", "subpath": "sub"}])
    assert host.sh_ok("vol-sub", "ls -A /s; cat /s/f") == "f\nin-sub\n"

    motd = tmp_path / "motd"
    motd.write_text("a single host file\n")
    os.chmod(motd, 0o644)
    _open_up_plain(tmp_path)
    fm = host.create_ok(name="vol-file", rootfs=str(rootfs), mounts=[
        {"type": "bind", "source": str(motd), "target": "/etc/motd", "filetype": "file",
         "readonly": True},
        {"type": "bind", "source": str(tmp_path), "target": "/mnt/hostdir"}])
    assert host.sh_ok("vol-file", "test -f /etc/motd && cat /etc/motd") == "a single host file\n"
    assert host.sh("vol-file", "echo x > /etc/motd")["exit_code"] != 0
    assert motd.read_text() == "a single host file\n"
    host.sh_ok("vol-file", "echo via-bind > /mnt/hostdir/written-inside")
    assert (tmp_path / "written-inside").read_text() == "via-bind\n"

    assert_json_error(host.request("DELETE", "/v1/volumes/shared"), 409)
    for sb in (a, b, ro, sub, fm):
        host.delete_ok(sb["id"])
    r = host.request("DELETE", "/v1/volumes/shared")
    assert r.status == 204, r
    assert "shared" not in [v["name"] for v in host.volumes()]
    assert_json_error(host.request("DELETE", "/v1/volumes/shared"), 404)


def _open_up_plain(path):
    """chmod 0755 on a test's tmp_path and its parents up to pytest-of-<user>."""
    p = Path(path)
    stop = next((x for x in p.parents if x.name.startswith("pytest-of-")), p)
    chmod_path(p, stop=stop)


# --------------------------------------------------------------------------------------------
# 7. id-mapped mounts


def test_idmapped_bind_mount(host, rootfs, tmp_path):
    d = tmp_path / "idm"
    d.mkdir()
    (d / "f").write_text("x\n")
    os.chown(d / "f", 0, 0)
    _open_up_plain(d)
    r = host.create(name="idm", rootfs=str(rootfs), mounts=[
        {"type": "bind", "source": str(d), "target": "/mnt/idm",
         "idmap": [{"from": 0, "to": 1000, "range": 1}]},
        {"type": "bind", "source": str(d), "target": "/mnt/plain"}])
    if r.status == 400 and r.json().get("code") == "unsupported":
        pytest.skip(f"id-mapped mounts: {r.json()['message']}")
    assert r.status == 201, r
    assert host.sh_ok("idm", "stat -c %u /mnt/plain/f") == "0\n"
    assert host.sh_ok("idm", "stat -c %u /mnt/idm/f") == "1000\n"
    assert os.stat(d / "f").st_uid == 0, "the id map changed the file on disk"


# --------------------------------------------------------------------------------------------
# 8. bad requests


def _bad_cases():
    R = "@ROOTFS@"  # replaced by the rootfs path
    mount = lambda **m: {"rootfs": R, "mounts": [dict({"type": "bind", "source": R,  # noqa
                                                       "target": "/mnt/x"}, **m)]}
    return [
        ("no-rootfs-or-image", {}, "rootfs"),
        ("both", {"rootfs": R, "image": R}, "rootfs"),
        ("relative-rootfs", {"rootfs": "relative/rootfs"}, "rootfs"),
        ("missing-rootfs", {"rootfs": "/nonexistent/sbx-rootfs"}, "rootfs"),
        ("rootfs-is-a-file", {"rootfs": R + "/etc/passwd"}, "rootfs"),
        ("missing-image", {"image": "/nonexistent/sbx-image.tar"}, "image"),
        ("target-relative", mount(target="mnt/x"), "mounts[0].target"),
        ("target-dotdot", mount(target="/mnt/../etc"), "mounts[0].target"),
        ("target-root", mount(target="/"), "mounts[0].target"),
        ("target-sprite", mount(target="/.sprite"), "mounts[0].target"),
        ("target-under-sprite", mount(target="/.sprite/run"), "mounts[0].target"),
        ("unknown-mount-type", mount(type="tmpfs"), "mounts[0].type"),
        ("missing-bind-source", mount(source="/nonexistent/sbx-src"), "mounts[0]"),
        ("relative-bind-source", mount(source="etc"), "mounts[0].source"),
        ("subpath-dotdot", mount(subpath="../x"), "mounts[0].subpath"),
        ("missing-subpath", mount(subpath="no/such/dir"), "mounts[0]"),
        ("filetype-mismatch", mount(filetype="file"), "mounts[0]"),
        ("bad-volume-name", mount(type="volume", source="../x"), "mounts[0].source"),
        ("name-leading-dash", {"rootfs": R, "name": "-box"}, "name"),
        ("name-space", {"rootfs": R, "name": "a b"}, "name"),
        ("name-slash", {"rootfs": R, "name": "a/b"}, "name"),
        ("name-empty", {"rootfs": R, "name": ""}, "name"),
        ("name-too-long", {"rootfs": R, "name": "a" * 65}, "name"),
        ("ttl-negative", {"rootfs": R, "ttl_sec": -1}, "ttl_sec"),
        ("ttl-too-large", {"rootfs": R, "ttl_sec": 2592001}, "ttl_sec"),
        ("ttl-string", {"rootfs": R, "ttl_sec": "600"}, "ttl_sec"),
        ("on-ttl-unknown", {"rootfs": R, "on_ttl": "explode"}, "on_ttl"),
        ("network-unknown", {"rootfs": R, "network": "bridge"}, "network"),
        ("memory-too-small", {"rootfs": R, "resources": {"memory_mb": 1}}, "memory_mb"),
        ("unknown-field", {"rootfs": R, "bogus": 1}, "bogus"),
        ("workdir-relative", {"rootfs": R, "workdir": "tmp"}, "workdir"),
        # found only when the container is made: still the request's fault, and undone
        ("target-under-a-file", mount(target="/etc/passwd/x"), "Not a directory"),
        ("workdir-under-a-file", {"rootfs": R, "workdir": "/etc/passwd/x"}, "cwd"),
        ("unknown-user", {"rootfs": R, "user": "nosuchuser"}, "user"),
    ]


def _fill(v, rootfs):
    if isinstance(v, str):
        return v.replace("@ROOTFS@", str(rootfs))
    if isinstance(v, list):
        return [_fill(x, rootfs) for x in v]
    if isinstance(v, dict):
        return {k: _fill(x, rootfs) for k, x in v.items()}
    return v


@pytest.mark.parametrize("case", _bad_cases(), ids=lambda c: c[0])
def test_bad_create_request(host, rootfs, case):
    _, body, field = case
    cgroups_before = sandbox_cgroup_names()
    r = host.create_raw(_fill(body, rootfs))
    assert_json_error(r, 400, "invalid_request", mentions=field)
    assert host.list() == []
    assert state_entries(host) == ([], []), state_entries(host)
    new = new_cgroups_of(host.state_dir, cgroups_before)
    assert not new, f"cgroups made by a failed create: {new}"


def test_a_failed_create_removes_the_volumes_it_made(host, rootfs):
    """A volume created for a request that then fails is removed again (it was empty)."""
    body = {"rootfs": str(rootfs), "mounts": [
        {"type": "volume", "source": "made-by-a-failure", "target": "/v"},
        {"type": "bind", "source": "/nonexistent/sbx-src", "target": "/w"}]}
    assert_json_error(host.create_raw(body), 400, "invalid_request", mentions="mounts[1]")
    body["mounts"][1] = {"type": "bind", "source": str(rootfs), "target": "/etc/passwd/x"}
    assert_json_error(host.create_raw(body), 400, "invalid_request")
    assert not (host.state_dir / "volumes" / "made-by-a-failure").exists()
    assert host.list() == []


def test_the_agent_socket_is_not_followed_through_a_symlink(host, rootfs, tmp_path):
    """/.sprite/run is the sandbox's to write: a symlink put in place of the agent's socket is
    never followed by the host (the request fails with 502), and the host's token never leaves
    it, even across a restart (the agent's token is the host's own record)."""
    host.create_ok(name="evil", rootfs=str(rootfs))
    host.sh_ok("evil", "mv /.sprite/run/state /.sprite/run/state.old; "
                       "ln -s ../../.. /.sprite/run/state; "
                       "rm /.sprite/run/api.sock; ln -s /tmp/elsewhere.sock /.sprite/run/api.sock")
    r = host.request("POST", "/v1/sandboxes/evil/exec", body=json.dumps({"cmd": "true"}).encode())
    assert_json_error(r, 502, "agent_unreachable")
    assert b"Bearer" not in r.body


def test_bad_json_body(host):
    r = host.create_raw(b'{"rootfs": ')
    assert_json_error(r, 400)
    r = host.create_raw(b'["not an object"]')
    assert_json_error(r, 400)
    assert host.list() == []


def test_name_taken(host, rootfs):
    sb = host.create_ok(name="dup", rootfs=str(rootfs))
    cgroups_before = sandbox_cgroup_names()
    assert_json_error(host.create(name="dup", rootfs=str(rootfs)), 409, "name_taken")
    assert [s["id"] for s in host.list()] == [sb["id"]]
    assert state_entries(host) == ([sb["id"]], [sb["id"]]), state_entries(host)
    assert not new_cgroups_of(host.state_dir, cgroups_before)
    # a name may not be another sandbox's id either … but may be reused after a destroy
    host.delete_ok("dup")
    host.create_ok(name="dup", rootfs=str(rootfs))


# --------------------------------------------------------------------------------------------
# 9. memory limit


def test_memory_limit_kills_the_hog(host, rootfs):
    sb = host.create_ok(name="mem", rootfs=str(rootfs), resources={"memory_mb": 32})
    assert sb["resources"].get("memory_mb") == 32, sb
    mem = cgroup_dir(sb["id"], "memory")
    limit_file = mem / "memory.limit_in_bytes" if (mem / "memory.limit_in_bytes").exists() \
        else mem / "memory.max"
    assert int(limit_file.read_text()) == 32 * MIB, limit_file.read_text()
    # busybox tail -c N keeps the last N bytes of a pipe in memory: 100 MB of them
    r = host.sh("mem", "head -c 200000000 /dev/zero | tail -c 100000000 > /dev/null")
    assert r["exit_code"] == 137 or r.get("signal") == "SIGKILL", r
    wait_for(lambda: host.info("mem")["oom_kills"] >= 1, what="oom_kills to count the kill")
    # the sandbox itself lives on
    assert host.info("mem")["state"] == "running"
    assert host.sh_ok("mem", "echo alive") == "alive\n"


def test_resources_are_set_in_the_cgroup(host, rootfs):
    sb = host.create_ok(name="res", rootfs=str(rootfs),
                        resources={"memory_mb": 48, "cpus": 0.5, "pids": 32})
    assert sb["resources"] == {"memory_mb": 48, "cpus": 0.5, "pids": 32}, sb
    mem, cpu, pids = (cgroup_dir(sb["id"], c) for c in ("memory", "cpu", "pids"))
    if (mem / "memory.limit_in_bytes").exists():  # cgroup v1
        assert int((mem / "memory.limit_in_bytes").read_text()) == 48 * MIB
        quota = int((cpu / "cpu.cfs_quota_us").read_text())
        period = int((cpu / "cpu.cfs_period_us").read_text())
    else:
        assert int((mem / "memory.max").read_text()) == 48 * MIB
        q_, p_ = (cpu / "cpu.max").read_text().split()
        quota, period = int(q_), int(p_)
    assert abs(quota / period - 0.5) < 0.01, (quota, period)
    assert (pids / "pids.max").read_text().strip() == "32"
    # the pids limit holds inside: 40 sleeps cannot all start
    host.sh("res", "for i in $(seq 1 40); do sleep 1000 & done")
    def sleeps():
        return [p for p in cgroup_pids(sb["id"]) if cmdline(p) == [b"sleep", b"1000"]]

    wait_for(sleeps, what="some sleeps to run")
    assert len(sleeps()) < 40, len(sleeps())
    assert len(cgroup_pids(sb["id"])) <= 32


def test_too_many_sandboxes(hosts, rootfs):
    h = hosts(config={"sandboxes": {"max": 2}})
    h.create_ok(rootfs=str(rootfs))
    h.create_ok(rootfs=str(rootfs))
    cgroups_before = sandbox_cgroup_names()
    assert_json_error(h.create(rootfs=str(rootfs)), 429, "too_many_sandboxes")
    assert len(h.list()) == 2
    assert not new_cgroups_of(h.state_dir, cgroups_before)
    h.delete_ok(h.list()[0]["id"])
    h.create_ok(rootfs=str(rootfs))


def test_auto_resume(hosts, rootfs):
    h = hosts(config={"sandboxes": {"auto_resume": True}})
    h.create_ok(name="ar", rootfs=str(rootfs))
    assert h.action("ar", "pause").json()["state"] == "paused"
    assert h.sh_ok("ar", "echo resumed") == "resumed\n"
    assert h.info("ar")["state"] == "running"


# --------------------------------------------------------------------------------------------
# 10. pause and resume


def test_pause_and_resume(host, rootfs):
    sb = host.create_ok(name="pz", rootfs=str(rootfs))
    spin = host.bg("pz", "while :; do :; done", tag="spin")
    hp = host.host_pid_of("pz", spin["pid"])
    t0 = cpu_ticks(hp)
    wait_for(lambda: cpu_ticks(hp) > t0, what="the busy loop to use CPU")

    r = host.action("pz", "pause")
    assert r.status == 200, r
    assert r.json()["state"] == "paused", r.json()
    fz = cgroup_dir(sb["id"], "freezer")
    if (fz / "freezer.state").exists():
        wait_for(lambda: (fz / "freezer.state").read_text().strip() == "FROZEN",
                 what="the freezer to say FROZEN")
    t1 = cpu_ticks(hp)
    time.sleep(0.3)  # a window in which a running loop would use ~30 ticks
    t2 = cpu_ticks(hp)
    assert t2 == t1, f"the paused loop used CPU: {t1} -> {t2} ticks"
    assert host.info("pz")["state"] == "paused"
    assert_json_error(host.exec_raw("pz", "/bin/echo", "x"), 409, "sandbox_paused")
    assert_json_error(upgrade_request(host.d, "/v1/sandboxes/pz" + exec_path("/bin/echo")),
                      409, "sandbox_paused")
    assert_json_error(host.request("GET", "/v1/sandboxes/pz/processes"), 409, "sandbox_paused")

    r = host.action("pz", "resume")
    assert r.status == 200, r
    assert r.json()["state"] == "running", r.json()
    wait_for(lambda: cpu_ticks(hp) > t2, what="the resumed loop to use CPU again")
    assert host.sh_ok("pz", "echo back") == "back\n"
    assert host.process("pz", "spin")["state"] == "running"
    # a paused sandbox can be destroyed
    assert host.action("pz", "pause").status == 200
    tracked = track(cgroup_pids(sb["id"]))
    host.delete_ok("pz")
    assert_destroyed(host, sb, tracked)


# --------------------------------------------------------------------------------------------
# 11. time-to-live


def test_ttl_pauses(host, rootfs):
    sb = host.create_ok(name="ttl-p", rootfs=str(rootfs), ttl_sec=1, on_ttl="pause")
    assert (sb["ttl_sec"], sb["on_ttl"]) == (1, "pause"), sb
    wait_for(lambda: host.info("ttl-p")["state"] == "paused", timeout=1 + DEADLINE,
             interval=0.05, what="the idle sandbox to be paused")
    assert host.action("ttl-p", "resume").json()["state"] == "running"
    assert host.sh_ok("ttl-p", "echo awake") == "awake\n"


def test_ping_keeps_a_sandbox_alive(host, rootfs):
    host.create_ok(name="ttl-ping", rootfs=str(rootfs), ttl_sec=2, on_ttl="pause")
    start = time.monotonic()
    while time.monotonic() - start < 3.0:
        time.sleep(0.5)
        r = host.action("ttl-ping", "ping")
        assert r.status == 200, r
        assert r.json()["state"] == "running", f"paused despite pings at " \
                                               f"{time.monotonic() - start:.1f}s: {r.json()}"
    assert host.info("ttl-ping")["state"] == "running"
    # without pings it does pause
    wait_for(lambda: host.info("ttl-ping")["state"] == "paused", timeout=2 + DEADLINE,
             interval=0.05, what="the sandbox to be paused once the pings stopped")


def test_a_running_request_holds_the_ttl(host, rootfs):
    """Activity is a proxied request's start and its end: a request longer than the TTL is not
    cut by a pause, and the TTL counts again from its end."""
    host.create_ok(name="ttl-req", rootfs=str(rootfs), ttl_sec=1, on_ttl="pause")
    started = time.monotonic()
    r = host.sh("ttl-req", "sleep 2.5; echo done")
    assert (r["stdout"], r["exit_code"]) == ("done\n", 0), r
    assert time.monotonic() - started < 2.5 + DEADLINE / 2, "the exec was held (paused?)"
    assert host.info("ttl-req")["state"] == "running"
    wait_for(lambda: host.info("ttl-req")["state"] == "paused", timeout=1 + DEADLINE,
             interval=0.05, what="the sandbox to pause once idle")


def test_ttl_destroys(host, rootfs):
    sb = host.create_ok(name="ttl-d", rootfs=str(rootfs), ttl_sec=1, on_ttl="destroy")
    tracked = track(cgroup_pids(sb["id"]))
    assert tracked
    wait_for(lambda: host.get("ttl-d").status == 404, timeout=1 + DEADLINE, interval=0.05,
             what="the idle sandbox to be destroyed")
    assert_destroyed(host, sb, tracked)
    assert host.list() == []


# --------------------------------------------------------------------------------------------
# 12. docker exec


def test_docker_exec_into_a_sandbox(host, rootfs, tmp_path):
    host.create_ok(name="dock1", rootfs=str(rootfs))
    home = tmp_path / "docker-home"
    r = docker(host.d, home, "exec", "dock1", "echo", "hi")
    assert (r.returncode, r.stdout) == (0, "hi\n"), r
    r = docker(host.d, home, "exec", "dock1", "hostname")
    assert (r.returncode, r.stdout) == (0, "dock1\n"), r
    r = docker(host.d, home, "exec", "dock1", "sh", "-c", "echo err >&2; exit 3")
    assert (r.returncode, r.stderr) == (3, "err\n"), r
    r = docker(host.d, home, "ps", "--format", "{{.Names}}")
    assert r.returncode == 0, r
    assert "dock1" in r.stdout.split(), r.stdout


# --------------------------------------------------------------------------------------------
# 13. the daemon killed and restarted


@pytest.mark.timeout(120)
def test_sandboxes_survive_a_daemon_sigkill(hosts, rootfs):
    h1 = hosts()
    a = h1.create_ok(name="keep", rootfs=str(rootfs))
    b = h1.create_ok(name="victim", rootfs=str(rootfs))
    h1.bg("keep", "for i in $(seq 1 60); do echo $i; sleep 0.05; done", tag="counter")
    wait_for(lambda: h1.process("keep", "counter")["stdout_bytes"] >= 4,
             what="the counter to have printed something")

    h1.d.proc.send_signal(signal.SIGKILL)  # the daemon alone, not its process tree
    h1.d.proc.wait(DEADLINE)
    assert alive(a["pid"]) and alive(b["pid"]), "a sandbox died with the daemon"
    os.kill(b["pid"], signal.SIGKILL)  # the victim's agent, while no daemon watches
    reap_ours([b["pid"]])
    wait_for(lambda: not alive(b["pid"]), what="the victim's agent to die")

    h2 = hosts(state_dir=h1.state_dir, token=h1.d.token)
    listed = {s["id"]: s for s in h2.list()}
    assert set(listed) == {a["id"], b["id"]}, listed
    assert (listed[a["id"]]["state"], listed[a["id"]]["pid"]) == ("running", a["pid"]), listed
    got = h2.info("keep")
    assert (got["id"], got["state"], got["pid"]) == (a["id"], "running", a["pid"]), got
    bad = h2.info("victim")
    assert bad["id"] == b["id"] and bad["state"] == "error", bad
    assert isinstance(bad["error"], str) and bad["error"], bad
    assert_json_error(h2.exec_raw("victim", "/bin/echo"), 409)

    ended = h2.wait_exited("keep", "counter")
    assert ended["exit_code"] == 0, ended
    out, _ = process_output(h2, "keep", "counter")
    assert out == "".join(f"{i}\n" for i in range(1, 61)).encode(), out
    assert h2.sh_ok("keep", "echo still here") == "still here\n"

    tracked = track(cgroup_pids(b["id"]))
    h2.delete_ok("victim")
    assert_destroyed(h2, b, tracked)
    assert [s["id"] for s in h2.list()] == [a["id"]]


def test_an_unreadable_record_is_listed_in_error_and_can_be_deleted(hosts, rootfs):
    """A sandbox whose record cannot be read after a restart is not forgotten (its container
    would run on unseen): it is listed in error and a DELETE removes everything it made."""
    h1 = hosts()
    sb = h1.create_ok(name="garbled", rootfs=str(rootfs))
    h1.d.proc.send_signal(signal.SIGKILL)
    h1.d.proc.wait(DEADLINE)
    (Path(h1.state_dir) / "sandboxes" / sb["id"] / "sandbox.json").write_text("{not json")
    h2 = hosts(state_dir=h1.state_dir, token=h1.d.token)
    got = h2.info(sb["id"])
    assert got["state"] == "error" and "unreadable" in got["error"], got
    tracked = track(cgroup_pids(sb["id"]))
    h2.delete_ok(sb["id"])
    assert_destroyed(h2, sb, tracked)


# --------------------------------------------------------------------------------------------
# 14. destroy leaves nothing


def test_destroy_leaves_nothing(host, rootfs, tmp_path):
    bind = tmp_path / "bindsrc"
    bind.mkdir()
    _open_up_plain(bind)
    sb = host.create_ok(name="gone", rootfs=str(rootfs), resources={"memory_mb": 64, "pids": 64},
                        mounts=[{"type": "volume", "source": "gonevol", "target": "/data"},
                                {"type": "bind", "source": str(bind), "target": "/mnt/b"}])
    host.bg("gone", "sleep 1000 & sleep 1000 & exec sleep 1000", tag="sleepers")
    wait_for(lambda: len(cgroup_pids(sb["id"])) >= 4, what="the sleepers in the cgroup")
    pids = cgroup_pids(sb["id"])
    tracked = track(pids)
    assert host.sandbox_dir(sb["id"]).is_dir() and host.container_dir(sb["id"]).is_dir()
    assert cgroup_dirs(sb["id"])
    host.delete_ok("gone")
    assert_destroyed(host, sb, tracked)
    assert not still_alive(tracked), still_alive(tracked)
    assert not mounts_mentioning(bind, host.state_dir)
    if os.access(RUNC, os.X_OK):
        r = subprocess.run([str(RUNC), "--root", str(host.state_dir / "sandboxes" / ".containers"),
                            "list"], capture_output=True, text=True, timeout=DEADLINE)
        assert sb["id"] not in r.stdout, r.stdout
    # the volume outlives the sandbox
    assert "gonevol" in [v["name"] for v in host.volumes()]


def test_destroy_while_a_request_runs(host, rootfs):
    sb = host.create_ok(name="busy", rootfs=str(rootfs))
    result = {}

    def long_exec():
        try:
            result["r"] = host.exec_raw("busy", "/bin/sleep", "1000")
        except Exception as e:  # noqa: BLE001 - a closed connection is a fine end too
            result["e"] = e

    t = threading.Thread(target=long_exec, daemon=True)
    t.start()
    wait_for(lambda: any(cmdline(p) == [b"/bin/sleep", b"1000"] for p in cgroup_pids(sb["id"])),
             what="the long exec to run")
    tracked = track(cgroup_pids(sb["id"]))
    host.delete_ok("busy")
    t.join(DEADLINE)
    assert not t.is_alive(), "the proxied request outlived its sandbox"
    if "r" in result:
        assert result["r"].status != 200 or result["r"].json()["exit_code"] != 0, result
    assert_destroyed(host, sb, tracked)


# --------------------------------------------------------------------------------------------
# 15. many at once


@pytest.mark.timeout(400)
def test_fifty_sandboxes(host, rootfs):
    n = 50

    def one(i):
        sb = host.create_ok(name=f"many-{i}", rootfs=str(rootfs))
        r = host.sh(sb["id"], f"echo {i}")
        assert (r["stdout"], r["exit_code"]) == (f"{i}\n", 0), r
        return sb

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        sbs = list(pool.map(one, range(n)))
    assert len({s["id"] for s in sbs}) == n
    assert sorted(s["name"] for s in host.list()) == sorted(f"many-{i}" for i in range(n))
    tracked = {s["id"]: track(cgroup_pids(s["id"])) for s in sbs}

    def gone(sb):
        host.delete_ok(sb["id"])
        return sb

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(gone, sbs))
    assert host.list() == []
    for sb in sbs:
        wait_nothing_left(host.state_dir, sb["id"], tracked[sb["id"]])
    assert state_entries(host) == ([], []), state_entries(host)
    assert not mounts_mentioning(host.state_dir)

