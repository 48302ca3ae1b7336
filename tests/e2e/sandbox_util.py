# SPDX-License-Identifier: MIT
"""Helpers for test_sandboxes.py: the busybox rootfs and OCI image the tests build, a client
for the sandbox routes of one daemon (Host), and what checks — and, as a last resort, undoes —
what a sandbox may leave on the host: mounts, cgroup directories, processes, state directories.

Everything here follows docs/sandboxes.md (the contract); the proxied routes are docs/api.md's.
"""

import gzip
import hashlib
import io
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import tarfile
import time
import urllib.parse
from pathlib import Path

import pytest

from conftest import DEADLINE, alive, proc_stat, reap_ours, wait_for

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PARENT = "sprite-sandboxes"
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
SANDBOX_FIELDS = {"id", "name", "state", "created_at", "last_active_at", "rootfs", "image",
                  "image_digest", "pid", "mounts", "env", "user", "workdir", "hostname",
                  "network", "resources", "ttl_sec", "on_ttl", "labels", "oom_kills", "error"}
CREATE_TIMEOUT = 3 * DEADLINE  # a create waits for the agent (and may unpack an image)


def poll(predicate, timeout=None, interval=0.02):
    """Like conftest.wait_for, but returns the last value instead of failing (for cleanup)."""
    deadline = time.monotonic() + (DEADLINE if timeout is None else timeout)
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# the busybox rootfs


PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
GROUP = "root:x:0:\nnogroup:x:65534:\n"


def busybox_applets():
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        pytest.fail("Debian's busybox-static is not installed (/bin/busybox)")
    out = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True,
                         timeout=DEADLINE).stdout.split()
    return [a for a in out if a != "busybox" and "/" not in a]


def make_busybox_rootfs(dest):
    """/bin/busybox (Debian's busybox-static) plus one relative symlink per applet, the usual
    mount points, /etc/passwd and /etc/group with root and nobody; 0755 directories."""
    dest = Path(dest)
    for d in ("bin", "proc", "sys", "dev", "etc", "tmp", "run", "root", "mnt", "var"):
        (dest / d).mkdir(parents=True, exist_ok=True)
        os.chmod(dest / d, 0o755)
    os.chmod(dest / "tmp", 0o1777)
    shutil.copy2("/bin/busybox", dest / "bin" / "busybox")
    for a in busybox_applets():
        os.symlink("busybox", dest / "bin" / a)
    (dest / "etc" / "passwd").write_text(PASSWD)
    (dest / "etc" / "group").write_text(GROUP)
    os.chmod(dest, 0o755)
    return dest


def chmod_path(path, stop="/"):
    """chmod 0755 (keeping the sticky bit) on path and every parent up to `stop`."""
    p = Path(path).resolve()
    stop = Path(stop).resolve()
    while True:
        try:
            mode = p.stat().st_mode
            os.chmod(p, (mode & 0o1000) | 0o755)
        except OSError:
            pass
        if p == stop or p == p.parent:
            return
        p = p.parent


def tree_listing(root):
    """Everything about a tree that a write through an overlay could change, as a sorted list:
    path, type, mode, owner, size, mtime, content hash / link target, extended attributes."""
    root = Path(root)

    def entry(p):
        st = os.lstat(p)
        if os.path.islink(p):
            what = "l:" + os.readlink(p)
        elif p.is_file():
            what = "f:" + hashlib.sha256(p.read_bytes()).hexdigest()
        elif p.is_dir():
            what = "d"
        else:
            what = "o"
        try:
            xattrs = sorted((k, os.getxattr(p, k, follow_symlinks=False))
                            for k in os.listxattr(p, follow_symlinks=False))
        except OSError:
            xattrs = []
        return (str(p.relative_to(root)), what, st.st_mode, st.st_uid, st.st_gid, st.st_size,
                st.st_mtime_ns, tuple(xattrs))

    out = [entry(root)]
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        out += [entry(Path(dirpath) / n) for n in sorted(dirnames + filenames)]
    return sorted(out)


def tree_digest(root):
    return hashlib.sha256(repr(tree_listing(root)).encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# an OCI image layout, made here


def go_arch():
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
            "riscv64": "riscv64", "ppc64le": "ppc64le", "s390x": "s390x"}.get(m, m)


