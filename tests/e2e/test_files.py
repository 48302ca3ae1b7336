# SPDX-License-Identifier: MIT
"""Files of the environment: wrenn's /v1/files routes (read, write, list, stat, mkdir, move,
remove), confined to the environment's root (files.root) whatever the path or symlinks say."""

import hashlib
import json
import os
import socket
import subprocess
import urllib.parse

import pytest

from conftest import DEADLINE, RawClient, assert_error, files_daemon, wait_for


@pytest.fixture
def env(daemon_factory, tmp_path):
    d = files_daemon(daemon_factory, tmp_path)
    (d.outside / "secret").write_text("top secret")
    return d


def put(d, path, data, user=None, headers=None):
    q = {"path": path}
    if user:
        q["user"] = user
    return d.request("PUT", "/v1/files/write?" + urllib.parse.urlencode(q), body=data,
                     headers=headers)


def post(d, op, body):
    return d.request("POST", f"/v1/files/{op}", body=body)


def read(d, path, user=None):
    body = {"path": path}
    if user:
        body["user"] = user
    return post(d, "read", body)


def test_write_then_read_round_trips(env):
    for name, data in [("text.txt", b"hello\n"), ("bin", bytes(range(256)) * 50),
                       ("empty", b"")]:
        r = put(env, f"/dir/{name}", data)
        assert r.status == 200, r
        e = r.json()
        assert (e["name"], e["path"], e["type"], e["size"]) == (name, f"/dir/{name}", "file",
                                                                 len(data))
        assert (env.root / "dir" / name).read_bytes() == data
        r = read(env, f"/dir/{name}")
        assert r.status == 200, r
        assert r.body == data
        assert f'filename="{name}"' in r.headers["content-disposition"]
    r = post(env, "stream/read", {"path": "/dir/bin"})
    assert r.body == bytes(range(256)) * 50


def test_large_upload_and_download_stream(env):
    data = os.urandom(4 * 1024 * 1024) * 8  # 32 MiB, past every buffered limit
    r = put(env, "/big", data)
    assert r.status == 200, r
    assert r.json()["size"] == len(data)
    r = read(env, "/big")
    assert hashlib.sha256(r.body).digest() == hashlib.sha256(data).digest()


def test_a_cut_upload_leaves_the_old_file(env):
    assert put(env, "/keep", b"old content").status == 200
    s = socket.create_connection(("127.0.0.1", env.port), timeout=DEADLINE)
    s.sendall((f"PUT /v1/files/write?path=/keep HTTP/1.1\r\nHost: x\r\n"
               f"Authorization: Bearer {env.token}\r\nContent-Length: 1000000\r\n\r\n").encode()
              + b"n" * 300_000)
    s.close()
    wait_for(lambda: not [p for p in os.listdir(env.root) if p not in ("keep", "etc")],
             what="the temp file of the cut upload removed")
    assert (env.root / "keep").read_bytes() == b"old content"
    assert env.health()["status"] == "ok"


def test_known_length_uploads_back_to_back_on_one_connection(env):
    """A body with a Content-Length goes from the socket straight into the file (splice): it
    takes exactly its bytes, so the next request pipelined right behind it is read as one."""
    a, b = os.urandom(3 * 1024 * 1024 + 17), os.urandom(2 * 1024 * 1024 + 5)

    def req(path, data):
        return (f"PUT /v1/files/write?path={path} HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Bearer {env.token}\r\nContent-Length: {len(data)}\r\n\r\n"
                ).encode() + data

    with RawClient(("127.0.0.1", env.port)) as c:
        assert c.send(req("/a", a) + req("/b", b))
        for name, data in (("a", a), ("b", b)):
            r = c.read_response()
            assert r.status == 200, r
            assert (env.root / name).read_bytes() == data
        # the connection is still good for a third
        assert c.send(req("/a", b"small"))
        assert c.read_response().status == 200
    assert (env.root / "a").read_bytes() == b"small"


