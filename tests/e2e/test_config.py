# SPDX-License-Identifier: MIT
"""Command line, JSON configuration file, $env substitution and configuration errors."""

import json
import re
import signal
import socket

import pytest

from conftest import REPO, free_port, helper, read_file, run_sprite_env, wait_for


def _one_error_line(result):
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one stderr line, got:\n{result.stderr}"
    return lines[0]


def _bad_config(tmp_path, config, *args):
    path = tmp_path / "config.json"
    path.write_text(config if isinstance(config, str) else json.dumps(config))
    listen = f"127.0.0.1:{free_port()}"
    return run_sprite_env(["-config", str(path), "-listen", listen, *args, "--", "true"],
                          env={"SPRITE_HTTP_API_TOKEN": "t", "SPRITE_WRITE_DIR": str(tmp_path)})


# -- -version


@pytest.mark.parametrize("flag", ["-version", "--version"])
def test_version(flag):
    r = run_sprite_env([flag])
    assert r.returncode == 0, r.stderr
    m = re.fullmatch(r"sprite-env version (\S+)\n", r.stdout)
    assert m, repr(r.stdout)
    assert m.group(1).startswith((REPO / "VERSION").read_text().strip())


def test_health_reports_same_version(daemon):
    r = run_sprite_env(["-version"])
    assert r.stdout.split()[-1] == daemon.health()["version"]


# -- errors: exit 2 and one line naming the key


def test_missing_config_file(tmp_path):
    missing = tmp_path / "nope.json"
    r = run_sprite_env(["-config", str(missing), "-listen", f"127.0.0.1:{free_port()}"])
    assert str(missing) in _one_error_line(r)


@pytest.mark.parametrize("text", ['{"log_level": ', "not json", '{"a": 1,}', "", '{"a": 1} x'])
def test_invalid_json(tmp_path, text):
    line = _one_error_line(_bad_config(tmp_path, text))
    assert "config.json" in line or "json" in line.lower(), line


@pytest.mark.parametrize("text", ["[1, 2]", '"string"', "null", "42"])
def test_top_level_not_an_object(tmp_path, text):
    _one_error_line(_bad_config(tmp_path, text))


@pytest.mark.parametrize("config, key", [
    ({"process_command": ["sh", 3]}, "process_command[1]"),
    ({"process_command": "sh -c true"}, "process_command"),
    ({"log_json": "yes"}, "log_json"),
    ({"log_level": 3}, "log_level"),
    ({"log_level": "loud"}, "log_level"),
    ({"api_listen_addr": 8080}, "api_listen_addr"),
    ({"process_environment": ["A=1", None]}, "process_environment[1]"),
    ({"process_working_dir": ["/"]}, "process_working_dir"),
    ({"keep_alive_on_error": "maybe"}, "keep_alive_on_error"),  # "true" is fine, for $env
    ({"debug_endpoints": 1}, "debug_endpoints"),
    ({"exec": {"wrapper_command": ["ok", False]}}, "exec.wrapper_command[1]"),
    ({"exec": {"tty_wrapper_command": "x"}}, "exec.tty_wrapper_command"),
    ({"http": {"max_body_bytes": "1MB"}}, "http.max_body_bytes"),
    ({"http": {"max_connections": 1.5}}, "http.max_connections"),
    ({"http": []}, "http"),
])
def test_wrong_type_names_key_path(tmp_path, config, key):
    line = _one_error_line(_bad_config(tmp_path, config))
    assert key in line, line


@pytest.mark.parametrize("config, key", [
    ({"http": {"idle_timeout": "10 parsecs"}}, "http.idle_timeout"),
    ({"http": {"request_timeout": "5"}}, "http.request_timeout"),
    ({"http": {"request_timeout": 5}}, "http.request_timeout"),
    ({"process_graceful_shutdown_timeout": "abc"}, "process_graceful_shutdown_timeout"),
    ({"process_graceful_shutdown_timeout": ""}, "process_graceful_shutdown_timeout"),
])
def test_bad_duration_names_key_path(tmp_path, config, key):
    line = _one_error_line(_bad_config(tmp_path, config))
    assert key in line, line


@pytest.mark.parametrize("config, key", [
    ({"api_listen_addr": {"$env": "SPRITE_E2E_UNSET_VARIABLE"}}, "api_listen_addr"),
    ({"process_command": ["sh", {"$env": "SPRITE_E2E_UNSET_VARIABLE"}]}, "process_command[1]"),
    ({"http": {"idle_timeout": {"$env": "SPRITE_E2E_UNSET_VARIABLE"}}}, "http.idle_timeout"),
])
def test_unset_env_variable(tmp_path, config, key):
    line = _one_error_line(_bad_config(tmp_path, config))
    assert key in line, line
    assert "SPRITE_E2E_UNSET_VARIABLE" in line, line


@pytest.mark.parametrize("args, name", [
    (["-no-such-flag"], "no-such-flag"),
    (["-graceful-shutdown-timeout", "soon"], "graceful-shutdown-timeout"),
    (["-graceful-shutdown-timeout"], "graceful-shutdown-timeout"),
    (["-config"], "config"),
])
def test_bad_flag(args, name):
    r = run_sprite_env(["-listen", f"127.0.0.1:{free_port()}", *args])
    assert name in _one_error_line(r)


# -- things that work


