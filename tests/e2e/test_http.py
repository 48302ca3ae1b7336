# SPDX-License-Identifier: MIT
"""The HTTP server: listeners, keep-alive, concurrency, limits and malformed input."""

import os
import socket
import stat
import threading
import time

import pytest

from conftest import DEADLINE, RawClient, assert_error, proc_rss_kib, wait_for

HEALTH = b"GET /health HTTP/1.1\r\nHost: e2e\r\n\r\n"


def _auth(d):
    return {"Authorization": f"Bearer {d.token}"}


def _assert_healthy(d):
    assert d.running(), d.stderr()
    assert d.health()["status"] == "ok"


# -- listeners


def test_unix_socket_listener(daemon_factory):
    d = daemon_factory(listen="unix")
    st = os.stat(d.unix_path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert d.health()["status"] == "ok"
    assert d.request("GET", "/v1/system").status == 200
    with RawClient(d.address) as c:
        for _ in range(3):
            assert c.request("GET", "/v1/system", headers=_auth(d)).status == 200


def test_unix_socket_replaces_stale_socket_file(daemon_factory):
    first = daemon_factory(listen="unix")
    path = first.unix_path
    first.kill()  # SIGKILL: the socket file stays behind
    assert os.path.exists(path)
    d = daemon_factory(listen=f"unix:{path}")
    assert d.health()["status"] == "ok"


# -- keep-alive and concurrency


def test_keep_alive_many_requests_on_one_connection(daemon):
    with RawClient(daemon.address) as c:
        for i in range(20):
            r = c.request("GET", "/health" if i % 2 else "/v1/system", headers=_auth(daemon))
            assert r.status == 200, r
            assert r.headers.get("connection", "").lower() != "close"


def test_50_concurrent_keep_alive_clients(daemon):
    errors = []
    barrier = threading.Barrier(50)

    def client(n):
        try:
            with RawClient(daemon.address) as c:
                local = c.sock.getsockname()
                barrier.wait(DEADLINE)
                for i in range(5):
                    path = "/v1/system" if (n + i) % 2 else "/health"
                    r = c.request("GET", path, headers=_auth(daemon))
                    if r.status != 200:
                        errors.append((n, i, r))
                    r.json()
                assert c.sock.getsockname() == local
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append((n, repr(e)))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE * 3)
    assert not any(t.is_alive() for t in threads), "client threads hung"
    assert not errors, errors[:5]
    _assert_healthy(daemon)


def test_pipelined_requests_are_answered_in_order(daemon):
    with RawClient(daemon.address) as c:
        auth = f"Authorization: Bearer {daemon.token}\r\n".encode()
        reqs = [HEALTH,
                b"GET /v1/system HTTP/1.1\r\nHost: e2e\r\n" + auth + b"\r\n",
                b"GET /nope HTTP/1.1\r\nHost: e2e\r\n" + auth + b"\r\n",
                HEALTH]
        c.send(b"".join(reqs))
        statuses = [c.read_response().status for _ in reqs]
        assert statuses == [200, 200, 404, 200]


def test_connection_close_is_honoured(daemon):
    with RawClient(daemon.address) as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: e2e\r\nConnection: close\r\n\r\n")
        assert c.read_response().status == 200
        assert c.at_eof() == b""