def _tar_bytes(add):
    """An uncompressed tar made by add(tarfile)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        add(tf)
    return buf.getvalue()


def _tar_dir(tf, name, mode=0o755):
    ti = tarfile.TarInfo(name)
    ti.type = tarfile.DIRTYPE
    ti.mode = mode
    ti.mtime = 1700000000
    tf.addfile(ti)


def _tar_file(tf, name, data, mode=0o644):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = mode
    ti.mtime = 1700000000
    tf.addfile(ti, io.BytesIO(data))


def _tar_symlink(tf, name, target):
    ti = tarfile.TarInfo(name)
    ti.type = tarfile.SYMTYPE
    ti.linkname = target
    ti.mode = 0o777
    ti.mtime = 1700000000
    tf.addfile(ti)


class OciImage:
    """Paths and facts of the image made by build_oci_image."""

    def __init__(self, layout, tarball, manifest_digest, added, added_content, removed, kept):
        self.layout = layout
        self.tarball = tarball
        self.manifest_digest = manifest_digest  # "sha256:<hex>"
        self.added = added  # a file layer 2 adds
        self.added_content = added_content
        self.removed = removed  # a file of layer 1 that layer 2 whites out
        self.kept = kept  # a file of layer 1 next to it that stays


def build_oci_image(dest):
    """An OCI image layout at dest/layout (oci-layout, index.json, blobs/sha256/…) and the same
    as a tarball dest/image.tar: layer 1 (tar+gzip) is the busybox rootfs plus /etc/doomed and
    /etc/kept; layer 2 adds /etc/added and whites out /etc/doomed (/etc/.wh.doomed)."""
    dest = Path(dest)
    layout = dest / "layout"
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    applets = busybox_applets()
    busybox = Path("/bin/busybox").read_bytes()

    def layer1(tf):
        for d in ("bin", "proc", "sys", "dev", "etc", "root", "mnt", "run", "var"):
            _tar_dir(tf, d)
        _tar_dir(tf, "tmp", 0o1777)
        _tar_file(tf, "bin/busybox", busybox, 0o755)
        for a in applets:
            _tar_symlink(tf, f"bin/{a}", "busybox")
        _tar_file(tf, "etc/passwd", PASSWD.encode())
        _tar_file(tf, "etc/group", GROUP.encode())
        _tar_file(tf, "etc/doomed", b"layer 1 put me here\n")
        _tar_file(tf, "etc/kept", b"layer 1 kept\n")

    added_content = b"added by layer 2\n"

    def layer2(tf):
        _tar_dir(tf, "etc")
        _tar_file(tf, "etc/added", added_content)
        _tar_file(tf, "etc/.wh.doomed", b"")

    def put_blob(data):
        hexd = hashlib.sha256(data).hexdigest()
        (blobs / hexd).write_bytes(data)
        return {"digest": f"sha256:{hexd}", "size": len(data)}

    layers, diff_ids = [], []
    for make in (layer1, layer2):
        raw = _tar_bytes(make)
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        desc = put_blob(gzip.compress(raw, mtime=0))
        desc["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
        layers.append(desc)
    config = {"architecture": go_arch(), "os": "linux",
              "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    cdesc = put_blob(json.dumps(config).encode())
    cdesc["mediaType"] = "application/vnd.oci.image.config.v1+json"
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cdesc, "layers": layers}
    mdesc = put_blob(json.dumps(manifest).encode())
    mdesc["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
    mdesc["platform"] = {"architecture": go_arch(), "os": "linux"}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [mdesc]}
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))

    tarball = dest / "image.tar"
    with tarfile.open(tarball, "w") as tf:
        for name in ("oci-layout", "index.json"):
            tf.add(layout / name, arcname=name)
        tf.add(layout / "blobs", arcname="blobs")
    for p in [dest, layout, layout / "blobs", blobs] + list(blobs.iterdir()):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    os.chmod(tarball, 0o644)
    return OciImage(layout, tarball, mdesc["digest"], "/etc/added", added_content, "/etc/doomed",
                    "/etc/kept")


# --------------------------------------------------------------------------------------------
# cgroups, mounts, processes


def cgroup_hierarchies():
    """The v1 hierarchies (and the v2 one, at the root or at unified/) under /sys/fs/cgroup."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return [CGROUP_ROOT]
    return sorted(p for p in CGROUP_ROOT.iterdir()
                  if p.is_dir() and not p.is_symlink() and (p / "cgroup.procs").exists())


def cgroup_dirs(sid):
    """The existing directories sprite-sandboxes/<sid>, in every hierarchy."""
    return [h / CGROUP_PARENT / sid for h in cgroup_hierarchies()
            if (h / CGROUP_PARENT / sid).is_dir()]


