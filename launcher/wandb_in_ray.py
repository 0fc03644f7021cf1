"""wandb inside veRL's Ray task runner: its service process is ended with the run, not at exit.

veRL logs to wandb from its TaskRunner actor and calls ``wandb.finish()`` when training ends; wandb leaves
its service process (``wandb-core``, a child of the actor) to an ``atexit`` hook. When ``run_ppo`` returns,
the actor's handle goes out of scope and Ray ends the actor, killing a worker's child processes as the worker
exits, before Python's ``atexit`` hooks run. The hook then finds the service gone and prints a
``ConnectionResetError: Connection lost`` traceback at the end of every stage (the run's data is complete:
``finish`` has already flushed it; with Ray's ``RAY_kill_child_processes_on_worker_exit=0``, which the run
must not use, the traceback does not appear). Calling wandb's own ``wandb.teardown()`` right after ``finish`` ends the
service cleanly and unregisters the hook.

veRL imports this module in each of its processes (``VERL_USE_EXTERNAL_MODULES``, set by
``run_scripts/common.sh`` for every profile). It patches ``wandb.finish`` when wandb is first imported, so a
process that never logs to wandb does not import it. Tested in ``tests/test_wandb_in_ray.py`` with a real
Ray actor and wandb in offline mode.
"""
from __future__ import annotations

import functools
import importlib.abc
import importlib.util
import sys


def patch(wandb) -> None:
    """``wandb.finish`` followed by ``wandb.teardown`` (once per module)."""
    finish = wandb.finish
    if getattr(finish, "_kk_tears_down", False):
        return

    @functools.wraps(finish)
    def finish_and_teardown(*args, **kwargs):
        result = finish(*args, **kwargs)
        wandb.teardown(kwargs.get("exit_code", args[0] if args else None))
        return result

    finish_and_teardown._kk_tears_down = True
    wandb.finish = finish_and_teardown


class _PatchWhenImported(importlib.abc.MetaPathFinder):
    """Wraps the loader of wandb's spec; stays on ``sys.meta_path`` until wandb is executed, since
    availability checks (``importlib.util.find_spec("wandb")``, e.g. transformers') find specs they never load."""

    def __init__(self) -> None:
        self._finding = False

    def find_spec(self, name, path=None, target=None):
        if name != "wandb" or self._finding:
            return None
        self._finding = True  # find wandb's own spec with the other finders
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._finding = False
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            patch(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)

        spec.loader.exec_module = exec_and_patch
        return spec


if "wandb" in sys.modules:
    patch(sys.modules["wandb"])
elif not any(isinstance(finder, _PatchWhenImported) for finder in sys.meta_path):
    sys.meta_path.insert(0, _PatchWhenImported())
