"""launcher.memwatch stops the whole process tree it runs: on a stop signal, and when its parent dies."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

import launch_group

REPO_ROOT = Path(__file__).resolve().parents[1]
# a child and a grandchild that would outlive a plain kill of the command
TREE = "sleep 300 & bash -c 'sleep 301 & wait' & wait"


def marked_alive(marker: str) -> list[psutil.Process]:
    alive = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.pid != os.getpid() and proc.environ().get(launch_group.MARKER) == marker \
                    and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return alive


def wait_for(predicate, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def memwatch_command(out: Path) -> list[str]:
    return [sys.executable, "-m", "launcher.memwatch", "--interval", "0.2", "--out", str(out), "--", "bash", "-c", TREE]


def test_stop_signal_stops_the_whole_tree(tmp_path):
    out = tmp_path / "memory.json"
    proc = launch_group.start(memwatch_command(out), dict(os.environ), cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: len([p for p in marked_alive(proc.kk_marker) if p.name() == "sleep"]) == 2)
        os.kill(proc.pid, signal.SIGTERM)  # memwatch only, not its group
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 128 + signal.SIGTERM, stderr
        assert "SIGTERM: stopping the run's process tree" in stderr
        assert wait_for(lambda: not marked_alive(proc.kk_marker), 10), marked_alive(proc.kk_marker)
        assert json.loads(out.read_text())["stopped_by"] == "SIGTERM"
    finally:
        launch_group.stop(proc)


def test_parent_killed_stops_the_tree(tmp_path):
    """SIGKILL to the script that started memwatch (a test's timeout killing only ``bash``)."""
    parent = [sys.executable, "-c",
              "import subprocess, sys, time; subprocess.Popen(sys.argv[1:]); time.sleep(300)",
              *memwatch_command(tmp_path / "memory.json")]
    proc = launch_group.start(parent, dict(os.environ), cwd=REPO_ROOT)
    try:
        assert wait_for(lambda: len([p for p in marked_alive(proc.kk_marker) if p.name() == "sleep"]) == 2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert wait_for(lambda: not marked_alive(proc.kk_marker), 30), marked_alive(proc.kk_marker)
    finally:
        launch_group.stop(proc)


def test_node_loss_error_names_the_checkpoint_a_restart_resumes_from(tmp_path):
    """veRL's resume_mode=auto resumes from the step its tracker file names, not from the newest folder."""
    from launcher.chain import TRACKER_FILE
    from launcher.memwatch import node_loss_error

    lost = ["node 0123abcd at 10.0.0.2:41000: health check failed"]
    checkpoints = tmp_path / "checkpoints"
    assert node_loss_error(lost, checkpoints) == (
        "error: a Ray node died during the run (node 0123abcd at 10.0.0.2:41000: health check failed); "
        f"restart with all nodes to start again (no checkpoint under {checkpoints} yet)")
    for step in (1, 2):
        (checkpoints / f"global_step_{step}").mkdir(parents=True)
    (checkpoints / TRACKER_FILE).write_text("1\n")  # step 2's save had not completed
    assert node_loss_error(lost, checkpoints).endswith(f"restart with all nodes to resume from {checkpoints / 'global_step_1'}")
