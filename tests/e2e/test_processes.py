# SPDX-License-Identifier: MIT
"""Background processes and the process table: POST /v1/exec with background:true,
GET /v1/processes[/{selector}], DELETE /v1/processes/{selector}, POST …/{selector}/stdin,
retention and the process limit (docs/api.md, "Running commands")."""

import json
import re

import pytest

from conftest import RawClient, alive, assert_error, descendants, wait_for

RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
TAG = re.compile(r"proc-[0-9a-f]{8}")


def start(d, cmd, *args, **fields):
    """Starts a background process; returns the 202 answer."""
    body = {"cmd": cmd, "args": list(args), "background": True}
    body.update(fields)
    r = d.request("POST", "/v1/exec", body=body)
    assert r.status == 202, r
    return r.json()


def get(d, sel):
    r = d.request("GET", f"/v1/processes/{sel}")
    assert r.status == 200, r
    return r.json()


def listing(d):
    r = d.request("GET", "/v1/processes")
    assert r.status == 200, r
    body = r.json()
    assert body["count"] == len(body["processes"]), body
    return body["processes"]


def delete(d, sel, query=""):
    return d.request("DELETE", f"/v1/processes/{sel}{query}")


def write_stdin(d, sel, data=b"", eof=False):
    return d.request("POST", f"/v1/processes/{sel}/stdin" + ("?eof=true" if eof else ""),
                     body=data)


def wait_exited(d, sel):
    return wait_for(lambda: (lambda p: p if p["state"] == "exited" else None)(get(d, sel)),
                    what=f"process {sel} to exit")


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().rstrip(b"\0").split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return None


def long_sleeps(d):
    return [p for p in descendants(d.pid) if alive(p) and cmdline(p) == [b"sleep", b"1000"]]


# --------------------------------------------------------------------------------------------
# starting and listing


def test_background_start_list_and_get(daemon):
    r = start(daemon, "sleep", "1000")
    assert set(r) == {"pid", "tag", "cmd"}, r
    assert isinstance(r["pid"], int) and r["pid"] > 0
    assert TAG.fullmatch(r["tag"]), r
    assert r["cmd"] == "sleep"
    # the answer comes once the exec has happened; the kernel fills /proc/PID/cmdline a moment
    # later (after the old files are closed), so wait for it rather than read it once
    wait_for(lambda: alive(r["pid"]) and cmdline(r["pid"]) == [b"sleep", b"1000"],
             what="the process's cmdline to be sleep 1000")

    procs = [p for p in listing(daemon) if p["pid"] == r["pid"]]
    assert len(procs) == 1, procs
    p = procs[0]
    assert p["tag"] == r["tag"]
    assert p["cmd"] == "sleep" and p["args"] == ["1000"]
    assert p["cwd"] is None
    assert p["state"] == "running"
    assert p["exit_code"] is None
    assert "signal" not in p
    assert p["timed_out"] is False
    assert RFC3339.fullmatch(p["started_at"]), p
    assert p["ended_at"] is None
    assert p["stdout_bytes"] == 0 and p["stderr_bytes"] == 0
    assert get(daemon, r["pid"]) == p
    assert get(daemon, r["tag"]) == p


def test_tags_are_distinct(daemon):
    tags = {start(daemon, "sleep", "1000")["tag"] for _ in range(5)}
    assert len(tags) == 5, tags
    assert all(TAG.fullmatch(t) for t in tags), tags


def test_custom_tag_duplicates_and_reuse(daemon, tmp_path):
    first = start(daemon, "sleep", "1000", tag="web", cwd=str(tmp_path))
    assert first["tag"] == "web"
    assert get(daemon, "web")["cwd"] == str(tmp_path)
    assert_error(daemon.request("POST", "/v1/exec", body={"cmd": "sleep", "args": ["1000"],
                                                          "background": True, "tag": "web"}),
                 409, "tag_in_use")
    # a synchronous exec may not take a running tag either
    assert_error(daemon.request("POST", "/v1/exec", body={"cmd": "true", "tag": "web"}), 409,
                 "tag_in_use")
    for tag in ("123", "0"):
        assert_error(daemon.request("POST", "/v1/exec", body={"cmd": "true", "background": True,
                                                              "tag": tag}), 400, "bad_request")
    # once it has exited, the tag is free again; the selector prefers the running process
    assert delete(daemon, "web").status == 200
    wait_exited(daemon, first["pid"])
    second = start(daemon, "sleep", "1000", tag="web")
    assert second["pid"] != first["pid"]
    assert get(daemon, "web")["pid"] == second["pid"]
    assert delete(daemon, "web").status == 200
    wait_exited(daemon, second["pid"])
    # both exited: the newest one
    assert get(daemon, "web")["pid"] == second["pid"]
    assert get(daemon, first["pid"])["state"] == "exited"