def test_http10_without_keep_alive_is_closed(daemon):
    with RawClient(daemon.address) as c:
        c.send(b"GET /health HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert c.at_eof() == b""


# -- errors and request bodies


def test_not_found_and_method_not_allowed(daemon):
    assert_error(daemon.request("GET", "/v1/nope"), 404, "not_found")
    assert_error(daemon.request("DELETE", "/v1/system"), 405, "method_not_allowed")
    assert_error(daemon.request("POST", "/v1/system", body=b"{}"), 405, "method_not_allowed")


def test_body_on_error_route_keeps_connection_usable(daemon):
    with RawClient(daemon.address) as c:
        body = b"x" * 5000
        r = c.request("POST", "/v1/nope", headers=_auth(daemon), body=body)
        assert_error(r, 404, "not_found")
        r = c.request("POST", "/v1/system", headers=_auth(daemon), body=body)
        assert_error(r, 405, "method_not_allowed")
        assert c.request("GET", "/v1/system", headers=_auth(daemon)).status == 200


def _chunked(body, size, ext=b""):
    out = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += b"%x" % len(part) + ext + b"\r\n" + part + b"\r\n"
    return out + b"0\r\n"


def test_chunked_body_is_parsed_and_keep_alive_continues(daemon):
    auth = f"Authorization: Bearer {daemon.token}\r\n".encode()
    body = bytes(range(256)) * 40
    with RawClient(daemon.address) as c:
        for path, status, code in [("/v1/system", 405, "method_not_allowed"),
                                   ("/v1/nope", 404, "not_found")]:
            c.send(f"POST {path} HTTP/1.1\r\nHost: e2e\r\n".encode() + auth
                   + b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(body, 1000) + b"\r\n")
            assert_error(c.read_response(), status, code)
        assert c.request("GET", "/v1/system", headers=_auth(daemon)).status == 200


def test_chunked_extensions_and_trailers(daemon):
    auth = f"Authorization: Bearer {daemon.token}\r\n".encode()
    with RawClient(daemon.address) as c:
        c.send(b"POST /v1/nope HTTP/1.1\r\nHost: e2e\r\n" + auth
               + b"Transfer-Encoding: chunked\r\n\r\n"
               + _chunked(b"hello world", 4, ext=b";name=value") + b"X-Trailer: yes\r\n\r\n")
        assert_error(c.read_response(), 404, "not_found")
        assert c.request("GET", "/v1/system", headers=_auth(daemon)).status == 200


def test_chunked_body_sent_in_pieces(daemon):
    auth = f"Authorization: Bearer {daemon.token}\r\n".encode()
    data = (b"POST /v1/nope HTTP/1.1\r\nHost: e2e\r\n" + auth
            + b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(b"a" * 300, 100) + b"\r\n")
    with RawClient(daemon.address) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(0, len(data), 7):
            c.send(data[i:i + 7])
        assert_error(c.read_response(), 404, "not_found")
        assert c.request("GET", "/health").status == 200


@pytest.mark.parametrize("body", [
    b"zz\r\nabc\r\n0\r\n\r\n",       # not hex
    b"3\r\nabcdef\r\n0\r\n\r\n",     # chunk longer than announced
    b"3\r\nabcXY0\r\n\r\n",           # no CRLF after the chunk data
])
def test_invalid_chunked_body_is_400(daemon, body):
    with RawClient(daemon.address) as c:
        c.send(b"POST /v1/nope HTTP/1.1\r\nHost: e2e\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
        assert_error(c.read_response(), 400, "bad_request")
    _assert_healthy(daemon)


# -- malformed requests, while another client keeps working


@pytest.fixture
def good_client(daemon):
    c = RawClient(daemon.address)
    assert c.request("GET", "/health").status == 200
    yield c
    # The well-behaved client's connection survived whatever the test did.
    assert c.request("GET", "/v1/system", headers=_auth(daemon)).status == 200
    c.close()


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET /health\r\n\r\n",
    b"GET /health HTTP/1.1 extra\r\n\r\n",
    b"GET /health FTP/1.1\r\n\r\n",
    b"GET /health HTTP/1.1\r\nNo-Colon-Here\r\n\r\n",
    b"GET /health HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    b"GET /health HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    b"\x00\x01\x02\x03\r\n\r\n",
])
def test_bad_request_is_400(daemon, good_client, request_bytes):
    with RawClient(daemon.address) as c:
        c.send(request_bytes)
        assert_error(c.read_response(), 400, "bad_request")
    assert good_client.request("GET", "/health").status == 200


def test_headers_too_large_is_431(daemon, good_client):
    with RawClient(daemon.address) as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: e2e\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n")
        assert_error(c.read_response(), 431, "headers_too_large")
    _assert_healthy(daemon)


