# SPDX-License-Identifier: MIT
"""sprite-runc, the OCI runtime with runc's command line: driven directly, by containerd (ctr)
and by podman.

Everything runs on a busybox rootfs made here from Debian's busybox-static. Each test gets its
own state root, bundles and cgroup prefix (/sprite-e2e-<hex>) and cleans them up: containers
with `sprite-runc delete --force`, their processes (reparented to us: pytest is a subreaper),
cgroup directories under /sys/fs/cgroup/*/<prefix>, mounts, temp dirs. containerd is started
privately (own root/state/socket, unique namespace) and podman runs with private storage.

The runtime is the sibling `sprite-runc` of SPRITE_ENV_BIN. Under the ASan build a sanitizer
report is written to a per-session directory (ASAN_OPTIONS=log_path=...), also when the runtime
is run by containerd's shim or by conmon, and any report fails the test that made it. (podman
runs start/kill/delete itself with a minimal environment: there a report goes to stderr and the
runtime's non-zero exit fails the podman command.)
"""

import datetime
import hashlib
import json
import os
import re
import secrets
import select
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import BIN, DEADLINE, SANITIZER_MARKERS, alive, base_env, children, proc_comm, \
    proc_stat, proc_state, reap_ours, wait_for

RUNC = BIN.parent / "sprite-runc"
CGROUP_ROOT = Path("/sys/fs/cgroup")
MIB = 1024 * 1024

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the runtime tests need root")


# --------------------------------------------------------------------------------------------
# session fixtures: the busybox rootfs, the ASan report directory, the runtime's own spec


def make_busybox_rootfs(dest):
    """A busybox rootfs as docs §2.1 says: /bin/busybox from Debian's busybox-static plus one
    *relative* symlink per applet (absolute ones would point out of the container), the usual
    mount points, and a minimal /etc."""
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        pytest.fail("Debian's busybox-static is not installed (/bin/busybox)")
    dest = Path(dest)
    for d in ("bin", "proc", "sys", "dev", "etc", "tmp", "run", "root", "mnt"):
        (dest / d).mkdir(parents=True, exist_ok=True)
        os.chmod(dest / d, 0o755)
    os.chmod(dest / "tmp", 0o1777)
    shutil.copy2(busybox, dest / "bin" / "busybox")
    applets = subprocess.run([str(dest / "bin" / "busybox"), "--list"], capture_output=True,
                             text=True, check=True, timeout=DEADLINE).stdout.split()
    for a in applets:
        if a != "busybox" and "/" not in a:
            os.symlink("busybox", dest / "bin" / a)
    (dest / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (dest / "etc" / "group").write_text("root:x:0:\n")
    os.chmod(dest, 0o755)
    return dest


@pytest.fixture(scope="session")
def session_dir():
    d = Path(tempfile.mkdtemp(prefix="sprite-runc-e2e-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def busybox_rootfs(session_dir):
    """The shared rootfs: containers use it read-only (root.readonly) and write only to a tmpfs
    on /tmp; ctr and podman get copies of their own."""
    root = make_busybox_rootfs(session_dir / "rootfs")
    assert os.readlink(root / "bin" / "sh") == "busybox"
    return root


@pytest.fixture(scope="session")
def asan_dir(session_dir):
    d = session_dir / "asan"
    d.mkdir()
    return d


def runtime_env(asan_dir):
    """The environment for the runtime: sanitizer reports go to files in asan_dir."""
    env = base_env()
    opts = [o for o in env.get("ASAN_OPTIONS", "").split(":") if o and
            not o.startswith("log_path=")]
    opts.append(f"log_path={asan_dir}/report")
    env["ASAN_OPTIONS"] = ":".join(opts)
    return env


def asan_reports(asan_dir):
    """Reports written since the last call (each is then renamed, to be reported once)."""
    out = []
    for p in sorted(asan_dir.iterdir()):
        if not p.name.startswith("seen-"):
            out.append(f"== {p.name}\n{p.read_text(errors='replace')}")
            p.rename(p.with_name("seen-" + p.name))
    return out


@pytest.fixture(autouse=True)
def _no_asan_reports(asan_dir):
    yield
    reports = asan_reports(asan_dir)
    assert not reports, "sanitizer report(s) from the runtime:\n" + "\n".join(reports)


@pytest.fixture(scope="session")
def base_spec(session_dir, asan_dir):
    """The runtime's own `spec` output, as a dict (each test changes a deep copy)."""
    d = session_dir / "spec"
    d.mkdir()
    r = subprocess.run([str(RUNC), "spec", "--bundle", str(d)], capture_output=True, text=True,
                       timeout=DEADLINE, env=runtime_env(asan_dir))
    assert r.returncode == 0, r.stderr
    return json.loads((d / "config.json").read_text())


# --------------------------------------------------------------------------------------------
# the per-test runtime driver


# The device rules ctr sends (deny all, then the default devices), so that the tests do not
# depend on the runtime allowing the default devices by itself (which
# test_default_devices_usable_with_deny_all_rule checks).
DEFAULT_DEVICE_RULES = [
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},   # null
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},   # zero
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},   # full
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},   # random
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},   # urandom
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},   # tty
    {"allow": True, "type": "c", "major": 5, "minor": 1, "access": "rwm"},   # console
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},   # ptmx
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},             # pts/*
]


