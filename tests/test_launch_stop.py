"""A stopped launch leaves nothing behind: no driver, Ray process, worker or vLLM server.

A real stage 1 launch (MODEL=tiny) is stopped once its Ray workers run, by a signal to the run script's
``bash`` alone, not to its process group: SIGTERM (the script's trap), and SIGKILL (a test timeout that
kills only the script; memwatch then gets its parent-death signal). Every process of the launch carries
the launch's marker variable (tests/launch_group.py), so what is left can be listed exactly.
"""
from __future__ import annotations

import os
import signal
import subprocess

import pytest

import launch_group
from ray_cluster import REPO_ROOT
from test_launcher_memwatch import marked_alive, wait_for
from tiny_runs import build_small_data, stage_env

pytestmark = pytest.mark.e2e


def ray_workers(marker: str) -> list[str]:
    names = []
    for proc in marked_alive(marker):
        try:
            cmd = " ".join(proc.cmdline())
        except Exception:  # noqa: BLE001 - gone meanwhile
            continue
        if cmd.startswith("ray::") and "IDLE" not in cmd:
            names.append(cmd.split()[0])
    return names


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_stopped_launch_leaves_no_process(signum, tmp_path):
    build_small_data(tmp_path)
    env = stage_env(tmp_path, TOTAL_STEPS="50", RAY_TMPDIR=f"/tmp/kkstop{os.getpid()}")
    proc = launch_group.start(["bash", "run_scripts/stage1_warmup.sh"], env, cwd=REPO_ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        started = wait_for(lambda: proc.poll() is not None or bool(ray_workers(proc.kk_marker)),
                           launch_group.timeout_s(600))
        assert started and proc.poll() is None, "the launch ended before its Ray workers ran"
        workers = ray_workers(proc.kk_marker)
        assert len(marked_alive(proc.kk_marker)) > 3, workers  # bash, memwatch, driver, Ray, workers
        os.kill(proc.pid, signum)  # the script alone, not its group
        output, _ = proc.communicate(timeout=launch_group.timeout_s(180))
        left = wait_for(lambda: not marked_alive(proc.kk_marker), 60)
        leftover = [" ".join(p.cmdline())[:80] for p in marked_alive(proc.kk_marker)]
        assert left, f"left behind after {signal.Signals(signum).name}: {leftover}"
        if signum == signal.SIGTERM:
            assert proc.returncode == 128 + signal.SIGTERM
            assert "TERM: stopping the launch" in output, output[-2000:]
    finally:
        launch_group.stop(proc)