def test_many_headers_too_large_is_431(daemon, good_client):
    with RawClient(daemon.address) as c:
        c.send(b"GET /health HTTP/1.1\r\n"
               + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 90) for i in range(500)) + b"\r\n")
        assert_error(c.read_response(), 431, "headers_too_large")
    _assert_healthy(daemon)


def test_max_header_bytes_from_config(daemon_factory):
    d = daemon_factory(config={"http": {"max_header_bytes": 1024}})
    with RawClient(d.address) as c:
        r = c.request("GET", "/health", headers={"X-Small": "a" * 500})
        assert r.status == 200
        c.send(b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 2000 + b"\r\n\r\n")
        assert_error(c.read_response(), 431, "headers_too_large")
    _assert_healthy(d)


def test_content_length_over_limit_is_413(daemon, good_client):
    with RawClient(daemon.address) as c:
        c.send(b"POST /v1/system HTTP/1.1\r\nHost: e2e\r\nContent-Length: 1048577\r\n"
               + f"Authorization: Bearer {daemon.token}\r\n\r\n".encode())
        assert_error(c.read_response(), 413, "body_too_large")
    _assert_healthy(daemon)


def test_body_limit_from_config(daemon_factory):
    d = daemon_factory(config={"http": {"max_body_bytes": 1024}})
    auth = f"Authorization: Bearer {d.token}\r\n".encode()
    with RawClient(d.address) as c:
        r = c.request("POST", "/v1/nope", headers=_auth(d), body=b"a" * 1024)
        assert_error(r, 404, "not_found")  # exactly at the limit is fine
        c.send(b"POST /v1/nope HTTP/1.1\r\nHost: e2e\r\nContent-Length: 1025\r\n" + auth + b"\r\n")
        assert_error(c.read_response(), 413, "body_too_large")
    with RawClient(d.address) as c:
        c.send(b"POST /v1/nope HTTP/1.1\r\nHost: e2e\r\nTransfer-Encoding: chunked\r\n" + auth
               + b"\r\n" + _chunked(b"b" * 2000, 500) + b"\r\n")
        assert_error(c.read_response(), 413, "body_too_large")
    _assert_healthy(d)


def test_oversized_body_is_never_parsed_as_a_request(daemon_factory):
    # The body of a rejected request must not be taken for the next request on the connection.
    d = daemon_factory(config={"http": {"max_body_bytes": 16}})
    smuggled = b"GET /health HTTP/1.1\r\nHost: e2e\r\n\r\n"
    with RawClient(d.address) as c:
        c.send(b"POST /v1/nope HTTP/1.1\r\nHost: e2e\r\n"
               + f"Authorization: Bearer {d.token}\r\n".encode()
               + b"Content-Length: %d\r\n\r\n" % len(smuggled) + smuggled)
        assert_error(c.read_response(), 413, "body_too_large")
        rest = c.at_eof()
        assert rest == b"", f"a second response followed the 413: {rest[:200]!r}"
    _assert_healthy(d)


def test_truncated_body_then_close(daemon, good_client):
    for _ in range(5):
        with RawClient(daemon.address) as c:
            c.send(b"POST /v1/nope HTTP/1.1\r\nHost: e2e\r\nContent-Length: 100\r\n\r\n0123456789")
    with RawClient(daemon.address) as c:
        c.send(b"POST /v1/nope HTTP/1.1\r\nHost: e2e\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nab")
    with RawClient(daemon.address) as c:
        c.send(b"GET /heal")
    _assert_healthy(daemon)


def test_slow_client_gets_408(daemon_factory):
    d = daemon_factory(config={"http": {"request_timeout": "500ms"}})
    good = RawClient(d.address)
    with RawClient(d.address) as slow:
        slow.send(b"GET /health HTTP/1.1\r\nHost: e2e\r\n")
        # While the slow client stalls, others are served.
        assert good.request("GET", "/health").status == 200
        assert d.request("GET", "/v1/system").status == 200
        assert_error(slow.read_response(), 408, "request_timeout")
        assert slow.at_eof() == b"", "the connection must be closed after 408"
    assert good.request("GET", "/health").status == 200
    good.close()