def cgroup_hierarchies():
    """The v1 controller hierarchies (and a v2 root) under /sys/fs/cgroup."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return [CGROUP_ROOT]
    return sorted(p for p in CGROUP_ROOT.iterdir()
                  if p.is_dir() and not p.is_symlink() and (p / "cgroup.procs").exists())


def cgroup_dirs(rel):
    """Existing directories for the cgroup path rel ("/a/b") in every hierarchy."""
    rel = rel.strip("/")
    return [h / rel for h in cgroup_hierarchies() if (h / rel).is_dir()]


def remove_cgroup_tree(rel):
    """Kills whatever is left in the cgroup rel and below, then removes the directories, leaf
    first, in every hierarchy. Returns the directories that could not be removed."""
    left = []
    for top in cgroup_dirs(rel):
        dirs = sorted((Path(dp) for dp, _, _ in os.walk(top)), key=lambda p: -len(p.parts))
        for d in dirs:
            try:
                for pid in (d / "cgroup.procs").read_text().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            except OSError:
                pass
        for d in dirs:
            deadline = time.monotonic() + DEADLINE
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() >= deadline:
                        left.append(str(d))
                        break
                    time.sleep(0.01)
    return left


def mounts_mentioning(*paths):
    text = Path("/proc/self/mountinfo").read_text()
    return [line for line in text.splitlines() if any(str(p) in line for p in paths)]


def wait_exit(pid, timeout=None):
    """Waits for our child (or reparented orphan) pid; returns its exit code (-N: signal N)."""
    deadline = time.monotonic() + (DEADLINE if timeout is None else timeout)
    while True:
        try:
            got, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pytest.fail(f"pid {pid} is not our child (not reparented to the test?)")
        if got == pid:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            pytest.fail(f"pid {pid} did not exit in time")
        time.sleep(0.01)


def proc_start_time(pid):
    st = proc_stat(pid)
    return int(st[19]) if st else None


def still_ours(tracked):
    """Those (pid, start time) pairs whose process still exists (a zombie too): never a pid
    that was reaped and reused since."""
    return [p for p, t in tracked if t is not None and proc_start_time(p) == t]


def kill_and_reap(tracked):
    """Kills and reaps the tracked processes still there; returns the pids that were."""
    left = still_ours(tracked)
    for p in left:
        if alive(p):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    reap_ours(left)
    return left


def reap_zombie_children():
    """Reaps our zombie children: processes orphaned to us (pytest is a subreaper) that have
    exited: a container init that died at start, containerd shims, conmon."""
    for c in children(os.getpid()):
        if proc_state(c) == "Z":
            try:
                os.waitpid(c, os.WNOHANG)
            except ChildProcessError:
                pass


class Runc:
    """sprite-runc with a private --root, bundles in a private temp dir and a private cgroup
    prefix; remembers what it made so that cleanup() can undo it."""

    def __init__(self, work, rootfs, spec, asan_dir):
        self.work = work
        self.root = work / "state"
        self.rootfs = rootfs
        self.spec = spec
        self.env = runtime_env(asan_dir)
        self.cg_prefix = f"/sprite-e2e-{secrets.token_hex(4)}"
        self.ids = []
        self.pids = []  # (pid, start time) of container processes, for cleanup

    # -- running the runtime

    def __call__(self, *args, input=None, timeout=None, glob=(), stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE):
        cmd = [str(RUNC), "--root", str(self.root), *glob, *[str(a) for a in args]]
        try:
            r = subprocess.run(cmd, input=input, stdin=None if input is not None else
                               subprocess.DEVNULL, stdout=stdout, stderr=stderr, text=True,
                               timeout=DEADLINE if timeout is None else timeout, env=self.env)
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"{cmd} did not exit in time: stderr so far {e.stderr!r}")
        for m in SANITIZER_MARKERS:
            assert m not in (r.stderr or ""), f"sanitizer report from {cmd}:\n{r.stderr}"
        return r

    def ok(self, *args, **kw):
        r = self(*args, **kw)
        assert r.returncode == 0, f"sprite-runc {args}: exit {r.returncode}, stderr {r.stderr!r}"
        return r

    # -- bundles

    def config(self, args, cid, *, terminal=False, tmp=True):
        """A complete config.json dict: the runtime's spec with args, the shared rootfs
        read-only, a tmpfs on /tmp, the cgroup <prefix>/<cid> and ctr's device rules."""
        c = json.loads(json.dumps(self.spec))
        c["process"]["terminal"] = terminal
        c["process"]["args"] = list(args)
        c["root"] = {"path": str(self.rootfs), "readonly": True}
        if tmp:
            c["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                                "options": ["nosuid", "nodev", "mode=1777", "size=16m"]})
        c["linux"]["cgroupsPath"] = self.cgroup_of(cid)
        c["linux"]["resources"] = {"devices": json.loads(json.dumps(DEFAULT_DEVICE_RULES))}
        return c

    def cgroup_of(self, cid):
        return f"{self.cg_prefix}/{cid}"

    def bundle(self, cid, config):
        b = self.work / f"bundle-{cid}"
        b.mkdir(exist_ok=True)
        (b / "config.json").write_text(json.dumps(config, indent=1))
        return b

    # -- container operations

    def create(self, cid, bundle, *extra, check=True):
        """create, with the container's stdout/stderr going to bundle/stdout and bundle/stderr
        (the init keeps them open: pipes would hold subprocess.run until it exits). Returns the
        CompletedProcess; .err is what the runtime wrote to stderr."""
        self.ids.append(cid)
        err_file = bundle / "stderr"
        before = err_file.stat().st_size if err_file.exists() else 0
        with open(bundle / "stdout", "ab") as out, open(err_file, "ab") as err:
            r = self("create", "--bundle", bundle, *extra, cid, stdout=out, stderr=err)
        r.err = err_file.read_bytes()[before:].decode(errors="replace")
        for m in SANITIZER_MARKERS:
            assert m not in r.err, f"sanitizer report from create:\n{r.err}"
        if check:
            assert r.returncode == 0, f"create {cid}: exit {r.returncode}: {r.err}"
            self.track(self.state(cid)["pid"])
        return r

    def track(self, pid):
        self.pids.append((pid, proc_start_time(pid)))

    def create_started(self, cid, args, **kw):
        b = self.bundle(cid, self.config(args, cid, **kw))
        self.create(cid, b)
        self.ok("start", cid)
        return b, self.state(cid)["pid"]

    def state(self, cid):
        r = self.ok("state", cid)
        return json.loads(r.stdout)

    def status(self, cid):
        return self.state(cid)["status"]

    def wait_status(self, cid, status):
        wait_for(lambda: self.status(cid) == status, what=f"{cid} to be {status}")

    def run(self, cid, args, config=None, *extra, **kw):
        """`run` in the foreground; returns the CompletedProcess (exit code = the process')."""
        b = self.bundle(cid, config or self.config(args, cid))
        self.ids.append(cid)
        return self("run", "--bundle", b, *extra, cid, **kw)

    def stdout_of(self, bundle):
        return (bundle / "stdout").read_text()

    # -- cleanup

    def cleanup(self):
        problems = []
        for cid in self.ids:
            r = self("delete", "--force", cid)
            if r.returncode != 0:
                problems.append(f"delete --force {cid}: {r.stderr.strip()}")
        reap_ours(still_ours(self.pids))
        left = [p for p in still_ours(self.pids) if alive(p)]
        if left:
            problems.append(f"container processes survived delete --force: {left}")
        kill_and_reap(self.pids)
        reap_zombie_children()
        for cid in self.ids:
            dirs = cgroup_dirs(self.cgroup_of(cid))
            if dirs:
                problems.append(f"cgroup directories left after delete: {dirs}")
        stuck = remove_cgroup_tree(self.cg_prefix)
        if stuck:
            problems.append(f"cannot remove cgroups {stuck}")
        for line in mounts_mentioning(self.work):
            problems.append(f"mount left: {line}")
            mp = line.split()[4]
            subprocess.run(["umount", "-l", mp], capture_output=True)
        shutil.rmtree(self.work, ignore_errors=True)
        return problems


@pytest.fixture
def runc(busybox_rootfs, base_spec, asan_dir):
    work = Path(tempfile.mkdtemp(prefix="sprite-runc-t-"))
    os.chmod(work, 0o755)
    rt = Runc(work, busybox_rootfs, base_spec, asan_dir)
    yield rt
    problems = rt.cleanup()
    assert not problems, "cleanup: " + "; ".join(problems)


def run_under_script(cmd, env):
    """Runs cmd on a pty made by script(1) and returns the CompletedProcess. script's stdin is
    a pipe that stays open until cmd has exited: on EOF script would pass an end-of-file to
    podman -i, and conmon then closes the pty master, which it shares between stdin and
    stdout, racing with the container's last output."""
    r, w = os.pipe()
    try:
        return subprocess.run(["script", "-qec", shlex.join(cmd), "/dev/null"], stdin=r,
                              capture_output=True, text=True, timeout=DEADLINE, env=env)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{cmd} did not exit in time: {e.stdout!r} {e.stderr!r}")
    finally:
        os.close(r)
        os.close(w)


def new_id(tag="c"):
    return f"{tag}-{secrets.token_hex(4)}"


# --------------------------------------------------------------------------------------------
# direct CLI: version, spec


def test_version_first_line(asan_dir):
    r = subprocess.run([str(RUNC), "--version"], capture_output=True, text=True,
                       timeout=DEADLINE, env=runtime_env(asan_dir))
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert re.fullmatch(r"sprite-runc version \S+", first), r.stdout


def test_spec_writes_config_and_refuses_to_overwrite(runc):
    d = runc.work / "specdir"
    d.mkdir()
    runc.ok("spec", "--bundle", d)
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["ociVersion"].startswith("1.0")
    assert cfg["root"]["path"] == "rootfs"
    assert cfg["process"]["args"] and cfg["process"]["cwd"] == "/"
    types = {ns["type"] for ns in cfg["linux"]["namespaces"]}
    assert {"pid", "mount", "network", "ipc", "uts"} <= types
    # in the current directory too, and never over an existing file
    r = runc("spec", "--bundle", d)
    assert r.returncode == 1 and "exists" in r.stderr, r
    d2 = runc.work / "specdir2"
    d2.mkdir()
    subprocess.run([str(RUNC), "spec"], cwd=d2, check=True, timeout=DEADLINE, env=runc.env)
    assert (d2 / "config.json").exists()


# --------------------------------------------------------------------------------------------
# direct CLI: the life cycle and its states


def test_lifecycle_create_start_kill_delete(runc):
    cid = new_id()
    b = runc.bundle(cid, runc.config(["sleep", "1000"], cid))
    pid_file = runc.work / "init.pid"
    runc.create(cid, b, "--pid-file", pid_file)

    raw = pid_file.read_bytes()
    assert re.fullmatch(rb"[1-9][0-9]*", raw), f"pid file is not a bare pid: {raw!r}"
    pid = int(raw)
    st = runc.state(cid)
    assert st["status"] == "created" and st["pid"] == pid
    assert alive(pid)
    assert proc_comm(pid) != "sleep", "the user program ran before start"

    runc.ok("start", cid)
    st = runc.state(cid)
    assert st["status"] == "running"
    assert st["pid"] == pid, "start changed the init pid"
    wait_for(lambda: proc_comm(pid) == "sleep", what="the init to exec sleep")

    runc.ok("kill", cid, "KILL")
    assert wait_exit(pid) == -signal.SIGKILL
    runc.wait_status(cid, "stopped")
    assert runc.state(cid)["pid"] == 0

    runc.ok("delete", cid)
    r = runc("state", cid)
    assert r.returncode == 1 and r.stderr.strip() == "container does not exist", r
    assert not (runc.root / cid).exists(), "the state directory survived delete"


def test_process_does_not_run_before_start(runc):
    cid = new_id()
    b = runc.bundle(cid, runc.config(["sh", "-c", "echo started"], cid))
    runc.create(cid, b)
    pid = runc.state(cid)["pid"]
    # the init is parked on the exec fifo: nothing printed, still "created"
    assert runc.stdout_of(b) == ""
    assert runc.status(cid) == "created"
    runc.ok("start", cid)
    assert wait_exit(pid) == 0
    assert runc.stdout_of(b) == "started\n"
    runc.wait_status(cid, "stopped")


def test_state_json_fields(runc):
    cid = new_id()
    cfg = runc.config(["sleep", "1000"], cid)
    cfg["annotations"] = {"org.example.key": "value"}
    b = runc.bundle(cid, cfg)
    t0 = datetime.datetime.now(datetime.timezone.utc)
    runc.create(cid, b)
    st = runc.state(cid)
    assert st["ociVersion"].startswith("1.0")
    assert st["id"] == cid
    assert isinstance(st["pid"], int) and st["pid"] > 0
    assert st["status"] == "created"
    assert st["bundle"] == os.path.realpath(b)
    assert st["rootfs"] == os.path.realpath(runc.rootfs)
    assert st["annotations"] == {"org.example.key": "value"}
    assert "owner" in st
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", st["created"])
    assert m, f"created is not RFC 3339: {st['created']!r}"
    created = datetime.datetime.fromisoformat(m.group(1) + "+00:00") if m.group(3) == "Z" \
        else datetime.datetime.fromisoformat(m.group(1) + m.group(3))
    assert abs((created - t0).total_seconds()) < 60
    # list shows the same container
    r = runc.ok("list", "--format", "json")
    listed = {c["id"]: c for c in json.loads(r.stdout)}
    assert listed[cid]["pid"] == st["pid"] and listed[cid]["status"] == "created"
    assert cid in runc.ok("list", "-q").stdout.split()


def test_kill_default_signal_is_term_and_exit_status(runc):
    cid = new_id()
    b, pid = runc.create_started(
        cid, ["sh", "-c", 'trap "exit 42" TERM; echo ready; sleep 1000 & wait'])
    wait_for(lambda: runc.stdout_of(b) == "ready\n", what="the trap to be set")
    runc.ok("kill", cid)  # SIGTERM by default
    assert wait_exit(pid) == 42
    runc.wait_status(cid, "stopped")


def test_run_exit_code_and_cleanup(runc):
    cid = new_id()
    r = runc.run(cid, ["sh", "-c", "echo hi; echo err >&2; exit 3"])
    assert r.returncode == 3, r
    assert r.stdout == "hi\n"
    assert "err" in r.stderr
    r = runc("state", cid)
    assert r.returncode == 1 and "container does not exist" in r.stderr
    assert not cgroup_dirs(runc.cgroup_of(cid))


def test_run_detached(runc):
    cid = new_id()
    b = runc.bundle(cid, runc.config(["sleep", "1000"], cid))
    runc.ids.append(cid)
    with open(b / "stdout", "wb") as out:
        r = runc("run", "-d", "--bundle", b, cid, stdout=out, stderr=out)
    assert r.returncode == 0, (b / "stdout").read_text()
    st = runc.state(cid)
    runc.track(st["pid"])
    assert st["status"] == "running"
    wait_for(lambda: proc_comm(st["pid"]) == "sleep", what="sleep to run")


# --------------------------------------------------------------------------------------------
# direct CLI: exit codes and error strings (docs §1.17)


@pytest.mark.parametrize("cmd", ["state", "start", "kill", "delete", "pause", "resume", "ps",
                                 "exec", "update"])
def test_missing_container_does_not_exist(runc, cmd):
    args = {"ps": ["ps", "--format", "json", "no-such-ctr"],
            "exec": ["exec", "no-such-ctr", "true"],
            "update": ["update", "--resources", "-", "no-such-ctr"]}.get(cmd, [cmd, "no-such-ctr"])
    r = runc(*args, input="{}" if cmd == "update" else None)
    assert r.returncode == 1, r
    assert "container does not exist" in r.stderr, r


def test_delete_force_missing_exits_zero(runc):
    r = runc("delete", "--force", "no-such-ctr")
    assert r.returncode == 0, r
    assert r.stderr == ""


def test_start_twice_fails(runc):
    cid = new_id()
    runc.create_started(cid, ["sleep", "1000"])
    r = runc("start", cid)
    assert r.returncode == 1
    assert r.stderr.strip() == "cannot start an already running container", r


def test_delete_running_needs_force(runc):
    cid = new_id()
    _, pid = runc.create_started(cid, ["sleep", "1000"])
    r = runc("delete", cid)
    assert r.returncode == 1
    assert r.stderr.strip() == f"cannot delete container {cid} that is not stopped: running", r
    assert runc.status(cid) == "running" and alive(pid)
    runc.ok("delete", "--force", cid)
    assert wait_exit(pid) == -signal.SIGKILL
    assert runc("state", cid).returncode == 1
    assert not cgroup_dirs(runc.cgroup_of(cid))


def test_create_duplicate_id_fails(runc):
    cid = new_id()
    b = runc.bundle(cid, runc.config(["sleep", "1000"], cid))
    runc.create(cid, b)
    pid = runc.state(cid)["pid"]
    r = runc.create(cid, b, check=False)
    assert r.returncode == 1
    assert r.err.strip() == "container with given ID already exists", r.err
    st = runc.state(cid)
    assert st["status"] == "created" and st["pid"] == pid


def test_kill_stopped_fails_but_kill_all_succeeds(runc):
    cid = new_id()
    b = runc.bundle(cid, runc.config(["true"], cid))
    runc.create(cid, b)
    pid = runc.state(cid)["pid"]
    runc.ok("start", cid)
    assert wait_exit(pid) == 0
    runc.wait_status(cid, "stopped")
    r = runc("kill", cid, "KILL")
    assert r.returncode == 1 and r.stderr.strip() == "container not running", r
    r = runc("kill", "--all", cid, "KILL")
    assert r.returncode == 0, r
    r = runc("start", cid)
    assert r.returncode == 1 and "cannot start a container that has stopped" in r.stderr, r
    runc.ok("delete", cid)


def test_delete_created_container_kills_init(runc):
    """runc (and containerd relying on it) deletes a created container without --force."""
    cid = new_id()
    b = runc.bundle(cid, runc.config(["sleep", "1000"], cid))
    runc.create(cid, b)
    pid = runc.state(cid)["pid"]
    runc.ok("delete", cid)
    assert wait_exit(pid) == -signal.SIGKILL
    assert runc("state", cid).returncode == 1
    assert not (runc.root / cid).exists()


def test_wrong_argument_count(runc):
    r = runc("state")
    assert r.returncode == 1
    assert r.stderr.strip() == '"state" requires exactly 1 argument(s)', r
    r = runc("state", "a", "b")
    assert r.returncode == 1 and "requires exactly 1 argument" in r.stderr


def test_create_failure_leaves_nothing(runc):
    cid = new_id()
    b = runc.bundle(cid, runc.config(["/no/such/program"], cid))
    r = runc.create(cid, b, check=False)
    assert r.returncode == 1
    assert r.err.startswith("runc create failed: "), r.err
    assert runc("state", cid).returncode == 1
    assert not (runc.root / cid).exists()
    assert not cgroup_dirs(runc.cgroup_of(cid)), "create failed but left its cgroup"


def test_log_json_error_line(runc):
    log = runc.work / "log.json"
    r = runc("state", "no-such-ctr", glob=("--log", log, "--log-format", "json"))
    assert r.returncode == 1
    assert "container does not exist" in r.stderr
    lines = log.read_text().splitlines()
    assert len(lines) == 1, lines
    entry = json.loads(lines[0])
    assert entry["level"] == "error"
    assert entry["msg"] == "container does not exist"
    if "time" in entry:  # containerd decodes it as RFC 3339
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
                            entry["time"]), entry
    # appended, never truncated; the form with '=' as podman writes it
    r = runc("kill", "no-such-ctr", "9", glob=("--log-format=json", f"--log={log}"))
    assert r.returncode == 1
    lines = log.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["msg"] == "container does not exist"
    # a successful command writes no error
    runc.ok("list", glob=("--log", log, "--log-format", "json"))
    assert len(log.read_text().splitlines()) == 2


