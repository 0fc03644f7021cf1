"""tests/launch_group.py: a launch that runs past its timeout leaves no process behind, even one that
left the process group (as Ray's and vLLM's may)."""
from __future__ import annotations

import os
import subprocess
import time

import psutil
import pytest

import launch_group


def marked_processes(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get(launch_group.MARKER) == marker and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def test_timeout_kills_the_group_and_escaped_children():
    env = launch_group.marked_env(os.environ)
    marker = env[launch_group.MARKER]
    # a child in the group, and one that escaped it with its own session
    script = "sleep 300 & setsid sleep 301 & echo started; wait"
    with pytest.raises(subprocess.TimeoutExpired):
        launch_group.run(["bash", "-c", script], env=env, timeout=2)
    deadline = time.monotonic() + 10
    while marked_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marked_processes(marker) == []


def test_finished_launch_returns_like_subprocess_run():
    proc = launch_group.run(["bash", "-c", "echo out; echo err >&2; exit 3"], env=os.environ, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "out\n", "err\n")


def test_scale_multiplies_the_budgets(monkeypatch):
    monkeypatch.setenv("KK_TEST_TIMEOUT_SCALE", "2.5")
    assert launch_group.timeout_s(100) == 250
    monkeypatch.delenv("KK_TEST_TIMEOUT_SCALE")
    assert launch_group.timeout_s(100) == 100
