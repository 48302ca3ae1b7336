# SPDX-License-Identifier: MIT
"""Streamed request bodies (http_server_set_body_hook), through POST /debug/body: the route
takes the body as it arrives, with no buffering limit, and answers its size, the number of
pieces it was handed and its Adler-32."""

import os
import socket
import time
import zlib

import pytest

from conftest import DEADLINE, RawClient, wait_for


@pytest.fixture
def dbg(daemon_factory):
    # a small buffered-body limit: streamed bodies must not be bound by it
    return daemon_factory(args=["-debug-endpoints"],
                          config={"http": {"max_body_bytes": 65536, "request_timeout": "1s"}})


def auth(d):
    return {"Authorization": f"Bearer {d.token}"}


def test_large_body_streams_past_the_buffered_limit(dbg):
    data = os.urandom(8 * 1024 * 1024)
    with RawClient(("127.0.0.1", dbg.port)) as c:
        r = c.request("POST", "/debug/body", headers=auth(dbg), body=data)
        assert r.status == 200, r
        assert r.json() == {"bytes": len(data), "adler32": zlib.adler32(data),
                            "chunks": r.json()["chunks"]}
        # the connection goes on with the next request
        r = c.request("GET", "/health")
        assert r.status == 200


def test_chunked_body_and_a_pipelined_request(dbg):
    data = os.urandom(300_000)
    pieces = [data[i:i + 7000] for i in range(0, len(data), 7000)]
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    head = (f"POST /debug/body HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {dbg.token}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    with RawClient(("127.0.0.1", dbg.port)) as c:
        c.send(head + body + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert r.status == 200, r
        assert (r.json()["bytes"], r.json()["adler32"]) == (len(data), zlib.adler32(data))
        assert c.read_response().status == 200


def test_a_slow_consumer_pauses_the_client_and_loses_nothing(dbg):
    data = os.urandom(2 * 1024 * 1024)
    with RawClient(("127.0.0.1", dbg.port)) as c:
        r = c.request("POST", "/debug/body?pause_ms=3", headers=auth(dbg), body=data)
        assert r.status == 200, r
        assert (r.json()["bytes"], r.json()["adler32"]) == (len(data), zlib.adler32(data))


def test_expect_continue_is_answered_before_the_body(dbg):
    with RawClient(("127.0.0.1", dbg.port)) as c:
        c.send((f"POST /debug/body HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {dbg.token}\r\n"
                "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n").encode())
        while b"\r\n\r\n" not in c.buf:
            c._fill()
        assert c.buf.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), c.buf
        c.buf = c.buf[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
        c.send(b"hello")
        r = c.read_response()
        assert r.json()["bytes"] == 5


def test_no_token_is_answered_at_once_and_the_connection_closed(dbg):
    with RawClient(("127.0.0.1", dbg.port)) as c:
        c.send(b"POST /debug/body HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n"
               + b"x" * 1000)
        r = c.read_response()
        assert r.status == 401
        assert r.headers.get("connection") == "close"
        c.at_eof()
    assert dbg.health()["status"] == "ok"


def test_a_stalled_body_times_out_and_a_cut_one_is_dropped(dbg):
    with RawClient(("127.0.0.1", dbg.port)) as c:
        c.send((f"POST /debug/body HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {dbg.token}\r\n"
                "Content-Length: 1000\r\n\r\n").encode() + b"y" * 10)
        t0 = time.monotonic()
        assert c.at_eof(timeout=DEADLINE) == b""  # closed after request_timeout, no answer
        assert time.monotonic() - t0 < DEADLINE
    s = socket.create_connection(("127.0.0.1", dbg.port), timeout=DEADLINE)
    s.sendall((f"POST /debug/body HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {dbg.token}\r\n"
               "Content-Length: 1000000\r\n\r\n").encode() + b"z" * 100_000)
    s.close()
    wait_for(lambda: dbg.health()["status"] == "ok", what="daemon healthy after a cut body")
    with RawClient(("127.0.0.1", dbg.port)) as c:
        r = c.request("POST", "/debug/body", headers=auth(dbg), body=b"ok")
        assert r.json()["bytes"] == 2


def test_buffered_routes_keep_their_limit(dbg):
    with RawClient(("127.0.0.1", dbg.port)) as c:
        r = c.request("POST", "/v1/exec", headers=auth(dbg), body=b"x" * 70000)
        assert r.status == 413, r