# --------------------------------------------------------------------------------------------
# direct CLI: console socket


def test_console_socket_receives_pty_master(runc):
    cid = new_id()
    cfg = runc.config(["sh"], cid, terminal=True)
    cfg["process"]["env"] = ["PATH=/bin", "TERM=dumb", "PS1=$ "]
    b = runc.bundle(cid, cfg)
    sock_path = runc.work / "console.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    master = None
    try:
        srv.bind(str(sock_path))
        srv.listen(1)
        srv.settimeout(DEADLINE)
        r = runc.create(cid, b, "--console-socket", sock_path)
        conn, _ = srv.accept()
        with conn:
            conn.settimeout(DEADLINE)
            msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 4)
        assert msg, "the console message has no payload"
        assert len(fds) == 1, f"expected exactly one fd, got {fds}"
        master = fds[0]
        assert os.isatty(master)
        pid = runc.state(cid)["pid"]
        runc.ok("start", cid)

        os.write(master, b"tty; echo $((6*7))-done\n")
        out = b""
        deadline = time.monotonic() + DEADLINE
        while b"42-done" not in out:
            left = deadline - time.monotonic()
            assert left > 0, f"no answer on the pty: {out!r}"
            rd, _, _ = select.select([master], [], [], left)
            if rd:
                try:
                    out += os.read(master, 4096)
                except OSError:
                    break
        text = out.decode(errors="replace")
        assert re.search(r"/dev/pts/\d+", text), text
        assert "42-done" in text
        os.write(master, b"exit 5\n")
        assert wait_exit(pid) == 5
        assert r.returncode == 0
    finally:
        srv.close()
        if master is not None:
            os.close(master)