def test_background_survives_its_client(daemon):
    body = json.dumps({"cmd": "sleep", "args": ["1000"], "background": True}).encode()
    with RawClient(daemon.address) as c:
        r = c.request("POST", "/v1/exec", headers={"Authorization": f"Bearer {daemon.token}"},
                      body=body)
        assert r.status == 202, r
        pid = json.loads(r.body)["pid"]
    # the connection is closed; once the daemon has served another client, the process still runs
    assert daemon.request("POST", "/v1/exec", body={"cmd": "true"}).status == 200
    assert alive(pid)
    assert get(daemon, pid)["state"] == "running"


def test_background_exec_failure_is_400(daemon, tmp_path):
    r = daemon.request("POST", "/v1/exec", body={"cmd": "no-such-binary-e2e", "background": True})
    assert_error(r, 400, "exec_failed")
    assert r.json()["exit_code"] == 127, r
    assert "No such file or directory" in r.json()["message"], r
    r = daemon.request("POST", "/v1/exec", body={"cmd": str(tmp_path), "background": True})
    assert_error(r, 400, "exec_failed")
    assert r.json()["exit_code"] == 126, r


def test_background_timeout(daemon):
    r = start(daemon, "sleep", "1000", timeout_sec=1)
    p = wait_exited(daemon, r["tag"])
    assert p["timed_out"] is True, p
    assert p["exit_code"] == 137 and p["signal"] == "SIGKILL", p


# --------------------------------------------------------------------------------------------
# stdin


def test_stdin_then_eof(daemon):
    r = start(daemon, "cat")
    w = write_stdin(daemon, r["tag"], b"hello")
    assert w.status == 200, w
    assert w.json() == {"written": 5}
    wait_for(lambda: get(daemon, r["tag"])["stdout_bytes"] == 5, what="cat to echo 5 bytes")
    w = write_stdin(daemon, r["pid"], b" world\n")
    assert w.json() == {"written": 7}, w
    wait_for(lambda: get(daemon, r["tag"])["stdout_bytes"] == 12, what="cat to echo 12 bytes")
    assert get(daemon, r["tag"])["state"] == "running"
    w = write_stdin(daemon, r["tag"], eof=True)
    assert w.status == 200 and w.json() == {"written": 0}, w
    p = wait_exited(daemon, r["tag"])
    assert p["exit_code"] == 0 and p["stdout_bytes"] == 12 and p["stderr_bytes"] == 0, p
    assert RFC3339.fullmatch(p["ended_at"]), p
    assert_error(write_stdin(daemon, r["tag"], b"late"), 409, "stdin_closed")
    assert_error(write_stdin(daemon, r["tag"], eof=True), 409, "stdin_closed")


def test_stdin_data_and_eof_in_one_request(daemon):
    r = start(daemon, "wc", "-c")
    w = write_stdin(daemon, r["tag"], b"x" * 100000, eof=True)
    assert w.json() == {"written": 100000}, w
    p = wait_exited(daemon, r["tag"])
    assert p["exit_code"] == 0
    assert p["stdout_bytes"] == len("100000\n"), p


def test_stdin_closed_while_the_process_runs(daemon):
    # the shell keeps running after cat has seen EOF
    r = start(daemon, "sh", "-c", "cat >/dev/null; exec sleep 1000")
    assert write_stdin(daemon, r["tag"], b"data", eof=True).status == 200
    wait_for(lambda: r["pid"] in long_sleeps(daemon), what="the shell to exec sleep")
    assert get(daemon, r["tag"])["state"] == "running"
    assert_error(write_stdin(daemon, r["tag"], b"more"), 409, "stdin_closed")
    # an empty write (or a second eof) to a closed stdin is refused the same way
    assert_error(write_stdin(daemon, r["tag"]), 409, "stdin_closed")
    assert_error(write_stdin(daemon, r["tag"], eof=True), 409, "stdin_closed")


