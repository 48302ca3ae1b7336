# SPDX-License-Identifier: MIT
"""Transcripts: POST /transcripts/enable|disable, GET /transcripts, GET /transcripts/{id} and
the files in <write dir>/transcripts/ (docs/api.md, "Transcripts"; config `exec.transcripts`).
"""

import base64
import datetime
import json
import os
import re
import time
import urllib.parse

import pytest
import websocket

from conftest import DEADLINE, assert_error, wait_for

RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
MIB = 1024 * 1024


# --------------------------------------------------------------------------------------------
# helpers


def enable(d):
    r = d.request("POST", "/transcripts/enable")
    assert r.status == 200, r
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    assert r.json() == {"enabled": True}
    return r


def disable(d):
    r = d.request("POST", "/transcripts/disable")
    assert r.status == 200, r
    assert r.json() == {"enabled": False}
    return r


def listing(d):
    r = d.request("GET", "/transcripts")
    assert r.status == 200, r
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"transcripts", "count", "enabled"}, body
    assert body["count"] == len(body["transcripts"]), body
    return body


def listed_ids(d):
    return sorted(t["id"] for t in listing(d)["transcripts"])


def transcript_dir(d):
    return d.state_dir / "transcripts"


def fetch(d, tid):
    """GET /transcripts/{id} → (raw body, records)."""
    r = d.request("GET", f"/transcripts/{tid}")
    assert r.status == 200, r
    assert r.headers.get("content-type", "").startswith("application/x-ndjson"), r.headers
    return r.body, parse(r.body)


def parse(body):
    assert body.endswith(b"\n"), body[-200:]
    return [json.loads(line) for line in body.split(b"\n")[:-1]]


def v1_exec(d, body, status=200):
    r = d.request("POST", "/v1/exec", body=body)
    assert r.status == status, r
    return r.json()


def record_data(rec):
    assert rec["encoding"] in ("utf-8", "base64"), rec
    if rec["encoding"] == "base64":
        return base64.b64decode(rec["data"])
    return rec["data"].encode("utf-8")


def stream_data(recs, kind):
    return b"".join(record_data(r) for r in recs if r["type"] == kind)


def check_times(recs, before, after):
    """Every record has an RFC 3339 time, in order, within [before, after] (Unix seconds)."""
    last = None
    for r in recs:
        assert "time" in r, f"record without a time: {r}"
        assert RFC3339.fullmatch(r["time"]), r
        t = datetime.datetime.fromisoformat(r["time"].replace("Z", "+00:00")).timestamp()
        assert before - 1 <= t <= after + 1, (r, before, after)
        if last is not None:
            assert t >= last, f"time goes backwards at {r}"
        last = t


def check_shape(recs):
    """start first, exit last, only data records in between."""
    assert recs, "empty transcript"
    assert recs[0]["type"] == "start", recs[:2]
    assert recs[-1]["type"] == "exit", recs[-2:]
    assert sum(1 for r in recs if r["type"] == "start") == 1, recs
    assert sum(1 for r in recs if r["type"] == "exit") == 1, recs
    for r in recs[1:-1]:
        assert r["type"] in ("stdin", "stdout", "stderr", "truncated"), r


def wait_complete(d, tid):
    """A background process's transcript, once its exit record is written."""
    def done():
        path = transcript_dir(d) / f"{tid}.jsonl"
        if not path.exists():
            return None
        body, recs = fetch(d, tid)
        return recs if recs and recs[-1]["type"] == "exit" else None

    return wait_for(done, what=f"transcript {tid} to be complete")


# --------------------------------------------------------------------------------------------
# enable, disable, list


def test_off_by_default_then_enable_and_disable(daemon):
    assert listing(daemon) == {"transcripts": [], "count": 0, "enabled": False}
    enable(daemon)
    assert listing(daemon)["enabled"] is True
    assert transcript_dir(daemon).is_dir()
    enable(daemon)  # again: still on
    assert listing(daemon)["enabled"] is True
    disable(daemon)
    assert listing(daemon)["enabled"] is False
    disable(daemon)
    assert listing(daemon)["enabled"] is False


def test_routes_need_the_token(daemon):
    for method, path in (("POST", "/transcripts/enable"), ("POST", "/transcripts/disable"),
                         ("GET", "/transcripts"), ("GET", "/transcripts/x")):
        assert_error(daemon.request(method, path, token=None), 401, "unauthorized")
    assert listing(daemon)["enabled"] is False


def test_wrong_methods(daemon):
    r = daemon.request("GET", "/transcripts/enable")
    # a GET of /transcripts/enable is a transcript id "enable": not found
    assert_error(r, 404, "not_found")
    r = daemon.request("DELETE", "/transcripts")
    assert_error(r, 405, "method_not_allowed")


# --------------------------------------------------------------------------------------------
# what is recorded