def test_terminal_without_console_socket_fails(runc):
    cid = new_id()
    b = runc.bundle(cid, runc.config(["sh"], cid, terminal=True))
    r = runc.create(cid, b, check=False)
    assert r.returncode == 1
    assert "cannot allocate tty if runc will detach without setting console socket" in r.err


# --------------------------------------------------------------------------------------------
# direct CLI: what the config asks for inside the container


def test_namespaces_joined_by_path(runc):
    a = new_id("a")
    cfg_a = runc.config(["sleep", "1000"], a)
    cfg_a["hostname"] = "alpha-host"
    runc.create(a, runc.bundle(a, cfg_a))
    pid_a = runc.state(a)["pid"]

    b = new_id("b")
    cfg_b = runc.config(["sh", "-c", "hostname; readlink /proc/self/ns/net; "
                                     "readlink /proc/self/ns/uts"], b)
    cfg_b.pop("hostname", None)
    cfg_b["linux"]["namespaces"] = [
        {"type": "pid"}, {"type": "mount"}, {"type": "ipc"},
        {"type": "uts", "path": f"/proc/{pid_a}/ns/uts"},
        {"type": "network", "path": f"/proc/{pid_a}/ns/net"},
    ]
    r = runc.run(b, None, cfg_b)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "alpha-host", r.stdout
    assert lines[1] == os.readlink(f"/proc/{pid_a}/ns/net")
    assert lines[2] == os.readlink(f"/proc/{pid_a}/ns/uts")
    assert lines[1] != os.readlink("/proc/self/ns/net")


def test_hostname_and_new_namespaces(runc):
    cid = new_id()
    cfg = runc.config(["sh", "-c", "hostname; echo $$; readlink /proc/self/ns/net"], cid)
    cfg["hostname"] = "box-e2e"
    r = runc.run(cid, None, cfg)
    assert r.returncode == 0, r.stderr
    host, pid, net = r.stdout.splitlines()
    assert host == "box-e2e"
    assert pid == "1", "the process is not PID 1 of a new pid namespace"
    assert net != os.readlink("/proc/self/ns/net")
    assert socket.gethostname() != "box-e2e"


def test_readonly_root(runc):
    cid = new_id()
    r = runc.run(cid, ["sh", "-c", "touch /x 2>&1; echo rc=$?; touch /tmp/ok && echo tmp-ok"])
    assert r.returncode == 0, r.stderr
    assert "Read-only file system" in r.stdout and "rc=1" in r.stdout, r.stdout
    assert "tmp-ok" in r.stdout, "the tmpfs on /tmp should stay writable"
    assert not (runc.rootfs / "x").exists()


def test_masked_and_readonly_paths(runc):
    """Masked files read empty (/dev/null over them), masked directories are empty; /proc/kcore
    is masked where the kernel has it. readonlyPaths are read-only mounts."""
    cid = new_id()
    cfg = runc.config(["sh", "-c", "for f in /proc/kcore /proc/keys /proc/timer_list "
                                   "/proc/version; do [ -e $f ] && echo $f $(wc -c < $f); done; "
                                   "echo dir $(ls -A /proc/acpi | wc -l)"
                                   "$(ls -A /sys/firmware | wc -l); "
                                   "cat /proc/self/mountinfo"], cid)
    cfg["linux"]["maskedPaths"].append("/proc/version")
    assert "/proc/kcore" in cfg["linux"]["maskedPaths"]
    r = runc.run(cid, None, cfg)
    assert r.returncode == 0, r.stderr
    sizes = {}
    mounts = {}
    for line in r.stdout.splitlines():
        f = line.split()
        if f[0].startswith("/proc/") or f[0] == "dir":
            sizes[f[0]] = f[1]
        elif len(f) > 5:
            mounts[f[4]] = f[5].split(",")
    assert sizes.get("/proc/version") == "0", sizes
    for path in ("/proc/kcore", "/proc/keys", "/proc/timer_list"):
        if os.path.exists(path):
            assert sizes.get(path) == "0", f"{path} is not masked: {sizes}"
            assert path in mounts, f"no mount over {path}"
    assert sizes.get("dir") == "00", f"masked directories are not empty: {r.stdout[:300]}"
    assert "/proc/sys" in mounts and "ro" in mounts["/proc/sys"], mounts.get("/proc/sys")
    assert "ro" in mounts["/"], f"root not read-only: {mounts['/']}"


def test_rlimit_nofile(runc):
    cid = new_id()
    cfg = runc.config(["sh", "-c", "ulimit -n; ulimit -Hn"], cid)
    cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 777, "hard": 1024}]
    r = runc.run(cid, None, cfg)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["777", "1024"]


CAP_NUMBERS = {"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3, "CAP_KILL": 5,
               "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_NET_BIND_SERVICE": 10,
               "CAP_AUDIT_WRITE": 29}


def test_capabilities_dropped(runc):
    script = ("touch /tmp/x; chown 1 /tmp/x 2>&1; echo rc=$?; "
              "grep -E '^Cap(Eff|Prm|Bnd):' /proc/self/status")
    cid = new_id()
    cfg = runc.config(["sh", "-c", script], cid)
    caps = cfg["process"]["capabilities"]["effective"]
    assert "CAP_CHOWN" not in caps
    r = runc.run(cid, None, cfg)
    assert r.returncode == 0, r.stderr
    assert "rc=1" in r.stdout and "Operation not permitted" in r.stdout, r.stdout
    want = sum(1 << CAP_NUMBERS[c] for c in caps)
    status = dict(line.split(":\t") for line in r.stdout.splitlines() if line.startswith("Cap"))
    assert int(status["CapEff"], 16) == want, status
    assert int(status["CapPrm"], 16) == want, status
    assert int(status["CapBnd"], 16) == sum(
        1 << CAP_NUMBERS[c] for c in cfg["process"]["capabilities"]["bounding"]), status

    # the same with CAP_CHOWN granted works
    cid2 = new_id()
    cfg2 = runc.config(["sh", "-c", script], cid2)
    for k in ("bounding", "effective", "permitted"):
        cfg2["process"]["capabilities"][k].append("CAP_CHOWN")
    r = runc.run(cid2, None, cfg2)
    assert r.returncode == 0 and "rc=0" in r.stdout, r.stdout + r.stderr