def test_stdin_backlog_is_429(daemon_factory):
    d = daemon_factory(config={"http": {"max_body_bytes": 8 * 1024 * 1024}})
    r = start(d, "sleep", "1000")  # never reads its stdin: what is written stays queued
    w = write_stdin(d, r["tag"], b"a" * (3 * 1024 * 1024))
    assert w.status == 200 and w.json() == {"written": 3 * 1024 * 1024}, w
    # at most 4 MiB may wait (a pipe holds far less than the 1 MiB over the limit)
    assert_error(write_stdin(d, r["tag"], b"b" * (2 * 1024 * 1024)), 429, "stdin_backlog")
    assert get(d, r["tag"])["state"] == "running"
    assert write_stdin(d, r["tag"], b"c" * 1024).status == 200


def test_stdin_of_a_process_without_stdin(daemon):
    # POST /exec without "stdin": the process's stdin is /dev/null, never open to the API
    body = json.dumps({"command": ["sleep", "1000"]}).encode()
    with RawClient(daemon.address) as c:
        c.send(f"POST /exec HTTP/1.1\r\nHost: e2e\r\nAuthorization: Bearer {daemon.token}\r\n"
               f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        pid = wait_for(lambda: long_sleeps(daemon), what="sleep to start")[0]
        assert get(daemon, pid)["state"] == "running"
        assert_error(write_stdin(daemon, pid, b"x"), 409, "stdin_closed")
        # killing it through the API ends the attached stream with EXIT:137
        assert delete(daemon, pid).status == 200
        resp = c.read_response()
        assert resp.status == 200
        assert resp.body[-16:-8] == b"\x03\0\0\0\0\0\0\x08" and resp.body[-8:] == b"EXIT:137", \
            resp


# --------------------------------------------------------------------------------------------
# signals


def test_delete_defaults_to_kill_by_tag(daemon):
    r = start(daemon, "sleep", "1000")
    d = delete(daemon, r["tag"])
    assert d.status == 200, d
    assert d.json() == {"pid": r["pid"], "tag": r["tag"], "signal": "SIGKILL"}
    p = wait_exited(daemon, r["tag"])
    assert p["exit_code"] == 137 and p["signal"] == "SIGKILL", p
    assert p["timed_out"] is False
    assert_error(delete(daemon, r["tag"]), 409, "not_running")
    assert_error(delete(daemon, r["pid"], "?signal=TERM"), 409, "not_running")


@pytest.mark.parametrize("sig, name, code", [
    ("TERM", "SIGTERM", 143), ("SIGTERM", "SIGTERM", 143), ("15", "SIGTERM", 143),
    ("INT", "SIGINT", 130), ("HUP", "SIGHUP", 129),
])
def test_delete_by_pid_with_signal(daemon, sig, name, code):
    r = start(daemon, "sleep", "1000")
    d = delete(daemon, r["pid"], f"?signal={sig}")
    assert d.status == 200, d
    assert d.json()["signal"] == name, d
    p = wait_exited(daemon, r["pid"])
    assert p["exit_code"] == code and p["signal"] == name, p


def test_delete_signals_the_whole_group(daemon):
    r = start(daemon, "sh", "-c", "sleep 1000 & sleep 1000")
    victims = wait_for(lambda: len(long_sleeps(daemon)) == 2 and long_sleeps(daemon),
                       what="both sleeps to run")
    assert delete(daemon, r["tag"], "?signal=TERM").status == 200
    wait_for(lambda: not [p for p in victims + [r["pid"]] if alive(p)],
             what="the shell and both sleeps to be gone")
    p = wait_exited(daemon, r["tag"])
    assert p["exit_code"] == 143, p


@pytest.mark.parametrize("sig", ["BOGUS", "SIGBOGUS", "999", "-1", "1x"])
def test_delete_bad_signal_is_400(daemon, sig):
    r = start(daemon, "sleep", "1000")
    assert_error(delete(daemon, r["tag"], f"?signal={sig}"), 400, "bad_request")
    assert get(daemon, r["tag"])["state"] == "running"


def test_unknown_selector_is_404(daemon):
    for sel in ("no-such-tag", "999999999", "2147483647"):
        assert_error(daemon.request("GET", f"/v1/processes/{sel}"), 404, "not_found")
        assert_error(delete(daemon, sel), 404, "not_found")
        assert_error(write_stdin(daemon, sel, b"x"), 404, "not_found")


# --------------------------------------------------------------------------------------------
# exited processes and retention


def test_exited_processes_stay_listed(daemon):
    sync = daemon.request("POST", "/v1/exec", body={"cmd": "sh", "args": ["-c", "echo hi; "
                                                                          "echo e >&2; exit 4"]})
    assert sync.status == 200, sync
    s = sync.json()
    bg = start(daemon, "true")
    wait_exited(daemon, bg["tag"])
    procs = {p["pid"]: p for p in listing(daemon)}
    assert s["pid"] in procs and bg["pid"] in procs, procs
    p = procs[s["pid"]]
    assert p["tag"] == s["tag"] and p["state"] == "exited", p
    assert p["exit_code"] == 4 and "signal" not in p, p
    assert p["stdout_bytes"] == 3 and p["stderr_bytes"] == 2, p
    assert RFC3339.fullmatch(p["started_at"]) and RFC3339.fullmatch(p["ended_at"]), p
    assert p["started_at"] <= p["ended_at"], p
    assert procs[bg["pid"]]["exit_code"] == 0
    # listed in start order
    pids = [q["pid"] for q in listing(daemon)]
    assert pids.index(s["pid"]) < pids.index(bg["pid"])


def test_retention_removes_exited_processes(daemon_factory):
    d = daemon_factory(config={"exec": {"retention": "500ms"}})
    running = start(d, "sleep", "1000")
    sync = d.request("POST", "/v1/exec", body={"cmd": "true"}).json()
    bg = start(d, "true")
    for sel in (sync["tag"], bg["tag"], sync["pid"], bg["pid"]):
        wait_for(lambda: d.request("GET", f"/v1/processes/{sel}").status == 404,
                 what=f"process {sel} to be forgotten after exec.retention")
    pids = [p["pid"] for p in listing(d)]
    assert sync["pid"] not in pids and bg["pid"] not in pids
    # retention applies to exited processes only
    assert pids == [running["pid"]], pids
    assert get(d, running["tag"])["state"] == "running"


def test_max_retained_forgets_the_oldest_exited(daemon_factory):
    d = daemon_factory(config={"exec": {"max_retained": 3}})
    running = start(d, "sleep", "1000")
    tags = [d.request("POST", "/v1/exec", body={"cmd": "true"}).json()["tag"] for _ in range(6)]
    listed = [p["tag"] for p in listing(d)]
    # the running process stays; of the six finished ones only the newest three are kept
    assert listed == [running["tag"]] + tags[3:], listed
    for t in tags[:3]:
        assert d.request("GET", f"/v1/processes/{t}").status == 404


# --------------------------------------------------------------------------------------------
# the process limit


def test_max_processes(daemon_factory):
    d = daemon_factory(config={"exec": {"max_processes": 2}})
    a = start(d, "sleep", "1000")
    start(d, "sleep", "1000")
    body = {"cmd": "sleep", "args": ["1000"], "background": True}
    assert_error(d.request("POST", "/v1/exec", body=body), 429, "too_many_processes")
    assert_error(d.request("POST", "/v1/exec", body={"cmd": "true"}), 429, "too_many_processes")
    assert_error(d.request("POST", "/exec", body={"command": ["true"]}), 429,
                 "too_many_processes")
    assert_error(d.request("POST", "/exec?cmd=true"), 429, "too_many_processes")
    # an exited process no longer counts
    assert delete(d, a["tag"]).status == 200
    wait_exited(d, a["tag"])
    start(d, "sleep", "1000")
    assert_error(d.request("POST", "/v1/exec", body=body), 429, "too_many_processes")