def test_a_known_length_upload_after_100_continue_and_through_envd(env):
    """curl -T waits for 100 Continue before the body: the body then arrives with nothing
    buffered and goes into the file by splice. envd's octet-stream upload goes the same way."""
    data = os.urandom(5 * 1024 * 1024 + 3)
    with RawClient(("127.0.0.1", env.port)) as c:
        assert c.send((f"PUT /v1/files/write?path=/cont HTTP/1.1\r\nHost: x\r\n"
                       f"Authorization: Bearer {env.token}\r\nExpect: 100-continue\r\n"
                       f"Content-Length: {len(data)}\r\n\r\n").encode())
        while b"\r\n\r\n" not in c.buf:
            c._fill()
        assert c.buf.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), c.buf
        c.buf = c.buf[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
        assert c.send(data)
        r = c.read_response()
        assert r.status == 200, r
        assert r.json()["size"] == len(data)
    assert (env.root / "cont").read_bytes() == data
    r = env.request("POST", "/files?path=/envd-big", body=data,
                    headers={"Content-Type": "application/octet-stream"})
    assert r.status == 200, r
    assert (env.root / "envd-big").read_bytes() == data


@pytest.fixture
def small_fs(env):
    """A 1 MiB tmpfs at <root>/small: a disk that fills up."""
    small = env.root / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "sprite-test", str(small)],
                   check=True)
    try:
        yield small
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_a_full_disk_is_a_507_and_keeps_the_old_file(env, small_fs, framing):
    (small_fs / "f").write_bytes(b"old")
    data = os.urandom(4 * 1024 * 1024)
    if framing == "length":
        r = put(env, "/small/f", data)
        assert_error(r, 507, "no_space")
    else:
        conn = env.connection()
        try:
            conn.request("PUT", "/v1/files/write?path=/small/f",
                         body=iter([data[i:i + 65536] for i in range(0, len(data), 65536)]),
                         headers={**env.auth_header(), "Transfer-Encoding": "chunked"},
                         encode_chunked=True)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the answer came before the whole body went out: it is still there to read
        r = conn.getresponse()
        assert r.status == 507 and json.loads(r.read())["code"] == "no_space", r.status
        conn.close()
    assert (small_fs / "f").read_bytes() == b"old"
    assert sorted(os.listdir(small_fs)) == ["f"], "the temp file was not removed"
    # envd's route says it its own way
    r = env.request("POST", "/files?path=/small/g", body=data,
                    headers={"Content-Type": "application/octet-stream"})
    assert r.status == 507, r
    assert r.json()["code"] == 507
    assert sorted(os.listdir(small_fs)) == ["f"]
    assert env.health()["status"] == "ok"


def test_list_stat_mkdir_move_remove(env):
    assert post(env, "mkdir", {"path": "/a/b/c", "parents": True}).status == 200
    r = post(env, "mkdir", {"path": "/x/y"})  # no parents
    assert_error(r, 404, "not_found")
    assert put(env, "/a/f1", b"1").status == 200
    assert put(env, "/a/b/f2", b"22").status == 200
    os.symlink("f1", env.root / "a" / "ln")

    r = post(env, "list", {"path": "/a"})
    assert r.status == 200, r
    names = sorted(e["name"] for e in r.json()["entries"])
    assert names == ["b", "f1", "ln"]
    assert sorted(e["name"] for e in post(env, "list", {"path": "/"}).json()["entries"]) == [
        "a", "etc"]
    r = post(env, "list", {"path": "/a", "depth": 2})
    paths = sorted(e["path"] for e in r.json()["entries"])
    assert paths == ["/a/b", "/a/b/c", "/a/b/f2", "/a/f1", "/a/ln"]

    st = post(env, "stat", {"path": "/a/ln"}).json()
    assert (st["type"], st["symlink_target"]) == ("symlink", "f1")
    st = post(env, "stat", {"path": "/a/b"}).json()
    assert st["type"] == "directory" and st["permissions"].startswith("d")
    st = post(env, "stat", {"path": "/a/f1"}).json()
    assert (st["type"], st["size"], st["owner"], st["permissions"]) == ("file", 1, "root",
                                                                        "-rw-r--r--")

    r = post(env, "move", {"source": "/a/b/f2", "destination": "/moved/here/f2"})
    assert r.status == 200, r
    assert r.json()["path"] == "/moved/here/f2"
    assert (env.root / "moved" / "here" / "f2").read_bytes() == b"22"
    assert not (env.root / "a" / "b" / "f2").exists()

    assert_error(post(env, "remove", {"path": "/a"}), 409, "not_empty")
    assert post(env, "remove", {"path": "/a", "recursive": True}).status == 200
    assert not (env.root / "a").exists()