def test_user_switching(runc):
    """A container whose process.user is not root, without CAP_DAC_OVERRIDE (as with `sprite-runc
    spec`'s capabilities), starts: the init, already switched to its user, must still be able to
    open the exec fifo for writing (made 0622 and owned by the container's root, as runc does)."""
    cid = new_id()
    cfg = runc.config(["sh", "-c", "id; touch /tmp/f && stat -c %u:%g /tmp/f"], cid)
    cfg["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [1001]}
    r = runc.run(cid, None, cfg)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("uid=1000 gid=1000"), lines[0]
    assert "1001" in lines[0], f"additional gid missing: {lines[0]}"
    assert lines[1] == "1000:1000"


def test_user_namespace_with_mappings(runc):
    """A new user namespace with uid/gid mappings: the process is root inside, its ids map to
    the host range given, and host files whose owner is not mapped show as the overflow id."""
    cid = new_id()
    cfg = runc.config(["sh", "-c", "id; cat /proc/self/uid_map /proc/self/gid_map; "
                       "stat -c %u /bin/busybox"], cid)
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    # a fresh sysfs needs a network namespace owned by the user namespace: keep it simple
    cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/sys"]
    r = runc.run(cid, None, cfg)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("uid=0(root) gid=0(root)") or lines[0].startswith("uid=0 gid=0"), \
        lines
    assert lines[1].split() == ["0", "200000", "65536"], lines
    assert lines[2].split() == ["0", "200000", "65536"], lines
    assert lines[3] == "65534", lines


@pytest.mark.parametrize("how", ["root-path", "annotation"])
def test_host_root_overlay_protects_the_host(runc, how):
    """Host-root mode: the process sees the host's own files (here /etc/debian_version), and
    what it writes, even over a host file, never reaches the host."""
    cid = new_id()
    marker = f"/etc/sprite-e2e-{cid}"
    script = (f"cat /etc/debian_version; echo changed > {marker}; cat {marker}; "
              "echo clobbered >> /etc/debian_version && echo appended")
    cfg = runc.config(["/bin/sh", "-c", script], cid, tmp=False)
    cfg["process"]["env"] = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
    if how == "root-path":
        cfg["root"] = {"path": "/", "readonly": False}
    else:
        cfg["root"] = {"path": str(runc.rootfs), "readonly": False}
        cfg["annotations"] = {"run.sprite.host-root": "true"}
    before = open("/etc/debian_version").read()
    r = runc.run(cid, None, cfg)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines == [before.strip(), "changed", "appended"], lines
    assert not os.path.exists(marker)
    assert open("/etc/debian_version").read() == before


def test_cgroup_limits_applied_and_removed(runc):
    cid = new_id()
    cfg = runc.config(["sleep", "1000"], cid)
    cfg["linux"]["resources"].update({"memory": {"limit": 64 * MIB},
                                      "pids": {"limit": 100},
                                      "cpu": {"shares": 512}})
    b = runc.bundle(cid, cfg)
    runc.create(cid, b)
    pid = runc.state(cid)["pid"]
    rel = runc.cgroup_of(cid).strip("/")
    mem = CGROUP_ROOT / "memory" / rel
    if not (CGROUP_ROOT / "memory").is_dir():
        pytest.skip("no cgroup v1 memory hierarchy on this host")
    assert int((mem / "memory.limit_in_bytes").read_text()) == 64 * MIB
    assert (CGROUP_ROOT / "pids" / rel / "pids.max").read_text().strip() == "100"
    assert (CGROUP_ROOT / "cpu" / rel / "cpu.shares").read_text().strip() == "512"
    assert str(pid) in (mem / "cgroup.procs").read_text().split()
    assert f":memory:/{rel}" in Path(f"/proc/{pid}/cgroup").read_text()
    runc.ok("start", cid)
    runc.ok("delete", "--force", cid)
    assert wait_exit(pid) == -signal.SIGKILL
    assert not cgroup_dirs(runc.cgroup_of(cid)), "cgroup directories survived delete"


def test_no_leaked_mounts_or_cgroups_after_delete(runc):
    cids = [new_id() for _ in range(3)]
    pids = []
    for cid in cids:
        b, pid = runc.create_started(cid, ["sleep", "1000"])
        pids.append(pid)
    leaked = mounts_mentioning(runc.work, runc.rootfs)
    assert not leaked, f"container mounts visible on the host: {leaked}"
    for cid in cids:
        runc.ok("delete", "--force", cid)
    for pid in pids:
        assert wait_exit(pid) == -signal.SIGKILL
    assert not mounts_mentioning(runc.work, runc.rootfs)
    assert not cgroup_dirs(runc.cg_prefix + "/" + cids[0])
    left = [d for cid in cids for d in cgroup_dirs(runc.cgroup_of(cid))]
    assert not left, left
    assert not any((runc.root / cid).exists() for cid in cids)


def test_default_devices_usable_with_deny_all_rule(runc):
    """With linux.resources.devices = [deny all] (what `sprite-runc spec` writes, and all that
    podman 4.3 sends), the default devices must still work, as in runc (specconv's
    AllowedDevices: null, zero, full, random, urandom, tty, console, ptmx, pts/*). This was a
    runtime bug ("sh: can't create /dev/null: Operation not permitted") until ea0113b."""
    cid = new_id()
    cfg = runc.config(["sh", "-c", "echo x > /dev/null && head -c 4 /dev/zero | wc -c"], cid)
    cfg["linux"]["resources"] = json.loads(json.dumps(runc.spec["linux"]["resources"]))
    assert cfg["linux"]["resources"]["devices"] == [{"allow": False, "access": "rwm"}]
    r = runc.run(cid, None, cfg)
    assert r.returncode == 0 and r.stdout.strip() == "4", \
        f"exit {r.returncode}, stdout {r.stdout!r}, stderr {r.stderr!r}"


# --------------------------------------------------------------------------------------------
# direct CLI: hooks


HOOK_SCRIPT = """#!/bin/sh
cat > "$HOOK_DIR/$1.json"
echo "$1 $HOOK_MARK" >> "$HOOK_DIR/order"
exit "${2:-0}"
"""


def hooks_setup(runc, cid, cfg):
    """hookdir with a host hook script; the dir is also bind-mounted on /mnt in the container
    (for startContainer, which runs inside it, and the user program)."""
    hookdir = runc.work / f"hooks-{cid}"
    hookdir.mkdir()
    os.chmod(hookdir, 0o777)
    script = hookdir / "hook.sh"
    script.write_text(HOOK_SCRIPT)
    os.chmod(script, 0o755)
    env = [f"HOOK_DIR={hookdir}", "HOOK_MARK=env-ok", "PATH=/usr/bin:/bin"]
    cfg["mounts"].append({"destination": "/mnt", "type": "bind", "source": str(hookdir),
                          "options": ["rbind", "rw"]})
    return hookdir, script, env


def test_hooks_order_and_state(runc):
    cid = new_id()
    cfg = runc.config(["sh", "-c", "echo user >> /mnt/order; exec sleep 1000"], cid)
    hookdir, script, env = hooks_setup(runc, cid, cfg)
    host = {k: [{"path": str(script), "args": ["hook.sh", k], "env": env, "timeout": 10}]
            for k in ("prestart", "createRuntime", "createContainer", "poststart", "poststop")}
    host["startContainer"] = [{"path": "/bin/sh", "args": [
        "sh", "-c", "cat > /mnt/startContainer.json; echo startContainer $HOOK_MARK >> "
                    "/mnt/order"], "env": ["HOOK_MARK=env-ok"]}]
    cfg["hooks"] = host
    b = runc.bundle(cid, cfg)
    order = hookdir / "order"

    def seen():
        return [line.split()[0] for line in read_lines(order)]

    runc.create(cid, b)
    pid = runc.state(cid)["pid"]
    assert seen() == ["prestart", "createRuntime", "createContainer"]
    assert all(line.endswith(" env-ok") for line in read_lines(order)), read_lines(order)
    for kind in ("prestart", "createRuntime", "createContainer"):
        st = json.loads((hookdir / f"{kind}.json").read_text())
        assert st["id"] == cid and st["pid"] == pid, (kind, st)
        assert st["bundle"] == os.path.realpath(b), (kind, st)
        assert st["status"] == "creating", (kind, st)

    runc.ok("start", cid)
    wait_for(lambda: {"startContainer", "poststart", "user"} <= set(seen()),
             what="startContainer, poststart and the user program")
    got = seen()
    assert got.index("startContainer") < got.index("user"), \
        f"startContainer must run before the user program: {got}"
    assert len(got) == 6, got
    for kind in ("startContainer", "poststart"):
        st = json.loads((hookdir / f"{kind}.json").read_text())
        assert st["id"] == cid and st["pid"] == pid, (kind, st)
        assert st["status"] == "running", (kind, st)

    runc.ok("kill", cid, "KILL")
    assert wait_exit(pid) == -signal.SIGKILL
    runc.wait_status(cid, "stopped")
    assert "poststop" not in seen()
    runc.ok("delete", cid)
    assert seen()[-1] == "poststop" and len(seen()) == 7, seen()
    st = json.loads((hookdir / "poststop.json").read_text())
    assert st["id"] == cid and st["status"] == "stopped", st


def test_failing_create_runtime_hook_fails_create(runc):
    cid = new_id()
    cfg = runc.config(["sleep", "1000"], cid)
    hookdir, script, env = hooks_setup(runc, cid, cfg)
    cfg["hooks"] = {
        "createRuntime": [{"path": str(script), "args": ["hook.sh", "createRuntime", "3"],
                           "env": env}],
        "createContainer": [{"path": str(script), "args": ["hook.sh", "createContainer"],
                             "env": env}],
    }
    r = runc.create(cid, runc.bundle(cid, cfg), check=False)
    assert r.returncode == 1
    assert "createRuntime" in r.err and "3" in r.err, r.err
    assert [line.split()[0] for line in read_lines(hookdir / "order")] == ["createRuntime"]
    assert runc("state", cid).returncode == 1
    assert not cgroup_dirs(runc.cgroup_of(cid))


def read_lines(path):
    try:
        return Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []


# --------------------------------------------------------------------------------------------
# direct CLI: exec, pause/resume, ps, update


def test_exec_exit_code_output_env_cwd(runc):
    cid = new_id()
    runc.create_started(cid, ["sleep", "1000"])
    r = runc("exec", cid, "sh", "-c", "echo in-container; exit 7")
    assert r.returncode == 7, r
    assert r.stdout == "in-container\n"
    r = runc("exec", "--cwd", "/tmp", "--env", "E2E=val", cid, "sh", "-c", 'echo "$E2E $PWD"')
    assert r.returncode == 0 and r.stdout == "val /tmp\n", r
    proc = dict(runc.spec["process"], terminal=False,
                args=["sh", "-c", 'echo "$FOO $(pwd) $(id -u)"'],
                env=["PATH=/bin", "FOO=from-process-file"], cwd="/tmp",
                user={"uid": 1000, "gid": 1000})
    pf = runc.work / "process.json"
    pf.write_text(json.dumps(proc))
    r = runc("exec", "--process", pf, cid)
    assert r.returncode == 0, r
    assert r.stdout == "from-process-file /tmp 1000\n"


def test_exec_in_namespaces_of_container(runc):
    cid = new_id()
    cfg = runc.config(["sleep", "1000"], cid)
    cfg["hostname"] = "exec-host"
    b = runc.bundle(cid, cfg)
    runc.create(cid, b)
    runc.ok("start", cid)
    pid = runc.state(cid)["pid"]
    r = runc("exec", cid, "sh", "-c", "hostname; readlink /proc/self/ns/pid; readlink "
                                      "/proc/self/ns/mnt; cat /proc/1/comm")
    assert r.returncode == 0, r
    host, pidns, mntns, comm1 = r.stdout.splitlines()
    assert host == "exec-host"
    assert pidns == os.readlink(f"/proc/{pid}/ns/pid")
    assert mntns == os.readlink(f"/proc/{pid}/ns/mnt")
    assert comm1 == "sleep"


def test_exec_detach_pid_file(runc):
    cid = new_id()
    runc.create_started(cid, ["sleep", "1000"])
    init = runc.state(cid)["pid"]
    pf = runc.work / "exec.pid"
    r = runc("exec", "--detach", "--pid-file", pf, cid, "sleep", "999",
             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert r.returncode == 0
    raw = pf.read_bytes()
    assert re.fullmatch(rb"[1-9][0-9]*", raw), raw
    pid = int(raw)
    runc.track(pid)
    wait_for(lambda: proc_comm(pid) == "sleep", what="the exec'd sleep")
    assert os.readlink(f"/proc/{pid}/ns/pid") == os.readlink(f"/proc/{init}/ns/pid")
    rel = runc.cgroup_of(cid).strip("/")
    assert f":memory:/{rel}" in Path(f"/proc/{pid}/cgroup").read_text()
    pids = json.loads(runc.ok("ps", "--format", "json", cid).stdout)
    assert sorted(pids) == sorted([init, pid])
    os.kill(pid, signal.SIGKILL)
    assert wait_exit(pid) == -signal.SIGKILL


def test_exec_into_stopped_container_fails(runc):
    cid = new_id()
    b = runc.bundle(cid, runc.config(["true"], cid))
    runc.create(cid, b)
    pid = runc.state(cid)["pid"]
    runc.ok("start", cid)
    assert wait_exit(pid) == 0
    runc.wait_status(cid, "stopped")
    r = runc("exec", cid, "true")
    assert r.returncode == 1 and r.stderr.strip(), r


def test_pause_resume(runc):
    cid = new_id()
    _, pid = runc.create_started(cid, ["sleep", "1000"])
    rel = runc.cgroup_of(cid).strip("/")
    freezer = CGROUP_ROOT / "freezer" / rel / "freezer.state"
    runc.ok("pause", cid)
    assert runc.status(cid) == "paused"
    if freezer.exists():
        assert freezer.read_text().strip() == "FROZEN"
    r = runc("pause", cid)
    assert r.returncode == 1, "pausing a paused container should fail"
    runc.ok("resume", cid)
    assert runc.status(cid) == "running"
    if freezer.exists():
        assert freezer.read_text().strip() == "THAWED"
    # a paused container is still killed by delete --force
    runc.ok("pause", cid)
    runc.ok("delete", "--force", cid)
    assert wait_exit(pid) == -signal.SIGKILL


def test_ps_json(runc):
    cid = new_id()
    b = runc.bundle(cid, runc.config(["sh", "-c", "sleep 1000 & sleep 999 & wait"], cid))
    runc.create(cid, b)
    pid = runc.state(cid)["pid"]
    r = runc.ok("ps", "--format", "json", cid)
    assert json.loads(r.stdout) == [pid]
    runc.ok("start", cid)
    pids = wait_for(lambda: (lambda p: p if len(p) == 3 else None)(
        json.loads(runc.ok("ps", "--format", "json", cid).stdout)), what="3 processes")
    assert pid in pids and all(isinstance(p, int) for p in pids)
    procs = CGROUP_ROOT / "memory" / runc.cgroup_of(cid).strip("/") / "cgroup.procs"
    assert sorted(pids) == sorted(int(p) for p in procs.read_text().split())


def test_update_resources(runc):
    cid = new_id()
    cfg = runc.config(["sleep", "1000"], cid)
    cfg["linux"]["resources"]["memory"] = {"limit": 64 * MIB}
    runc.create(cid, runc.bundle(cid, cfg))
    runc.ok("start", cid)
    rel = runc.cgroup_of(cid).strip("/")
    limit = CGROUP_ROOT / "memory" / rel / "memory.limit_in_bytes"
    assert int(limit.read_text()) == 64 * MIB
    f = runc.work / "res.json"
    f.write_text(json.dumps({"memory": {"limit": 128 * MIB}}))
    runc.ok("update", "--resources", f, cid)
    assert int(limit.read_text()) == 128 * MIB
    # from stdin, as containerd sends it
    runc.ok("update", "--resources", "-", cid, input=json.dumps({"pids": {"limit": 50}}))
    assert (CGROUP_ROOT / "pids" / rel / "pids.max").read_text().strip() == "50"
    assert int(limit.read_text()) == 128 * MIB


# --------------------------------------------------------------------------------------------
# containerd (ctr), with its own daemon


class Containerd:
    def __init__(self, work, rootfs, env):
        self.work = work
        self.rootfs = rootfs
        self.env = env
        self.sock = work / "c.sock"
        self.ns = f"sprite-e2e-{secrets.token_hex(4)}"
        self.proc = None
        self.ids = []

    def start(self):
        cfg = f"""version = 2
root = "{self.work}/root"
state = "{self.work}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{self.sock}"
[ttrpc]
  address = "{self.sock}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{self.work}/opt"
"""
        (self.work / "config.toml").write_text(cfg)
        self.log = open(self.work / "containerd.log", "wb")
        self.proc = subprocess.Popen(["containerd", "--config", str(self.work / "config.toml")],
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=self.env,
                                     start_new_session=True)

        def up():
            if self.proc.poll() is not None:
                pytest.fail("containerd exited: " + (self.work / "containerd.log").read_text())
            return self.sock.exists() and self.ctr("version").returncode == 0
        wait_for(up, interval=0.05, what="containerd to listen")

    def ctr(self, *args, timeout=None, **kw):
        cmd = ["ctr", "--address", str(self.sock), "-n", self.ns, *[str(a) for a in args]]
        try:
            return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=DEADLINE if timeout is None else timeout,
                                  env=self.env, **kw)
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"{cmd} did not exit in time: {e.stdout!r} {e.stderr!r}")

    def run_args(self, cid, *opts):
        self.ids.append(cid)
        return ["run", "--runc-binary", str(RUNC), *opts, "--rootfs", str(self.rootfs), cid]

    def task_status(self, cid):
        for line in self.ctr("task", "ls").stdout.splitlines()[1:]:
            f = line.split()
            if f and f[0] == cid:
                return f[2], int(f[1])
        return None, None

    def remove(self, cid):
        if self.task_status(cid)[0] is not None:
            self.ctr("task", "kill", "-s", "SIGKILL", cid)
            wait_for(lambda: self.task_status(cid)[0] in ("STOPPED", None),
                     what=f"task {cid} to stop")
            self.ctr("task", "delete", cid)
        self.ctr("container", "rm", cid)

    def shims(self):
        out = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                cmd = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(b"containerd-shim" in c for c in cmd[:1]) and str(self.sock).encode() in cmd:
                out.append(int(name))
        return out

    def stop(self):
        problems = []
        if self.proc and self.proc.poll() is None:
            for cid in self.ids:
                self.remove(cid)
            left = self.ctr("container", "ls", "-q").stdout.split()
            if left:
                problems.append(f"containers left in {self.ns}: {left}")
            self.proc.terminate()
            try:
                self.proc.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shims = self.shims()
        if shims:
            problems.append(f"shims left: {shims}")
            for p in shims:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            reap_ours(shims)
        if remove_cgroup_tree("/" + self.ns):
            problems.append(f"cgroup /{self.ns} could not be removed")
        shutil.rmtree(f"/run/containerd/runc/{self.ns}", ignore_errors=True)
        for cid in self.ids:  # the shim's socket: sha256(address/ns/id) (containerd 1.6)
            h = hashlib.sha256(os.path.join(str(self.sock), self.ns, cid).encode()).hexdigest()
            try:
                os.unlink(f"/run/containerd/s/{h}")
            except FileNotFoundError:
                pass
        for line in mounts_mentioning(self.work):
            subprocess.run(["umount", "-l", line.split()[4]], capture_output=True)
        self.log.close()
        shutil.rmtree(self.work, ignore_errors=True)
        reap_zombie_children()
        return problems


