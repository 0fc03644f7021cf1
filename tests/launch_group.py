"""Launching run scripts from tests: generous timeouts, and nothing left behind when one expires.

Timeouts are budgets for a slow machine, not speed checks: a slow machine makes the suite slow, never red.
Each is several times what the launch costs on a 2-core machine alone (see docs/benchmarks.md: the 2-step
tiny run ~100 s, the 3-step SmolLM2 run ~2.5 min with native bf16, ~6 min in fp32 on a 2-core AVX2 EPYC,
more than 20 min at a load of 3-4 before the CPU dtype was chosen from the hardware) and
``KK_TEST_TIMEOUT_SCALE`` multiplies them all (e.g. 3 on a heavily shared CI runner).

A launch runs in its own session (process group) and carries a marker variable in its environment, which
Ray's processes and vLLM's servers inherit even when they leave the group; on a timeout or an interrupt
the group is killed and then every process carrying the marker.

Where the kernel groups processes by session for scheduling (Linux autogroup), a new session starts at the
default weight whatever its parent's; so a launch gets its caller's group niceness, and one started by a test
that yields the CPU to the serial tests (tests/conftest.py) yields it too.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Mapping, Sequence

MARKER = "KK_TEST_LAUNCH_ID"
# Budgets in seconds before the scale (several times the cost measured on a 2-core machine).
TINY_LAUNCH_S = 1800        # a short MODEL=tiny launch: Ray + vLLM start-up and a few tiny steps
SMOLLM2_LAUNCH_S = 3600     # a few real SmolLM2 steps


def autogroup_niceness(pid: int | str = "self") -> int | None:
    """The niceness of a process's scheduling group (``/proc/PID/autogroup``: "/autogroup-123 nice 0"), if any."""
    try:
        return int(Path(f"/proc/{pid}/autogroup").read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def set_autogroup_niceness(niceness: int, pid: int | str = "self") -> bool:
    """Weigh a process's whole session as ``niceness`` (raising needs no privilege); whether it took."""
    for _ in range(10):
        try:
            Path(f"/proc/{pid}/autogroup").write_text(str(min(19, niceness)))
            return True
        except BlockingIOError:  # without CAP_SYS_ADMIN the kernel takes one change per 0.1 s
            time.sleep(0.1)
        except OSError:
            return False
    return False


def timeout_s(budget_s: float) -> float:
    """``budget_s`` times ``KK_TEST_TIMEOUT_SCALE`` (default 1)."""
    return budget_s * float(os.environ.get("KK_TEST_TIMEOUT_SCALE", "1") or 1)


def kill_marked(marker_value: str) -> int:
    """SIGKILL every process whose environment carries ``MARKER=marker_value``; how many were found."""
    import psutil

    killed = 0
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.pid == os.getpid() or proc.environ().get(MARKER) != marker_value:
                continue
            proc.kill()
            killed += 1
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return killed


def marked_env(env: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``env`` with a fresh marker (pass it to :func:`start` / :func:`kill_marked`)."""
    return {**env, MARKER: uuid.uuid4().hex}


def start(command: Sequence[str], env: Mapping[str, str], **kwargs) -> subprocess.Popen:
    """Popen in a new session with a marked environment (``env`` gets a marker unless it has one)."""
    env = dict(env) if MARKER in env else marked_env(env)
    proc = subprocess.Popen(list(command), env=env, start_new_session=True, **kwargs)
    proc.kk_marker = env[MARKER]  # type: ignore[attr-defined]
    niceness = autogroup_niceness()
    if niceness:  # the new session starts at 0
        set_autogroup_niceness(niceness, proc.pid)
    return proc


def stop(proc: subprocess.Popen) -> None:
    """Kill the launch's process group and every process carrying its marker."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    kill_marked(proc.kk_marker)  # type: ignore[attr-defined]


def run(command: Sequence[str], *, env: Mapping[str, str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """Like ``subprocess.run(..., capture_output=True, text=True, timeout=timeout)`` for a launch script.

    On a timeout (or Ctrl-C) the whole launch is killed, then ``TimeoutExpired`` is raised as usual.
    """
    proc = start(command, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except BaseException:
        stop(proc)
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