def test_slow_body_gets_408(daemon_factory):
    d = daemon_factory(config={"http": {"request_timeout": "500ms"}})
    with RawClient(d.address) as slow:
        slow.send(b"POST /v1/nope HTTP/1.1\r\nHost: e2e\r\nContent-Length: 10\r\n\r\n12345")
        assert_error(slow.read_response(), 408, "request_timeout")
        assert slow.at_eof() == b""
    _assert_healthy(d)


def test_idle_connection_without_bytes_is_closed_after_idle_timeout(daemon_factory):
    d = daemon_factory(config={"http": {"idle_timeout": "500ms", "request_timeout": "30s"}})
    with RawClient(d.address) as c:
        assert c.request("GET", "/health").status == 200
        data = c.at_eof()
        assert b" 408 " not in data.split(b"\r\n", 1)[0]
    _assert_healthy(d)


def test_pipelining_client_that_never_reads(daemon_factory):
    """A client floods pipelined requests and never reads: others are still served and the
    daemon's memory stays bounded (it must stop reading once its output backs up)."""
    # Under ASan, freed memory sits in a 256 MiB quarantine and would look like growth.
    asan = os.environ.get("ASAN_OPTIONS", "")
    d = daemon_factory(env={"ASAN_OPTIONS": f"{asan}:quarantine_size_mb=1".lstrip(":")})
    assert d.request("GET", "/v1/system").status == 200  # warm up the request path
    rss_before = proc_rss_kib(d.pid)
    flood = RawClient(d.address, rcvbuf=4096)
    flood.sock.setblocking(False)
    chunk = HEALTH * 2000
    sent, limit, rounds = 0, 8 * 1024 * 1024, 0
    stalled_since = None
    good = RawClient(d.address)
    try:
        while sent < limit:
            rounds += 1
            if rounds % 20 == 0:
                assert good.request("GET", "/health").status == 200
            try:
                sent += flood.sock.send(chunk)
                stalled_since = None
            except BlockingIOError:
                now = time.monotonic()
                stalled_since = stalled_since or now
                if now - stalled_since > 1.0:
                    break  # the daemon stopped reading from us: the expected outcome
                time.sleep(0.01)
            except (BrokenPipeError, ConnectionResetError):
                break  # the daemon gave up on us: acceptable too
        assert good.request("GET", "/health").status == 200
        assert d.request("GET", "/v1/system").status == 200
        rss_after = proc_rss_kib(d.pid)
        grown = rss_after - rss_before
        assert grown < 16 * 1024, (
            f"VmRSS grew by {grown} KiB ({rss_before} -> {rss_after}) after {sent} bytes of "
            f"pipelined requests that were never read")
    finally:
        flood.close()
        good.close()
    _assert_healthy(d)


def test_connection_limit(daemon_factory):
    d = daemon_factory(config={"http": {"max_connections": 5}})
    held = []
    try:
        for _ in range(5):
            c = RawClient(d.address)
            assert c.request("GET", "/health").status == 200
            held.append(c)
        with RawClient(d.address) as extra:
            extra.send(HEALTH)
            try:
                r = extra.read_response()
            except EOFError:
                r = None  # closed without an answer: allowed
            if r is not None:
                assert_error(r, 503, "too_many_connections")
        # The five held connections still work.
        for c in held:
            assert c.request("GET", "/health").status == 200
        # Once one closes, a new client gets in.
        held.pop().close()

        def new_client_served():
            try:
                with RawClient(d.address) as c:
                    return c.request("GET", "/health").status == 200
            except (EOFError, OSError):
                return False

        wait_for(new_client_served, what="a new connection to be served after one closed")
    finally:
        for c in held:
            c.close()