def test_env_substitution_for_listen_addr(daemon_factory):
    port = free_port()
    d = daemon_factory(listen=None, config={"api_listen_addr": {"$env": "E2E_LISTEN"}},
                       env={"E2E_LISTEN": f"127.0.0.1:{port}"}, ready=False)
    d.port = port
    d.wait_ready()
    assert d.health()["status"] == "ok"


def test_process_settings_from_config(daemon_factory, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    config = {
        "process_command": ["sh", "-c", 'echo "$FROM_CONFIG|$FROM_ENV|$INHERITED|$(pwd)"'],
        "process_working_dir": str(workdir),
        "process_environment": ["FROM_CONFIG=a b=c", {"$env": "E2E_KV"}],
    }
    d = daemon_factory(config=config, env={"E2E_KV": "FROM_ENV=substituted", "INHERITED": "yes"},
                       ready=False)
    assert d.wait() == 0, d.stderr()
    assert d.stdout() == f"a b=c|substituted|yes|{workdir}\n"


def test_process_environment_overrides_inherited(daemon_factory):
    d = daemon_factory(config={"process_environment": ["E2E_VAR=from-config"]},
                       env={"E2E_VAR": "inherited"}, command=["sh", "-c", 'echo "$E2E_VAR"'],
                       ready=False)
    assert d.wait() == 0, d.stderr()
    assert d.stdout() == "from-config\n"


def test_command_line_overrides_config_command(daemon_factory):
    d = daemon_factory(config={"process_command": ["sh", "-c", "exit 5"]},
                       command=["sh", "-c", "exit 6"], ready=False)
    assert d.wait() == 6, d.stderr()


def test_unknown_keys_warn_and_still_start(daemon_factory):
    d = daemon_factory(config={"frobnicate": 1, "http": {"bogus_knob": True}})
    assert d.health()["status"] == "ok"
    warnings = [line for line in d.stderr().splitlines() if "unknown" in line.lower()]
    assert any("frobnicate" in line for line in warnings), d.stderr()
    assert any("bogus_knob" in line for line in warnings), d.stderr()


def test_unknown_component_field_is_an_error(daemon_factory):
    # unlike the daemon's own keys, a service definition is strict: a typo there would silently
    # change what runs
    d = daemon_factory(config={"components": {"anything": {"cmd": ["true"], "goes": [1]}}},
                       ready=False)
    assert d.wait() == 1
    assert 'service anything: unknown field "goes"' in d.stderr()


def test_listen_flag_overrides_config(daemon_factory):
    config_port = free_port()
    d = daemon_factory(config={"api_listen_addr": f"127.0.0.1:{config_port}"})
    assert d.port != config_port
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", config_port), timeout=5).close()


def test_graceful_flag_overrides_config(daemon_factory, tmp_path):
    ready = tmp_path / "ready"
    d = daemon_factory(config={"process_graceful_shutdown_timeout": "1h"},
                       args=["-graceful-shutdown-timeout", "300ms"],
                       command=[helper("sigrecorder"), "-i", "-r", ready, tmp_path / "log"])
    wait_for(lambda: read_file(ready), what="sigrecorder readiness")
    d.send_signal(signal.SIGTERM)
    assert d.wait() == 137, d.stderr()


def test_debug_endpoints_from_config(daemon_factory):
    d = daemon_factory(config={"debug_endpoints": True})
    assert d.request("GET", f"/debug/check-process?pid={d.pid}").status == 200


@pytest.mark.parametrize("form", ["-flag value", "-flag=value", "--flag value", "--flag=value"])
def test_flag_syntax(daemon_factory, form):
    port = free_port()
    addr = f"127.0.0.1:{port}"
    dashes = "--" if form.startswith("--") else "-"
    if "=" in form:
        args = [f"{dashes}listen={addr}"]
    else:
        args = [f"{dashes}listen", addr]
    d = daemon_factory(listen=None, args=args, ready=False)
    d.port = port
    d.wait_ready()


def test_components_dir_flag_is_accepted(daemon_factory, tmp_path):
    components = tmp_path / "components"
    components.mkdir()
    d = daemon_factory(args=["-components-dir", str(components)])
    assert d.health()["status"] == "ok"


def test_two_listeners(daemon_factory, tmp_path):
    port = free_port()
    d = daemon_factory(listen="unix", args=["-listen", f":{port}"])
    assert d.health()["status"] == "ok"  # over the unix socket
    d.unix_path = None
    d.port = port
    assert d.health()["status"] == "ok"  # over TCP


@pytest.mark.parametrize("duration", ["1m30s", "1h2m3.5s", "250ms", "2s"])
def test_duration_forms_accepted(daemon_factory, duration):
    d = daemon_factory(config={"process_graceful_shutdown_timeout": duration,
                               "http": {"idle_timeout": duration}})
    assert d.health()["status"] == "ok"


def test_log_json(daemon_factory):
    d = daemon_factory(args=["-log-json", "-debug"])
    d.send_signal(signal.SIGTERM)
    assert d.wait() == 0
    lines = [line for line in d.stderr().splitlines() if line.strip()]
    assert lines, "expected some log lines with -debug"
    for line in lines:
        assert isinstance(json.loads(line), dict), line


def test_log_json_from_config(daemon_factory):
    d = daemon_factory(config={"log_json": True, "log_level": "debug"})
    d.send_signal(signal.SIGTERM)
    assert d.wait() == 0
    lines = [line for line in d.stderr().splitlines() if line.strip()]
    assert lines
    for line in lines:
        assert isinstance(json.loads(line), dict), line
