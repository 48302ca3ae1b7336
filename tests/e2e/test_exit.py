# SPDX-License-Identifier: MIT
"""Exit statuses, graceful shutdown, exec failures, keep-alive-on-error, API-only mode."""

import signal
import time

import pytest

from conftest import alive, helper, read_file, wait_for


# -- the main process exits by itself


@pytest.mark.parametrize("command, status", [
    (["true"], 0),
    (["sh", "-c", "exit 3"], 3),
    (["sh", "-c", "exit 255"], 255),
    (["sh", "-c", "kill -KILL $$"], 128 + 9),
    (["sh", "-c", "kill -SEGV $$"], 128 + 11),
    (["sh", "-c", "kill -TERM $$"], 128 + 15),
])
def test_exit_status_of_main_process(daemon_factory, command, status):
    d = daemon_factory(command=command, ready=False)
    assert d.wait() == status, d.stderr()


def test_main_process_output_and_environment(daemon_factory, tmp_path):
    d = daemon_factory(command=["sh", "-c", 'echo "out:$E2E_MARK:$(pwd)"; echo err >&2'],
                       env={"E2E_MARK": "inherited"}, ready=False)
    assert d.wait() == 0, d.stderr()
    assert d.stdout() == f"out:inherited:{d.tmp}\n"
    assert "err\n" in d.stderr()


# -- exec failures


def _assert_exec_failure(d, status, name):
    assert d.wait() == status, d.stderr()
    lines = [line for line in d.stderr().splitlines() if name in line]
    assert lines, f"no stderr line names {name!r}:\n{d.stderr()}"


def test_exec_missing_absolute_path_is_127(daemon_factory, tmp_path):
    missing = str(tmp_path / "no-such-binary")
    d = daemon_factory(command=[missing, "arg"], ready=False)
    _assert_exec_failure(d, 127, missing)


def test_exec_missing_command_in_path_is_127(daemon_factory):
    d = daemon_factory(command=["sprite-e2e-no-such-command"], ready=False)
    _assert_exec_failure(d, 127, "sprite-e2e-no-such-command")


def test_exec_directory_is_126(daemon_factory, tmp_path):
    directory = tmp_path / "a-directory"
    directory.mkdir()
    d = daemon_factory(command=[directory], ready=False)
    _assert_exec_failure(d, 126, str(directory))


def test_exec_non_executable_file_is_126(daemon_factory, tmp_path):
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    d = daemon_factory(command=[script], ready=False)
    _assert_exec_failure(d, 126, str(script))


# -- SIGTERM / SIGINT and the graceful timeout


def test_sigterm_kills_default_child_with_143(daemon_factory):
    d = daemon_factory(command=["sleep", "1000"])
    pid = d.main_pid(comm="sleep")
    d.send_signal(signal.SIGTERM)
    assert d.wait() == 143, d.stderr()
    assert not alive(pid)


def test_sigint_kills_default_child_with_130(daemon_factory):
    d = daemon_factory(command=["sleep", "1000"])
    d.main_pid(comm="sleep")
    d.send_signal(signal.SIGINT)
    assert d.wait() == 130, d.stderr()


def test_graceful_timeout_sigkills_group_that_ignores_sigterm(daemon_factory, tmp_path):
    log, ready = tmp_path / "signals.log", tmp_path / "ready"
    d = daemon_factory(command=[helper("sigrecorder"), "-i", "-g", "-r", ready, log],
                       args=["-graceful-shutdown-timeout", "500ms"])
    text = wait_for(lambda: read_file(ready), what="sigrecorder readiness")
    pids = [int(line.split()[1]) for line in text.splitlines()]
    assert all(alive(p) for p in pids)
    start = time.monotonic()
    d.send_signal(signal.SIGTERM)
    assert d.wait() == 137, d.stderr()
    # It must have waited for the grace period (a lower bound, not a speed assertion).
    assert time.monotonic() - start >= 0.45
    wait_for(lambda: not any(alive(p) for p in pids), what=f"{pids} to be gone")
    assert "TERM" not in read_file(log)


def test_graceful_timeout_from_config(daemon_factory, tmp_path):
    ready = tmp_path / "ready"
    d = daemon_factory(command=[helper("sigrecorder"), "-i", "-r", ready, tmp_path / "log"],
                       config={"process_graceful_shutdown_timeout": "300ms"})
    wait_for(lambda: read_file(ready), what="sigrecorder readiness")
    d.send_signal(signal.SIGTERM)
    assert d.wait() == 137, d.stderr()