def test_sync_exec_recorded_in_order(daemon, tmp_path):
    enable(daemon)
    before = time.time()
    res = v1_exec(daemon, {"cmd": "sh", "args": ["-c", "cat; echo err >&2; exit 3"],
                           "stdin": "hello\n", "tag": "rec1", "cwd": str(tmp_path)})
    after = time.time()
    assert res["exit_code"] == 3 and res["stdout"] == "hello\n" and res["stderr"] == "err\n"

    body = listing(daemon)
    assert body["enabled"] is True
    assert [t["id"] for t in body["transcripts"]] == ["rec1"]
    entry = body["transcripts"][0]
    path = transcript_dir(daemon) / "rec1.jsonl"
    assert path.is_file()
    assert entry["size"] == path.stat().st_size
    assert isinstance(entry["modified"], int)
    assert int(before) - 1 <= entry["modified"] <= after + 1

    raw, recs = fetch(daemon, "rec1")
    assert raw == path.read_bytes()
    check_shape(recs)
    check_times(recs, before, after)
    start = recs[0]
    assert start["pid"] == res["pid"]
    assert start["tag"] == "rec1"
    assert start["argv"] == ["sh", "-c", "cat; echo err >&2; exit 3"]
    assert start["tty"] is False
    assert start["cwd"] == str(tmp_path)
    types = [r["type"] for r in recs]
    assert set(types) == {"start", "stdin", "stdout", "stderr", "exit"}, types
    # the input is recorded before the output that echoes it
    assert types.index("stdin") < types.index("stdout"), types
    assert stream_data(recs, "stdin") == b"hello\n"
    assert stream_data(recs, "stdout") == b"hello\n"
    assert stream_data(recs, "stderr") == b"err\n"
    for r in recs[1:-1]:
        assert r["encoding"] == "utf-8", r
    assert recs[-1]["exit_code"] == 3
    assert "signal" not in recs[-1]
    assert not recs[-1].get("timed_out"), recs[-1]


def test_start_record_without_cwd(daemon):
    enable(daemon)
    v1_exec(daemon, {"cmd": "true", "tag": "nocwd"})
    _, recs = fetch(daemon, "nocwd")
    assert recs[0]["argv"] == ["true"]
    assert "cwd" not in recs[0], recs[0]
    assert [r["type"] for r in recs] == ["start", "exit"]
    assert recs[-1]["exit_code"] == 0


def test_default_tag_names_the_transcript(daemon):
    enable(daemon)
    res = v1_exec(daemon, {"cmd": "echo", "args": ["tagged"]})
    assert re.fullmatch(r"proc-[0-9a-f]{8}", res["tag"]), res
    assert listed_ids(daemon) == [res["tag"]]
    _, recs = fetch(daemon, res["tag"])
    assert recs[0]["tag"] == res["tag"]
    assert stream_data(recs, "stdout") == b"tagged\n"


def test_binary_output_is_base64(daemon):
    enable(daemon)
    v1_exec(daemon, {"cmd": "sh", "args": ["-c", r"printf '\377\376\000x'; printf '\200' >&2"],
                     "tag": "bin"})
    _, recs = fetch(daemon, "bin")
    check_shape(recs)
    out = [r for r in recs if r["type"] == "stdout"]
    assert out and all(r["encoding"] == "base64" for r in out), out
    assert stream_data(recs, "stdout") == b"\xff\xfe\x00x"
    err = [r for r in recs if r["type"] == "stderr"]
    assert err and all(r["encoding"] == "base64" for r in err), err
    assert stream_data(recs, "stderr") == b"\x80"


def ws_exec(d, params, frames=()):
    """GET /exec over a WebSocket: sends the binary frames, returns the messages to the close."""
    path = "/exec?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    ws = websocket.create_connection(f"ws://127.0.0.1:{d.port}{path}",
                                     header=[f"Authorization: Bearer {d.token}"],
                                     timeout=DEADLINE)
    try:
        for f in frames:
            ws.send_binary(f)
        msgs = []
        while True:
            op, data = ws.recv_data(control_frame=True)
            if op == 8:
                return msgs
            msgs.append((op, bytes(data)))
    finally:
        ws.shutdown()


def test_ws_exec_binary_stdin_is_base64(daemon):
    enable(daemon)
    msgs = ws_exec(daemon, [("cmd", "cat"), ("stdin", "true")],
                   [b"\x00\xff\x00\xfe", b"\x00text\n", b"\x04"])
    assert msgs[-1] == (2, b"\x03\x00")
    (tid,) = listed_ids(daemon)
    _, recs = fetch(daemon, tid)
    check_shape(recs)
    ins = [r for r in recs if r["type"] == "stdin"]
    assert ins[0]["encoding"] == "base64", ins
    assert stream_data(recs, "stdin") == b"\xff\x00\xfetext\n"
    assert stream_data(recs, "stdout") == b"\xff\x00\xfetext\n"
    assert recs[0]["argv"] == ["cat"] and recs[0]["tty"] is False