@pytest.fixture(scope="module")
def containerd(busybox_rootfs, asan_dir):
    if not shutil.which("containerd") or not shutil.which("ctr"):
        pytest.fail("Debian's containerd is not installed")
    work = Path(tempfile.mkdtemp(prefix="sprite-ctrd-"))
    rootfs = work / "rootfs"
    shutil.copytree(busybox_rootfs, rootfs, symlinks=True)
    c = Containerd(work, rootfs, runtime_env(asan_dir))
    c.start()
    yield c
    problems = c.stop()
    problems += asan_reports(asan_dir)
    assert not problems, "containerd cleanup: " + "; ".join(problems)


def test_ctr_run_echo_and_exit_code(containerd):
    cid = new_id("ctr")
    r = containerd.ctr(*containerd.run_args(cid, "--rm"), "/bin/sh", "-c", "echo hi; exit 3")
    assert r.stdout == "hi\n", r
    assert r.returncode == 3, r


def test_ctr_run_tty(containerd):
    cid = new_id("ctr")
    cmd = ["ctr", "--address", str(containerd.sock), "-n", containerd.ns,
           *containerd.run_args(cid, "--rm", "-t"), "/bin/sh", "-c", "tty; exit 4"]
    r = run_under_script(cmd, containerd.env)
    assert re.search(r"^(\^@)?/dev/pts/\d+\r?$", r.stdout, re.M), r
    assert r.returncode == 4, r