def test_errors_are_clear(env):
    (env.root / "d").mkdir()
    assert put(env, "/f", b"x").status == 200
    assert_error(read(env, "/nope"), 404, "not_found")
    assert_error(read(env, "/d"), 400, "is_a_directory")
    assert_error(post(env, "list", {"path": "/f"}), 400, "not_a_directory")
    assert_error(post(env, "stat", {"path": "/nope"}), 404, "not_found")
    assert_error(post(env, "read", {}), 400, "bad_request")
    assert_error(post(env, "read", {"path": 5}), 400, "bad_request")
    assert_error(post(env, "list", {"path": "/", "depth": -1}), 400, "bad_request")
    assert_error(post(env, "remove", {"path": "/"}), 400, "bad_request")
    assert_error(post(env, "read", {"path": "/f", "user": "no-such-user-e2e"}), 400,
                 "bad_request")
    assert_error(env.request("PUT", "/v1/files/write", body=b"x"), 400, "bad_request")
    assert_error(env.request("GET", "/v1/files/read"), 405, "method_not_allowed")
    r = env.request("GET", "/v1/files/write")
    assert_error(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "PUT, POST"
    assert_error(post(env, "nope", {"path": "/"}), 404, "not_found")
    assert_error(env.request("POST", "/v1/files/read", body={"path": "/f"}, token=None), 401,
                 "unauthorized")


@pytest.mark.parametrize("path", [
    "../outside/secret", "/../outside/secret", "/a/../../outside/secret",
    "/up/secret", "/abs/outside/secret", "/chain/secret", "/proc-root" + "/etc/hostname",
])
def test_no_path_or_symlink_escapes_the_root(env, path):
    (env.root / "a").mkdir()
    os.symlink("../outside", env.root / "up")
    os.symlink("/", env.root / "abs")  # absolute: the root's own "/"
    os.symlink("up", env.root / "chain")
    os.symlink("/proc/self/root", env.root / "proc-root")
    r = read(env, path)
    assert r.status in (403, 404), (path, r)
    assert b"top secret" not in r.body
    # writing through the same path never lands outside either
    put(env, path, b"pwned")
    assert (env.outside / "secret").read_text() == "top secret"
    assert sorted(os.listdir(env.outside)) == ["secret"]


def test_move_and_remove_stay_inside(env):
    os.symlink(str(env.outside), env.root / "out")  # absolute host path: means root/<that path>
    os.symlink("../outside", env.root / "up")
    assert put(env, "/f", b"data").status == 200
    r = post(env, "move", {"source": "/f", "destination": "/up/stolen"})
    assert not (env.outside / "stolen").exists()
    assert post(env, "remove", {"path": "/up", "recursive": True}).status == 200
    assert (env.outside / "secret").read_text() == "top secret"  # the link went, not its target
    assert not os.path.lexists(env.root / "up")
    assert r.status == 200 or 400 <= r.status < 500, r  # a dangling link: refused or inside


def test_user_rights_and_ownership(env):
    secret = env.root / "private"
    secret.write_text("mine")
    os.chmod(secret, 0o600)
    assert_error(read(env, "/private", user="nobody"), 403, "forbidden")
    assert read(env, "/private").body == b"mine"  # the daemon's own rights

    home = env.root / "home"
    home.mkdir()
    os.chown(home, 65534, 65534)
    r = put(env, "/home/made-by-nobody", b"n", user="nobody")
    assert r.status == 200, r
    st = os.stat(home / "made-by-nobody")
    assert (st.st_uid, st.st_gid) == (65534, 65534)
    assert r.json()["owner"] == "nobody"
    assert_error(put(env, "/not-nobodys", b"n", user="nobody"), 403, "forbidden")
    assert not (env.root / "not-nobodys").exists()


def curl_form(d, route, fields, query=""):
    """curl -F, the way users upload: fields in order, ("name", "@file") for a file part."""
    import subprocess

    args = ["curl", "-sS", "-H", f"Authorization: Bearer {d.token}", "-w", "\n%{http_code}"]
    for k, v in fields:
        args += ["-F", f"{k}={v}"]
    args.append(f"http://127.0.0.1:{d.port}/v1/files/{route}{query}")
    out = subprocess.run(args, capture_output=True, check=True, timeout=DEADLINE).stdout
    body, _, code = out.rpartition(b"\n")
    return int(code), body


@pytest.mark.parametrize("route", ["write", "stream/write"])
def test_multipart_write_with_curl(env, tmp_path, route):
    src = tmp_path / "upload.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)
    src.write_bytes(data)
    code, body = curl_form(env, route, [("path", "/m/up.bin"), ("file", f"@{src}")])
    assert code == 200, body
    assert (env.root / "m" / "up.bin").read_bytes() == data
    # the path in the query works too, and other fields are ignored
    code, body = curl_form(env, route, [("note", "hi"), ("file", f"@{src}")], "?path=/m/q.bin")
    assert code == 200, body
    assert (env.root / "m" / "q.bin").read_bytes() == data


def test_multipart_errors(env, tmp_path):
    src = tmp_path / "f"
    src.write_bytes(b"x")
    code, body = curl_form(env, "write", [("file", f"@{src}"), ("path", "/late")])
    assert code == 400 and b"must come before" in body, body
    code, body = curl_form(env, "write", [("path", "/nofile")])
    assert code == 400 and b"no \\\"file\\\" part" in body, body
    r = env.request("POST", "/v1/files/write", body=b"raw", headers={"Content-Type": "text/plain"})
    assert_error(r, 400, "bad_request")
    boundary = "zzz"
    cut = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"path\"\r\n\r\n/cut\r\n"
           f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc").encode()
    r = env.request("POST", "/v1/files/write", body=cut,
                    headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert_error(r, 400, "bad_request")
    assert not (env.root / "cut").exists()
    assert [p for p in os.listdir(env.root) if p.startswith(".")] == []


# ---- envd's /files --------------------------------------------------------------------------


def envd_get(d, path, headers=None, method="GET", user=None):
    q = {"path": path}
    if user:
        q["username"] = user
    return d.request(method, "/files?" + urllib.parse.urlencode(q), headers=headers)


def test_envd_upload_octet_stream_and_download_with_ranges(env):
    data = bytes(range(256)) * 4
    r = env.request("POST", "/files?path=/e/f.bin", body=data,
                    headers={"Content-Type": "application/octet-stream"})
    assert r.status == 200, r
    assert r.json() == [{"path": "/e/f.bin", "name": "f.bin", "type": "file"}]
    r = envd_get(env, "/e/f.bin")
    assert (r.status, r.body) == (200, data)
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-disposition"] == "inline; filename=f.bin"
    assert r.headers["content-length"] == str(len(data))
    r = envd_get(env, "/e/f.bin", headers={"Range": "bytes=2-5"})
    assert (r.status, r.body) == (206, data[2:6]), r
    assert r.headers["content-range"] == f"bytes 2-5/{len(data)}"
    r = envd_get(env, "/e/f.bin", headers={"Range": "bytes=-3"})
    assert (r.status, r.body) == (206, data[-3:])
    r = envd_get(env, "/e/f.bin", headers={"Range": "bytes=1000-"})
    assert (r.status, r.body) == (206, data[1000:])
    r = envd_get(env, "/e/f.bin", headers={"Range": "bytes=5000-"})
    assert r.status == 416 and r.headers["content-range"] == f"bytes */{len(data)}"
    r = envd_get(env, "/e/f.bin", headers={"Range": "bytes=0-1,4-5"})  # several: ignored
    assert (r.status, r.body) == (200, data)
    lm = r.headers["last-modified"]
    r = envd_get(env, "/e/f.bin", headers={"If-Modified-Since": lm})
    assert (r.status, r.body) == (304, b"")
    r = envd_get(env, "/e/f.bin", method="HEAD")
    assert (r.status, r.body, r.headers["content-length"]) == (200, b"", str(len(data)))


def test_envd_multipart_upload_of_several_files(env):
    boundary = "b0und"
    parts = [("file", "/e/one.txt", b"one"), ("other", None, b"ignored"),
             ("file", "rel/two.txt", b"two\r\n--b0un")]
    body = b""
    for name, fn, content in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{fn}"' if fn else "")
        body += f"--{boundary}\r\nContent-Disposition: {disp}\r\n\r\n".encode() + content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    r = env.request("POST", "/files", body=body,
                    headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status == 200, r
    assert [e["path"] for e in r.json()] == ["/e/one.txt", "/root/rel/two.txt"]
    assert (env.root / "e" / "one.txt").read_bytes() == b"one"
    assert (env.root / "root" / "rel" / "two.txt").read_bytes() == b"two\r\n--b0un"
    # the same path twice: nothing is written
    body2 = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                     f"filename=\"/dup\"\r\n\r\nx\r\n".encode() for _ in range(2))
    body2 += f"--{boundary}--\r\n".encode()
    r = env.request("POST", "/files", body=body2,
                    headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status == 400 and r.json()["code"] == 400, r
    assert not (env.root / "dup").exists()


def test_envd_errors(env):
    (env.root / "adir").mkdir()
    r = envd_get(env, "/nope")
    assert (r.status, r.json()) == (404, {"code": 404, "message": "path '/nope' does not exist"})
    r = envd_get(env, "/adir")
    assert (r.status, r.json()["message"]) == (400, "path '/adir' is a directory")
    assert envd_get(env, "/x", user="no-such-user-e2e").status == 401
    r = env.request("POST", "/files?path=/g", body=b"\x1f\x8b",
                    headers={"Content-Type": "application/octet-stream",
                             "Content-Encoding": "br"})
    assert r.status == 400
    r = env.request("POST", "/files", body=b"x", headers={"Content-Type": "text/plain"})
    assert r.status == 400
    r = env.request("POST", "/files", body=b"x",
                    headers={"Content-Type": "application/octet-stream"})
    assert r.status == 400  # no path
    assert envd_get(env, "../outside/secret").status == 404


def test_x_access_token_authenticates(env):
    r = env.request("GET", "/files?path=/nope", token=None, headers={"X-Access-Token": env.token})
    assert r.status == 404
    r = env.request("GET", "/files?path=/nope", token=None, headers={"X-Access-Token": "wrong"})
    assert r.status == 401


def test_envd_gzip_both_ways(env):
    import gzip
    data = b"compress me " * 50000
    r = env.request("POST", "/files?path=/z/in.txt", body=gzip.compress(data),
                    headers={"Content-Type": "application/octet-stream",
                             "Content-Encoding": "gzip"})
    assert r.status == 200, r
    assert (env.root / "z" / "in.txt").read_bytes() == data
    r = envd_get(env, "/z/in.txt", headers={"Accept-Encoding": "gzip"})
    assert r.status == 200 and r.headers["content-encoding"] == "gzip", r.headers
    assert gzip.decompress(r.body) == data
    assert len(r.body) < len(data) // 10
    r = envd_get(env, "/z/in.txt", headers={"Accept-Encoding": "gzip;q=0.5, identity"})
    assert (r.status, r.body) == (200, data) and "content-encoding" not in r.headers
    r = envd_get(env, "/z/in.txt", headers={"Accept-Encoding": "gzip", "Range": "bytes=0-3"})
    assert (r.status, r.body) == (206, data[:4])  # a range is served in identity
    r = envd_get(env, "/z/in.txt", headers={"Accept-Encoding": "br, identity;q=0"})
    assert r.status == 406 and b"supported: [gzip]" in r.body
    # a multipart body in gzip, and a corrupt one
    body = (b"--q\r\nContent-Disposition: form-data; name=\"file\"; filename=\"/z/m\"\r\n\r\n"
            + data + b"\r\n--q--\r\n")
    r = env.request("POST", "/files", body=gzip.compress(body),
                    headers={"Content-Type": "multipart/form-data; boundary=q",
                             "Content-Encoding": "gzip"})
    assert r.status == 200, r
    assert (env.root / "z" / "m").read_bytes() == data
    r = env.request("POST", "/files?path=/z/bad", body=gzip.compress(data)[:100],
                    headers={"Content-Type": "application/octet-stream",
                             "Content-Encoding": "gzip"})
    assert r.status == 400 and not (env.root / "z" / "bad").exists(), r


@pytest.mark.timeout(300)
@pytest.mark.parametrize("framing", ["chunked", "length"])
def test_one_gib_up_and_down_in_flat_memory(env, framing):
    from conftest import proc_rss_kib

    block = os.urandom(1024 * 1024)
    n = 1024
    want = hashlib.sha256()
    for _ in range(n):
        want.update(block)
    before = proc_rss_kib(env.pid)

    def body():
        for _ in range(n):
            yield block

    conn = env.connection(timeout=120)
    framing_headers = {"Transfer-Encoding": "chunked"} if framing == "chunked" else \
        {"Content-Length": str(n * len(block))}
    conn.request("PUT", "/v1/files/write?path=/gib", body=body(),
                 headers={**env.auth_header(), **framing_headers},
                 encode_chunked=framing == "chunked")
    r = conn.getresponse()
    assert r.status == 200, r.read()
    r.read()
    conn.close()
    assert os.path.getsize(env.root / "gib") == n * len(block)

    conn = env.connection(timeout=120)
    conn.request("POST", "/v1/files/read", body=b'{"path":"/gib"}',
                 headers={**env.auth_header(), "Content-Type": "application/json"})
    r = conn.getresponse()
    got = hashlib.sha256()
    total = 0
    while True:
        chunk = r.read(1024 * 1024)
        if not chunk:
            break
        got.update(chunk)
        total += len(chunk)
    conn.close()
    assert (total, got.digest()) == (n * len(block), want.digest())
    grew = proc_rss_kib(env.pid) - before
    assert grew < 32 * 1024, f"the daemon grew by {grew} KiB moving 1 GiB"


def test_a_fifo_or_device_never_blocks_the_daemon(env):
    os.mkfifo(env.root / "fifo")
    assert_error(read(env, "/fifo"), 400, "bad_request")
    r = envd_get(env, "/fifo")
    assert r.status == 400, r
    assert env.health()["status"] == "ok"


def test_multipart_padding_is_bounded(env):
    body = b"--B" + b" " * 1_000_000
    r = env.request("POST", "/v1/files/write?path=/p", body=body,
                    headers={"Content-Type": "multipart/form-data; boundary=B"})
    assert_error(r, 400, "bad_request")


def test_a_gzip_download_does_not_hold_the_loop(env):
    import threading

    with open(env.root / "sparse", "wb") as f:
        f.truncate(64 * 1024 ** 3)  # 64 GiB of zeros: compresses at memory speed
    stop = threading.Event()
    s = socket.create_connection(("127.0.0.1", env.port), timeout=DEADLINE)

    def reader():
        try:
            s.sendall((f"GET /files?path=/sparse HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n"
                       f"Authorization: Bearer {env.token}\r\n\r\n").encode())
            while not stop.is_set() and s.recv(1 << 20):
                pass
        except OSError:
            pass

    t = threading.Thread(target=reader)
    t.start()
    try:
        for _ in range(5):  # other clients are served while it compresses
            assert env.health()["status"] == "ok"
    finally:
        stop.set()
        s.close()
        t.join(DEADLINE)