def test_ws_exec_tty_is_recorded(daemon):
    enable(daemon)
    msgs = ws_exec(daemon, [("cmd", "sh"), ("cmd", "-c"), ("cmd", 'read x; echo "got $x"'),
                            ("tty", "true")], [b"typed\n"])
    assert json.loads(msgs[-1][1]) == {"type": "exit", "exit_code": 0}
    (tid,) = listed_ids(daemon)
    _, recs = fetch(daemon, tid)
    check_shape(recs)
    assert recs[0]["tty"] is True
    assert stream_data(recs, "stdin") == b"typed\n"
    assert b"got typed" in stream_data(recs, "stdout")
    assert recs[-1]["exit_code"] == 0


def test_background_process_stdin_kill_and_signal(daemon):
    enable(daemon)
    r = daemon.request("POST", "/v1/exec", body={"cmd": "cat", "background": True, "tag": "bg"})
    assert r.status == 202, r
    r = daemon.request("POST", "/v1/processes/bg/stdin", body=b"line one\n")
    assert r.status == 200, r
    wait_for(lambda: b"line one" in (transcript_dir(daemon) / "bg.jsonl").read_bytes()
             and b'"stdout"' in (transcript_dir(daemon) / "bg.jsonl").read_bytes(),
             what="the echoed line in the transcript")
    r = daemon.request("DELETE", "/v1/processes/bg")
    assert r.status == 200, r
    recs = wait_complete(daemon, "bg")
    check_shape(recs)
    assert stream_data(recs, "stdin") == b"line one\n"
    assert stream_data(recs, "stdout") == b"line one\n"
    assert recs[-1]["exit_code"] == 137
    assert recs[-1]["signal"] == "SIGKILL"


def test_timed_out_is_recorded(daemon):
    enable(daemon)
    res = v1_exec(daemon, {"cmd": "sleep", "args": ["1000"], "timeout_sec": 1, "tag": "slow"})
    assert res["timed_out"] is True and res["exit_code"] == 137
    _, recs = fetch(daemon, "slow")
    assert recs[-1]["type"] == "exit"
    assert recs[-1]["exit_code"] == 137
    assert recs[-1]["timed_out"] is True
    assert recs[-1]["signal"] == "SIGKILL"


def test_disable_stops_recording_new_execs(daemon):
    enable(daemon)
    v1_exec(daemon, {"cmd": "echo", "args": ["one"], "tag": "while-on"})
    disable(daemon)
    v1_exec(daemon, {"cmd": "echo", "args": ["two"], "tag": "while-off"})
    ws_exec(daemon, [("cmd", "echo"), ("cmd", "three")])
    assert listed_ids(daemon) == ["while-on"]
    assert sorted(os.listdir(transcript_dir(daemon))) == ["while-on.jsonl"]
    assert_error(daemon.request("GET", "/transcripts/while-off"), 404, "not_found")
    # what was recorded stays readable while off
    _, recs = fetch(daemon, "while-on")
    assert stream_data(recs, "stdout") == b"one\n"
    # on again: recorded again
    enable(daemon)
    v1_exec(daemon, {"cmd": "echo", "args": ["four"], "tag": "on-again"})
    assert listed_ids(daemon) == ["on-again", "while-on"]


def test_process_started_before_enable_is_not_recorded(daemon):
    r = daemon.request("POST", "/v1/exec", body={"cmd": "cat", "background": True,
                                                 "tag": "early"})
    assert r.status == 202, r
    enable(daemon)
    r = daemon.request("POST", "/v1/processes/early/stdin?eof=true", body=b"data\n")
    assert r.status == 200, r
    v1_exec(daemon, {"cmd": "true", "tag": "later"})  # recorded: the listing works
    wait_for(lambda: daemon.request("GET", "/v1/processes/early").json()["state"] == "exited",
             what="cat to exit")
    assert listed_ids(daemon) == ["later"]


def test_config_records_from_the_start(daemon_factory):
    d = daemon_factory(config={"exec": {"transcripts": True}})
    assert listing(d) == {"transcripts": [], "count": 0, "enabled": True}
    v1_exec(d, {"cmd": "echo", "args": ["from config"], "tag": "cfg"})
    assert listed_ids(d) == ["cfg"]
    assert (d.state_dir / "transcripts" / "cfg.jsonl").is_file()
    _, recs = fetch(d, "cfg")
    assert stream_data(recs, "stdout") == b"from config\n"
    disable(d)
    assert listing(d)["enabled"] is False


