"""launcher/wandb_in_ray.py on a real Ray actor that logs through veRL's own ``Tracking`` to wandb (offline).

As in veRL's ``run_ppo``, the actor's handle goes out of scope after its run and Ray ends it while the driver
lives on. Without the module, wandb's ``atexit`` teardown finds its service process killed and prints a
``ConnectionResetError`` traceback (the control case: if upstream fixes that, it fails and the module can go);
with the module loaded through ``VERL_USE_EXTERNAL_MODULES``, as the run scripts set it, nothing is printed and
the offline run is complete.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import launch_group

REPO_ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.serial  # starts a local Ray

DRIVER = """
import os, sys, time
import psutil, ray
ray.init(num_cpus=1, include_dashboard=False, log_to_driver=True,
         runtime_env={"env_vars": {"VERL_USE_EXTERNAL_MODULES": sys.argv[2], "WANDB_MODE": "offline",
                                   "WANDB_DIR": sys.argv[1], "PYTHONPATH": sys.argv[3]}})

@ray.remote
class Runner:
    def run(self):
        import importlib.util
        import verl  # imports VERL_USE_EXTERNAL_MODULES, as in every veRL process
        importlib.util.find_spec("wandb")  # an availability check before the import, as transformers' (a spec never loaded)
        from verl.utils.tracking import Tracking
        tracking = Tracking("kk-test", "wandb-in-ray", default_backend=["wandb"], config={"trainer": {}})
        tracking.log({"score": 1.0}, step=1)
        tracking.finish(exit_code=0)
        return os.getpid()

def run():
    runner = Runner.remote()
    return ray.get(runner.run.remote())

pid = run()  # the handle is gone: Ray ends the actor while this driver still runs
deadline = time.monotonic() + 60
while psutil.pid_exists(pid) and time.monotonic() < deadline:
    time.sleep(0.2)
time.sleep(3)  # what the actor printed while exiting reaches this driver
print("ACTOR ENDED", not psutil.pid_exists(pid), flush=True)
"""


def run_actor(tmp_path: Path, modules: str) -> tuple[str, Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VERL_", "WANDB_", "RAY_ADDRESS"))}
    # launch_group: on a timeout the local Ray it started goes too, not only the driver
    proc = launch_group.run([sys.executable, "-c", DRIVER, str(tmp_path), modules, str(REPO_ROOT)],
                            env=env, timeout=launch_group.timeout_s(300), cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "ACTOR ENDED True" in output, output[-4000:]
    return output, tmp_path / "wandb"


@pytest.mark.parametrize("modules", ["", "launcher.wandb_in_ray"])
def test_wandb_service_ends_with_the_run(tmp_path, modules):
    output, wandb_dir = run_actor(tmp_path, modules)
    runs = list(wandb_dir.glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1 and runs[0].stat().st_size > 0, list(wandb_dir.rglob("*"))
    lost = "teardown_atexit" in output or "Connection lost" in output
    if modules:
        assert not lost and "Traceback" not in output, output[-4000:]
    else:  # the control: wandb's own exit hook fails in a Ray actor
        assert lost, output[-4000:]