def test_second_sigterm_during_grace_does_not_change_outcome(daemon_factory, tmp_path):
    ready = tmp_path / "ready"
    d = daemon_factory(command=[helper("sigrecorder"), "-i", "-r", ready, tmp_path / "log"],
                       args=["-graceful-shutdown-timeout", "500ms"])
    wait_for(lambda: read_file(ready), what="sigrecorder readiness")
    d.send_signal(signal.SIGTERM)
    d.send_signal(signal.SIGTERM)
    assert d.wait() == 137, d.stderr()


# -- keep-alive-on-error


KEEP_ALIVE_MODES = {
    "env": dict(env={"SPRITE_KEEP_ALIVE_ON_ERROR": "true"}),
    "flag": dict(args=["-keep-alive-on-error"]),
    "config": dict(config={"keep_alive_on_error": True}),
}


def _wait_process_state(d, states):
    def done():
        p = d.health()["process"]
        return p if p and p["state"] in states else None

    return wait_for(done, what=f"process state in {states}")


@pytest.mark.parametrize("mode", sorted(KEEP_ALIVE_MODES))
def test_keep_alive_on_error_keeps_api_up(daemon_factory, mode):
    d = daemon_factory(command=["sh", "-c", "exit 3"], **KEEP_ALIVE_MODES[mode])
    p = _wait_process_state(d, ("exited",))
    assert p["exit_code"] == 3
    assert d.running()
    assert d.system()["state"]  # the authenticated API is up too
    d.send_signal(signal.SIGTERM)
    assert d.wait() == 3, d.stderr()


def test_keep_alive_on_error_after_signal_death(daemon_factory):
    d = daemon_factory(command=["sh", "-c", "kill -KILL $$"], args=["-keep-alive-on-error"])
    p = _wait_process_state(d, ("exited",))
    assert p["exit_code"] == 137
    d.send_signal(signal.SIGINT)
    assert d.wait() == 137, d.stderr()


def test_keep_alive_on_error_after_exec_failure(daemon_factory, tmp_path):
    d = daemon_factory(command=[tmp_path / "missing"], args=["-keep-alive-on-error"])
    p = _wait_process_state(d, ("failed",))
    assert p["exit_code"] == 127
    assert p["pid"] is None
    assert "missing" in p["error"] and "No such file" in p["error"], p
    d.send_signal(signal.SIGTERM)
    assert d.wait() == 127, d.stderr()


def test_keep_alive_with_exit_zero_exits_zero(daemon_factory):
    d = daemon_factory(command=["true"], env={"SPRITE_KEEP_ALIVE_ON_ERROR": "true"}, ready=False)
    assert d.wait() == 0, d.stderr()


def test_without_keep_alive_failure_exits(daemon_factory):
    d = daemon_factory(command=["sh", "-c", "exit 4"], env={"SPRITE_KEEP_ALIVE_ON_ERROR": "false"},
                       ready=False)
    assert d.wait() == 4, d.stderr()


def test_health_while_running(daemon_factory):
    d = daemon_factory(command=["sleep", "1000"])
    pid = d.main_pid(comm="sleep")
    h = d.health()
    assert h["status"] == "ok"
    assert h["process"] == {"pid": pid, "state": "running", "exit_code": None}
    assert h["pid1"] is False
    assert isinstance(h["uptime_ms"], int) and h["uptime_ms"] >= 0
    assert isinstance(h["version"], str) and h["version"]


# -- no main command


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_api_only_mode_exits_zero_on_signal(daemon_factory, sig):
    d = daemon_factory()
    h = d.health()
    assert h["process"] is None
    assert h["status"] == "ok"
    d.send_signal(sig)
    assert d.wait() == 0, d.stderr()


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH])
def test_api_only_mode_survives_other_signals(daemon_factory, sig):
    d = daemon_factory()
    d.send_signal(sig)
    # A signal that kills sprite-env would show up as a failing /health or an exit.
    for _ in range(3):
        assert d.health()["status"] == "ok"
    assert d.running()
    d.send_signal(signal.SIGTERM)
    assert d.wait() == 0, d.stderr()


def test_uptime_increases(daemon_factory):
    d = daemon_factory()
    first = d.health()["uptime_ms"]
    wait_for(lambda: d.health()["uptime_ms"] > first, what="uptime_ms to increase")