def test_config_false_is_off(daemon_factory):
    d = daemon_factory(config={"exec": {"transcripts": False}})
    assert listing(d)["enabled"] is False
    v1_exec(d, {"cmd": "true", "tag": "off"})
    assert listed_ids(d) == []


def test_same_tag_twice(daemon):
    # a tag can be used again once its process has exited: both runs stay readable
    enable(daemon)
    v1_exec(daemon, {"cmd": "echo", "args": ["first"], "tag": "again"})
    v1_exec(daemon, {"cmd": "echo", "args": ["second"], "tag": "again"})
    assert listed_ids(daemon) == ["again"]
    _, recs = fetch(daemon, "again")
    assert b"second\n" in stream_data(recs, "stdout")
    assert [r for r in recs if r["type"] == "exit"], recs


# --------------------------------------------------------------------------------------------
# ids and files


@pytest.mark.parametrize("tid", ["nope", "..", ".", ".hidden", "..%2F..%2Fetc%2Fpasswd",
                                 "%2e%2e", "a%2Fb", "x.jsonl", "rec%00"])
def test_unknown_or_malformed_id_is_404(daemon, tid):
    enable(daemon)
    v1_exec(daemon, {"cmd": "true", "tag": "exists"})
    r = daemon.request("GET", f"/transcripts/{tid}")
    assert_error(r, 404, "not_found")


def test_empty_id_is_404(daemon):
    r = daemon.request("GET", "/transcripts/")
    assert_error(r, 404, "not_found")


def test_only_regular_jsonl_files_are_listed_and_served(daemon, tmp_path):
    enable(daemon)
    v1_exec(daemon, {"cmd": "true", "tag": "real"})
    tdir = transcript_dir(daemon)
    secret = tmp_path / "secret.txt"
    secret.write_text('{"type":"secret"}\n')
    os.symlink(secret, tdir / "link.jsonl")
    (tdir / "notes.txt").write_text("not a transcript\n")
    assert listed_ids(daemon) == ["real"]
    assert_error(daemon.request("GET", "/transcripts/link"), 404, "not_found")
    assert_error(daemon.request("GET", "/transcripts/notes"), 404, "not_found")


def test_directory_named_like_a_transcript_is_404(daemon):
    enable(daemon)
    (transcript_dir(daemon) / "dir.jsonl").mkdir()
    assert listed_ids(daemon) == []
    # not listed, so not a transcript: a directory is no more served than a link
    assert_error(daemon.request("GET", "/transcripts/dir"), 404, "not_found")


@pytest.mark.parametrize("tag", ["../escaped", "../../escaped", "sub/dir", ".hidden"])
def test_tag_cannot_write_outside_the_transcripts_dir(daemon, tag):
    # a tag is 1 to 63 letters, digits, ".", "_" or "-", not starting with "."
    enable(daemon)
    before = set(_all_files(daemon.tmp))
    for background in (False, True):
        r = daemon.request("POST", "/v1/exec", body={"cmd": "echo", "args": ["x"], "tag": tag,
                                                     "background": background})
        assert_error(r, 400, "bad_request")
    assert listed_ids(daemon) == []
    created = set(_all_files(daemon.tmp)) - before
    outside = [p for p in created if transcript_dir(daemon) not in p.parents]
    assert not outside, f"tag {tag!r} made the daemon write {outside}"


def _all_files(root):
    return [p for p in root.rglob("*") if p.is_file() or p.is_symlink()]


@pytest.mark.timeout(180)
def test_transcript_stops_growing_at_64mib(daemon):
    enable(daemon)
    total = 80 * MIB
    try:
        res = v1_exec(daemon, {"cmd": "sh", "args": [
            "-c", f"head -c {total} /dev/zero | tr '\\0' a; echo done >&2; exit 2"],
            "tag": "big"})
        assert res["exit_code"] == 2
        path = transcript_dir(daemon) / "big.jsonl"
        size = path.stat().st_size
        assert 60 * MIB < size <= 64 * MIB + 4096, size
        entry = listing(daemon)["transcripts"][0]
        assert entry["size"] == size
        raw, recs = fetch(daemon, "big")
        assert len(raw) == size
        assert recs[0]["type"] == "start"
        assert recs[-1]["type"] == "exit" and recs[-1]["exit_code"] == 2, recs[-1]
        types = [r["type"] for r in recs]
        assert types.count("truncated") == 1, types[-5:]
        i = types.index("truncated")
        assert types[i + 1:] == ["exit"], types[i:]  # nothing but the exit after the note
        data = stream_data(recs, "stdout")
        assert data == b"a" * len(data)
        assert len(data) < total
        for r in recs:
            assert "time" in r and RFC3339.fullmatch(r["time"]), f"record without a time: {r}"
    finally:
        try:
            (transcript_dir(daemon) / "big.jsonl").unlink()
        except FileNotFoundError:
            pass