def cgroup_dir(sid, controller):
    """The directory of one v1 controller (or the v2 one): e.g. cgroup_dir(id, "freezer")."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return CGROUP_ROOT / CGROUP_PARENT / sid
    for h in cgroup_hierarchies():
        if controller in h.name.split(","):
            return h / CGROUP_PARENT / sid
    pytest.fail(f"no cgroup hierarchy for {controller}")


def sandbox_cgroup_names():
    """Every sprite-sandboxes/* directory name in any hierarchy."""
    names = set()
    for h in cgroup_hierarchies():
        try:
            names |= {p.name for p in (h / CGROUP_PARENT).iterdir() if p.is_dir()}
        except FileNotFoundError:
            pass
    return names


def new_cgroups_of(state_dir, before, settle=2.0):
    """sprite-sandboxes/* names that were not in `before` and belong to the daemon writing to
    state_dir: those whose processes have mounts under it, and those still empty after `settle`
    seconds (a leftover; someone else's create fills its cgroup, or removes it, at once). Other
    test runs may create sandboxes meanwhile: theirs are not counted."""
    def suspects():
        out = []
        for name in sorted(sandbox_cgroup_names() - set(before)):
            pids = cgroup_pids(name)
            if not pids:
                out.append(name)
                continue
            for p in pids:
                try:
                    if str(state_dir) in Path(f"/proc/{p}/mountinfo").read_text():
                        out.append(name)
                        break
                except OSError:
                    pass
        return out

    if not suspects():
        return []
    poll(lambda: not suspects(), timeout=settle, interval=0.1)
    return suspects()


def _walk_dirs(top):
    return [Path(dp) for dp, _, _ in os.walk(top)]


def cgroup_pids(sid):
    """Host pids of every process in the sandbox's cgroups (and their children), any hierarchy."""
    pids = set()
    for top in cgroup_dirs(sid):
        for d in _walk_dirs(top):
            try:
                pids |= {int(x) for x in (d / "cgroup.procs").read_text().split()}
            except OSError:
                pass
    return pids


def start_time(pid):
    st = proc_stat(pid)
    return int(st[19]) if st else None


def track(pids):
    """(pid, start time) pairs: a process identity that pid reuse cannot fool."""
    return [(p, start_time(p)) for p in pids if start_time(p) is not None]


def still_alive(tracked):
    return [p for p, t in tracked if t is not None and start_time(p) == t and alive(p)]


def kill_tracked(tracked):
    for p in still_alive(tracked):
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    reap_ours([p for p, _ in tracked])


def ns_pid(host_pid):
    """The pid in the innermost pid namespace (last NSpid field), or None."""
    try:
        for line in Path(f"/proc/{host_pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def cpu_ticks(host_pid):
    """utime + stime of a process (clock ticks)."""
    st = proc_stat(host_pid)
    return int(st[11]) + int(st[12]) if st else None


def mounts_mentioning(*paths):
    text = Path("/proc/self/mountinfo").read_text()
    strs = [str(p) for p in paths if p]
    return [line for line in text.splitlines() if any(s in line for s in strs)]


def thaw(sid):
    """Thaws the sandbox's freezer cgroup (v1) or cgroup.freeze (v2), so SIGKILL can act."""
    for top in cgroup_dirs(sid):
        for d in _walk_dirs(top):
            for f, v in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
                if (d / f).exists():
                    try:
                        (d / f).write_text(v)
                    except OSError:
                        pass


def force_remove_cgroups(sid, timeout=None):
    """Last resort: thaw, SIGKILL every process, reap what is ours, rmdir leaf first.
    Returns the directories that could not be removed."""
    deadline = time.monotonic() + (DEADLINE if timeout is None else timeout)
    while True:
        thaw(sid)
        pids = cgroup_pids(sid)
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        reap_ours(list(pids), timeout=0.2)
        left = []
        for top in cgroup_dirs(sid):
            for d in sorted(_walk_dirs(top), key=lambda p: -len(p.parts)):
                try:
                    d.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    left.append(str(d))
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


# --------------------------------------------------------------------------------------------
# one daemon's sandbox routes


def q(s):
    return urllib.parse.quote(str(s), safe="")


class Host:
    """The sandbox and volume routes of one daemon, with a state (write) directory that several
    daemons may share one after another (a restart). Sandboxes it sees are recorded in
    `registry` (shared by every Host of a test) for the cleanup."""

    def __init__(self, daemon, state_dir, registry):
        self.d = daemon
        self.state_dir = Path(state_dir)
        self.registry = registry

    # -- raw

    def request(self, method, path, body=None, **kw):
        return self.d.request(method, path, body=body, **kw)

    def _note(self, sb):
        if isinstance(sb, dict) and sb.get("id"):
            self.registry.note(self.state_dir, sb)
        return sb

    # -- sandboxes

    def create(self, **fields):
        """POST /v1/sandboxes; the Response (a 201's sandbox is recorded)."""
        r = self.request("POST", "/v1/sandboxes", body=fields, timeout=CREATE_TIMEOUT)
        if r.status == 201:
            self._note(r.json())
        return r

    def create_raw(self, body):
        """POST /v1/sandboxes with a body as it is (bytes, or anything JSON)."""
        r = self.request("POST", "/v1/sandboxes", body=body, timeout=CREATE_TIMEOUT,
                         headers={"Content-Type": "application/json"})
        if r.status == 201:
            self._note(r.json())
        return r

    def create_ok(self, **fields):
        r = self.create(**fields)
        assert r.status == 201, f"create {fields}: {r}\nstderr:\n{self.d.stderr()[-3000:]}"
        sb = r.json()
        assert sb["state"] == "running", sb
        return sb

    def get(self, ref):
        r = self.request("GET", f"/v1/sandboxes/{q(ref)}")
        if r.status == 200:
            self._note(r.json())
        return r

    def info(self, ref):
        r = self.get(ref)
        assert r.status == 200, r
        return r.json()

    def list(self):
        r = self.request("GET", "/v1/sandboxes")
        assert r.status == 200, r
        body = r.json()
        assert isinstance(body, list), body
        for sb in body:
            self._note(sb)
        return body

    def delete(self, ref, timeout=None):
        return self.request("DELETE", f"/v1/sandboxes/{q(ref)}",
                            timeout=CREATE_TIMEOUT if timeout is None else timeout)

    def delete_ok(self, ref):
        r = self.delete(ref)
        assert r.status == 204, r
        return r

    def action(self, ref, what):
        """POST …/pause, …/resume or …/ping: the Response."""
        r = self.request("POST", f"/v1/sandboxes/{q(ref)}/{what}")
        if r.status == 200:
            self._note(r.json())
        return r

    def state(self, ref):
        r = self.get(ref)
        return r.json()["state"] if r.status == 200 else r.status

    # -- proxied routes

    def exec_raw(self, ref, cmd, *args, **fields):
        body = {"cmd": cmd, "args": list(args)}
        body.update(fields)
        return self.request("POST", f"/v1/sandboxes/{q(ref)}/exec", body=body)

    def context(self, ref):
        """For failure messages: the sandbox as the daemon shows it, and its stderr's end."""
        try:
            r = self.get(ref)
            sb = r.json() if r.status == 200 else r
        except Exception as e:  # noqa: BLE001 - only a message
            sb = e
        return f"sandbox: {sb}\ndaemon stderr:\n{self.d.stderr()[-2000:]}"

    def exec(self, ref, cmd, *args, **fields):
        """A synchronous exec in the sandbox: the agent's 200 answer (a dict)."""
        r = self.exec_raw(ref, cmd, *args, **fields)
        assert r.status == 200, f"exec {cmd} {args} in {ref}: {r}\n{self.context(ref)}"
        return r.json()

    def sh(self, ref, script, **fields):
        """/bin/sh -c script in the sandbox: the 200 answer (stdout, stderr, exit_code …)."""
        return self.exec(ref, "/bin/sh", "-c", script, **fields)

    def sh_ok(self, ref, script, **fields):
        """Like sh, and the exit code must be 0: returns stdout."""
        r = self.sh(ref, script, **fields)
        assert r["exit_code"] == 0, f"{script!r} in {ref}: {r}\n{self.context(ref)}"
        return r["stdout"]

    def bg(self, ref, script, tag=None):
        """A background /bin/sh -c script in the sandbox: the 202 answer {pid, tag, cmd}."""
        body = {"cmd": "/bin/sh", "args": ["-c", script], "background": True}
        if tag:
            body["tag"] = tag
        r = self.request("POST", f"/v1/sandboxes/{q(ref)}/exec", body=body)
        assert r.status == 202, f"{r}\n{self.context(ref)}"
        return r.json()

    def process(self, ref, sel):
        r = self.request("GET", f"/v1/sandboxes/{q(ref)}/processes/{q(sel)}")
        assert r.status == 200, r
        return r.json()

    def processes(self, ref):
        r = self.request("GET", f"/v1/sandboxes/{q(ref)}/processes")
        assert r.status == 200, r
        body = r.json()
        assert body["count"] == len(body["processes"]), body
        return body["processes"]

    def wait_exited(self, ref, sel, timeout=None):
        return wait_for(lambda: (lambda p: p if p["state"] == "exited" else None)(
            self.process(ref, sel)), timeout=timeout, what=f"process {sel} in {ref} to exit")

    # -- volumes

    def volumes(self):
        r = self.request("GET", "/v1/volumes")
        assert r.status == 200, r
        body = r.json()
        assert isinstance(body, list), body
        return body

    # -- on the host

    def sandbox_dir(self, sid):
        return self.state_dir / "sandboxes" / sid

    def container_dir(self, sid):
        return self.state_dir / "sandboxes" / ".containers" / sid

    def host_pid_of(self, ref, sandbox_pid):
        """The host pid of the process that is sandbox_pid in the sandbox's pid namespace."""
        sid = self.info(ref)["id"]

        def find():
            for p in cgroup_pids(sid):
                if alive(p) and ns_pid(p) == sandbox_pid:
                    return p
            return None

        return wait_for(find, what=f"pid {sandbox_pid} of {ref} in its cgroup")


def leftovers_of(host_state_dir, sid, tracked=(), check_dirs=True):
    """What sandbox sid left on the host: cgroup directories, live processes (from `tracked`),
    its directories under the state dir. A list of strings (empty: nothing)."""
    out = []
    dirs = cgroup_dirs(sid)
    if dirs:
        out.append(f"cgroup directories of {sid}: {[str(d) for d in dirs]}")
    live = still_alive(tracked)
    if live:
        out.append(f"processes of {sid} still alive: {live}")
    if check_dirs:
        for p in (Path(host_state_dir) / "sandboxes" / sid,
                  Path(host_state_dir) / "sandboxes" / ".containers" / sid):
            if os.path.lexists(p):
                out.append(f"{p} is still there")
    return out


def wait_nothing_left(state_dir, sid, tracked=(), check_dirs=True, what=None):
    """Waits (with the deadline) until leftovers_of is empty; fails naming what is left."""
    left = poll(lambda: not leftovers_of(state_dir, sid, tracked, check_dirs))
    if not left:
        problems = leftovers_of(state_dir, sid, tracked, check_dirs)
        pytest.fail(f"{what or sid}: left behind: {problems}")
    reap_ours([p for p, _ in tracked], timeout=0.5)


class Registry:
    """Every sandbox a test saw (by state dir): its id and the (pid, start time) of its agent."""

    def __init__(self):
        self.seen = {}  # (state_dir, id) -> tracked agent [(pid, start)]

    def note(self, state_dir, sb):
        key = (str(state_dir), sb["id"])
        tracked = self.seen.setdefault(key, [])
        pid = sb.get("pid")
        if isinstance(pid, int) and pid > 0 and not any(p == pid for p, _ in tracked):
            t = start_time(pid)
            if t is not None:
                tracked.append((pid, t))

    def ids(self, state_dir):
        return {sid for (sd, sid) in self.seen if sd == str(state_dir)}


# --------------------------------------------------------------------------------------------
# the docker CLI


DOCKER = os.environ.get("SPRITE_E2E_DOCKER", "/usr/local/bin/docker")


def docker(d, home, *args, timeout=None):
    """Runs `docker ARGS…` against daemon d (DOCKER_HOST, the token as a custom header) with a
    private HOME and DOCKER_CONFIG; a CompletedProcess with text output."""
    if not os.access(DOCKER, os.X_OK):
        pytest.fail(f"the docker CLI is not at {DOCKER} (set SPRITE_E2E_DOCKER)")
    home = Path(home)
    (home / "docker-config").mkdir(parents=True, exist_ok=True)
    e = {k: v for k, v in os.environ.items()
         if not k.startswith("DOCKER_") and not k.startswith("SPRITE_")}
    e.update({"HOME": str(home), "DOCKER_CONFIG": str(home / "docker-config"),
              "DOCKER_CLI_HINTS": "false",
              "DOCKER_HOST": f"unix://{d.unix_path}" if d.unix_path
              else f"tcp://127.0.0.1:{d.port}",
              "DOCKER_CUSTOM_HEADERS": f"Authorization=Bearer {d.token}"})
    p = subprocess.Popen([DOCKER] + [str(a) for a in args], env=e, cwd=str(home),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=DEADLINE if timeout is None else timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        pytest.fail(f"docker {args} did not finish: {out[-300:]!r} {err[-300:]!r}")
    return subprocess.CompletedProcess(p.args, p.returncode, out.decode(errors="replace"),
                                       err.decode(errors="replace"))
