# SPDX-License-Identifier: MIT
"""API authentication: Bearer and Basic forms, and the generated token file."""

import os
import stat

import pytest

from conftest import assert_error, basic_auth, wait_for


def test_health_needs_no_auth(daemon):
    r = daemon.request("GET", "/health", token=None)
    assert r.status == 200, r
    assert r.json()["status"] == "ok"


def test_health_ignores_a_wrong_token(daemon):
    assert daemon.request("GET", "/health", token="wrong").status == 200


def test_no_authorization_header(daemon):
    assert_error(daemon.request("GET", "/v1/system", token=None), 401, "unauthorized")


def test_wrong_token(daemon):
    assert_error(daemon.request("GET", "/v1/system", token="x" + daemon.token), 401,
                 "unauthorized")


def test_token_prefix_is_not_enough(daemon):
    assert_error(daemon.request("GET", "/v1/system", token=daemon.token[:-1]), 401,
                 "unauthorized")


def test_right_token(daemon):
    r = daemon.request("GET", "/v1/system")
    assert r.status == 200, r
    assert isinstance(r.json()["pid1"], bool)


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_bearer_scheme_is_case_insensitive(daemon, scheme):
    r = daemon.request("GET", "/v1/system", token=None,
                       headers={"Authorization": f"{scheme} {daemon.token}"})
    assert r.status == 200, r


@pytest.mark.parametrize("header", [
    "{token}",
    "Token {token}",
    "Bearer",
    "Bearer ",
    "Bearer{token}",
])
def test_malformed_authorization(daemon, header):
    r = daemon.request("GET", "/v1/system", token=None,
                       headers={"Authorization": header.format(token=daemon.token)})
    assert_error(r, 401, "unauthorized")


def test_basic_form(daemon):
    r = daemon.request("GET", "/v1/system", token=None,
                       headers={"Authorization": basic_auth("bearer", daemon.token)})
    assert r.status == 200, r


def test_basic_scheme_is_case_insensitive(daemon):
    r = daemon.request("GET", "/v1/system", token=None,
                       headers={"Authorization": basic_auth("bearer", daemon.token)
                                .replace("Basic", "basic")})
    assert r.status == 200, r


@pytest.mark.parametrize("user, password", [
    ("user", "{token}"),
    ("", "{token}"),
    ("bearer", "wrong"),
    ("bearer", ""),
    ("{token}", "bearer"),
])
def test_basic_with_wrong_credentials(daemon, user, password):
    hdr = basic_auth(user.format(token=daemon.token), password.format(token=daemon.token))
    assert_error(daemon.request("GET", "/v1/system", token=None, headers={"Authorization": hdr}),
                 401, "unauthorized")


def test_basic_with_invalid_base64(daemon):
    r = daemon.request("GET", "/v1/system", token=None, headers={"Authorization": "Basic !!!"})
    assert_error(r, 401, "unauthorized")


def test_unknown_route_needs_auth(daemon):
    assert_error(daemon.request("GET", "/no/such/route", token=None), 401, "unauthorized")
    assert_error(daemon.request("GET", "/no/such/route"), 404, "not_found")


def test_debug_route_needs_auth(daemon_factory):
    d = daemon_factory(args=["-debug-endpoints"])
    assert_error(d.request("POST", "/debug/create-zombie", token=None), 401, "unauthorized")
    assert_error(d.request("GET", f"/debug/check-process?pid={d.pid}", token=None), 401,
                 "unauthorized")


def test_generated_token_file(daemon_factory):
    d = daemon_factory(token=None)
    path = d.state_dir / "api-token"
    wait_for(path.exists, what=f"{path}")
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    token = path.read_text().strip()
    assert len(token) >= 16, token
    assert str(path) in d.stderr(), "the token file path should be logged"
    assert token not in d.stderr(), "the token itself must not be logged"
    assert d.request("GET", "/v1/system", token=token).status == 200
    assert_error(d.request("GET", "/v1/system", token=None), 401, "unauthorized")
    assert_error(d.request("GET", "/v1/system", token=token + "x"), 401, "unauthorized")


def test_generated_tokens_differ(daemon_factory):
    a = daemon_factory(token=None)
    b = daemon_factory(token=None)
    ta = (a.state_dir / "api-token").read_text().strip()
    tb = (b.state_dir / "api-token").read_text().strip()
    assert ta != tb
    assert b.request("GET", "/v1/system", token=ta).status == 401


def test_configured_token_writes_no_file(daemon):
    assert not (daemon.state_dir / "api-token").exists()