def test_ctr_kill_term(containerd):
    cid = new_id("ctr")
    cmd = ["ctr", "--address", str(containerd.sock), "-n", containerd.ns,
           *containerd.run_args(cid, "--rm"), "/bin/sh", "-c",
           'trap "exit 42" TERM; echo ready; sleep 1000 & wait']
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=containerd.env)
    try:
        ready = [None]

        def read_ready():
            rd, _, _ = select.select([p.stdout], [], [], 0.05)
            if rd:
                ready[0] = p.stdout.readline()
            return ready[0] is not None
        wait_for(read_ready, what="the container to start")
        assert ready[0] == "ready\n"
        assert containerd.task_status(cid)[0] == "RUNNING"
        r = containerd.ctr("task", "kill", cid)  # SIGTERM
        assert r.returncode == 0, r
        assert p.wait(DEADLINE) == 42
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()


def test_ctr_task_exec_ps_pause_resume_kill(containerd):
    cid = new_id("ctr")
    r = containerd.ctr(*containerd.run_args(cid, "-d"), "/bin/sleep", "1000")
    assert r.returncode == 0, r
    status, pid = containerd.task_status(cid)
    assert status == "RUNNING"

    r = containerd.ctr("task", "exec", "--exec-id", "e1", cid, "/bin/sh", "-c",
                       "echo exec-ok; exit 6")
    assert r.stdout == "exec-ok\n", r
    assert r.returncode == 6, r

    r = containerd.ctr("task", "ps", cid)
    assert r.returncode == 0, r
    assert [int(line.split()[0]) for line in r.stdout.splitlines()[1:]] == [pid], r.stdout

    r = containerd.ctr("task", "pause", cid)
    assert r.returncode == 0, r
    assert containerd.task_status(cid)[0] == "PAUSED"
    r = containerd.ctr("task", "resume", cid)
    assert r.returncode == 0, r
    assert containerd.task_status(cid)[0] == "RUNNING"

    r = containerd.ctr("task", "kill", "-s", "SIGKILL", cid)
    assert r.returncode == 0, r
    wait_for(lambda: containerd.task_status(cid)[0] == "STOPPED", what="the task to stop")
    r = containerd.ctr("task", "delete", cid)
    assert r.returncode == 0, r
    r = containerd.ctr("container", "rm", cid)
    assert r.returncode == 0, r
    assert not alive(pid)
    assert not cgroup_dirs(f"/{containerd.ns}/{cid}")
    assert not (Path(f"/run/containerd/runc/{containerd.ns}") / cid).exists()


def test_ctr_memory_limit_kills(containerd):
    cid = new_id("ctr")
    r = containerd.ctr(*containerd.run_args(cid, "--rm", "--memory-limit", str(32 * MIB)),
                       "/bin/sh", "-c",
                       'x=$(head -c 64000000 /dev/zero | tr "\\0" a); echo survived',
                       timeout=3 * DEADLINE)
    assert "survived" not in r.stdout, r
    assert r.returncode == 137, r


# --------------------------------------------------------------------------------------------
# podman 4.3, with private storage


class Podman:
    def __init__(self, work, rootfs, env):
        self.work = work
        self.rootfs = rootfs
        self.cg_parent = f"/sprite-e2e-{secrets.token_hex(4)}"
        conf = work / "containers.conf"
        conmon_env = [f"PATH={os.environ.get('PATH', '/usr/bin:/bin')}"]
        # conmon runs `create` and `exec` with these; podman runs start/kill/delete itself
        # with a minimal environment (a sanitizer report then fails the podman command)
        for k in ("ASAN_OPTIONS", "LSAN_OPTIONS"):
            if env.get(k):
                conmon_env.append(f"{k}={env[k]}")
        conf.write_text(f"""[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{work}/events.log"
conmon_env_vars = {json.dumps(conmon_env)}
runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "sprite-runc"]
""")
        self.env = dict(env, CONTAINERS_CONF=str(conf))
        self.env.pop("XDG_RUNTIME_DIR", None)
        self.global_args = ["--root", str(work / "root"), "--runroot", str(work / "runroot"),
                            "--tmpdir", str(work / "tmp"), "--storage-driver", "vfs",
                            "--runtime", str(RUNC), "--cgroup-manager", "cgroupfs",
                            "--events-backend", "file"]
        self.run_opts = ["--network", "none", "--ulimit", "nofile=1024:1024",
                         "--ulimit", "nproc=1024:1024", "--security-opt", "seccomp=unconfined",
                         "--cgroup-parent", self.cg_parent]
        self.names = []

    def __call__(self, *args, timeout=None):
        cmd = ["podman", *self.global_args, *[str(a) for a in args]]
        try:
            return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, env=self.env,
                                  timeout=DEADLINE if timeout is None else timeout)
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"{cmd} did not exit in time: {e.stdout!r} {e.stderr!r}")

    def run_args(self, name, *opts):
        self.names.append(name)
        return ["run", "--name", name, *opts, *self.run_opts, "--rootfs", str(self.rootfs)]

    def container_id(self, name):
        r = self("inspect", "--format", "{{.Id}}", name)
        assert r.returncode == 0, r
        return r.stdout.strip()

    def helpers(self):
        """conmon and podman processes working on our storage (conmon's exit command is a
        `podman container cleanup` that runs after the container ended)."""
        out = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                cmd = Path(f"/proc/{name}/cmdline").read_bytes()
            except OSError:
                continue
            if str(self.work).encode() in cmd and alive(int(name)):
                out.append(int(name))
        return out

    def cleanup(self):
        problems = []
        for n in self.names:
            self("rm", "--force", "--time", "0", n)
        left = self("ps", "-a", "--format", "{{.Names}}").stdout.split()
        if left:
            problems.append(f"podman containers left: {left}")
        deadline = time.monotonic() + DEADLINE
        while self.helpers() and time.monotonic() < deadline:
            reap_zombie_children()
            time.sleep(0.01)
        conmons = self.helpers()
        if conmons:
            problems.append(f"conmon/podman processes left: {conmons}")
            for p in conmons:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            reap_ours(conmons)
        if remove_cgroup_tree(self.cg_parent):
            problems.append(f"cgroup {self.cg_parent} could not be removed")
        for line in reversed(mounts_mentioning(self.work)):
            subprocess.run(["umount", "-l", line.split()[4]], capture_output=True)
        shutil.rmtree(self.work, ignore_errors=True)
        reap_zombie_children()
        return problems


@pytest.fixture(scope="module")
def podman(busybox_rootfs, asan_dir):
    if not shutil.which("podman") or not shutil.which("conmon"):
        pytest.fail("Debian's podman (and conmon) is not installed")
    work = Path(tempfile.mkdtemp(prefix="sprite-podman-"))
    os.chmod(work, 0o755)
    rootfs = work / "rootfs"  # podman writes /etc/hosts etc. into a --rootfs: a copy of ours
    shutil.copytree(busybox_rootfs, rootfs, symlinks=True)
    p = Podman(work, rootfs, runtime_env(asan_dir))
    lock = Path("/dev/shm/libpod_lock")  # podman's shared lock segment, made on first use
    lock_existed = lock.exists()
    state_root = Path("/run/sprite-runc")  # the runtime's default --root, which podman uses
    state_root_existed = state_root.exists()
    yield p
    problems = p.cleanup()
    if not state_root_existed:
        try:
            state_root.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            problems.append(f"runtime state left in {state_root}: {os.listdir(state_root)}")
    if not lock_existed and not any(proc_comm(int(n)) in ("podman", "conmon")
                                    for n in os.listdir("/proc") if n.isdigit()):
        lock.unlink(missing_ok=True)
    problems += asan_reports(asan_dir)
    assert not problems, "podman cleanup: " + "; ".join(problems)


def runtime_state_dir(podman, name):
    """podman calls the runtime without --root: the state is in /run/sprite-runc/<id>."""
    return Path("/run/sprite-runc") / podman.container_id(name)


def test_podman_run_echo_and_exit_code(podman):
    name = new_id("pm")
    r = podman(*podman.run_args(name, "--rm"), "/bin/sh", "-c", "echo hi; exit 3")
    assert r.stdout == "hi\n", r
    assert r.returncode == 3, r


def test_podman_run_tty(podman):
    """podman 4.3 sends only a deny-all device rule: the runtime must still allow /dev/ptmx
    (see test_default_devices_usable_with_deny_all_rule)."""
    name = new_id("pm")
    cmd = ["podman", *podman.global_args, *podman.run_args(name, "--rm", "-it"),
           "/bin/sh", "-c", "tty; exit 5"]
    r = run_under_script(cmd, podman.env)
    assert re.search(r"^(\^@)?/dev/pts/\d+\r?$", r.stdout, re.M), r
    assert r.returncode == 5, r


def test_podman_exec(podman):
    name = new_id("pm")
    r = podman(*podman.run_args(name, "-d"), "/bin/sleep", "1000")
    assert r.returncode == 0, r
    r = podman("exec", name, "/bin/sh", "-c", "echo exec-ok; exit 6")
    assert r.stdout == "exec-ok\n", r
    assert r.returncode == 6, r
    r = podman("exec", name, "/bin/cat", "/proc/1/comm")
    assert r.returncode == 0 and r.stdout == "sleep\n", r
    assert podman("rm", "--force", "--time", "0", name).returncode == 0


def test_podman_stop_kills_after_timeout(podman):
    """busybox sleep as PID 1 ignores SIGTERM: stop -t 1 must end it with SIGKILL."""
    name = new_id("pm")
    r = podman(*podman.run_args(name, "-d"), "/bin/sleep", "1000")
    assert r.returncode == 0, r
    r = podman("inspect", "--format", "{{.State.Pid}}", name)
    pid = int(r.stdout)
    assert alive(pid)
    t0 = time.monotonic()
    r = podman("stop", "-t", "1", name)
    assert r.returncode == 0, r
    assert time.monotonic() - t0 >= 0.9, "stop returned before the timeout: TERM killed sleep?"
    r = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name)
    assert r.stdout.split() == ["exited", "137"], r
    assert not alive(pid)
    assert podman("rm", name).returncode == 0


def test_podman_rm_cleans_runtime_state_and_cgroup(podman):
    name = new_id("pm")
    r = podman(*podman.run_args(name, "-d"), "/bin/sleep", "1000")
    assert r.returncode == 0, r
    state = runtime_state_dir(podman, name)
    cid = podman.container_id(name)
    assert state.is_dir(), f"no runtime state at {state}"
    assert cgroup_dirs(f"{podman.cg_parent}/libpod-{cid}")
    r = podman("rm", "--force", "--time", "1", name)
    assert r.returncode == 0, r
    assert name not in podman("ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert not state.exists(), "the runtime state survived podman rm"
    assert not cgroup_dirs(f"{podman.cg_parent}/libpod-{cid}")
