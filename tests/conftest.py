"""Shared pytest set-up: make the repository root importable, keep everything offline, and share the
machine between pytest-xdist workers (``run_scripts/test.sh`` runs two).

Sharing: the tests marked ``e2e`` or ``serial`` start Ray, vLLM or a launch. They form one unit of work for
one worker, given out first, and run one at a time; about one core is busy while a launch starts up, and
the other tests run beside them, each module on one worker (its module-scoped fixtures run once). While an
``exclusive`` test runs (a SmolLM2 GRPO run, ~15 GiB), no other test starts.

pytest-xdist's own ``--dist loadgroup`` cannot do the grouping here: it tags node ids, which pytest 9 no
longer lets a plugin change. So the workers write the ids of the serial tests to a folder the controller
made, and the controller's scheduler (``pytest_xdist_make_scheduler``) reads them.
"""
import contextlib
import fcntl
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")

SHARED_ENV = "KK_PYTEST_SHARED"  # the folder the controller and its workers share (workers inherit it)
SERIAL_SCOPE = "serial"


def pytest_configure(config):
    # the controller of a parallel run (a worker has ``workerinput``); its workers inherit the variable
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        os.environ[SHARED_ENV] = config._kk_shared = tempfile.mkdtemp(prefix="kk-pytest-")


def pytest_unconfigure(config):
    shared = getattr(config, "_kk_shared", None)
    if shared:
        shutil.rmtree(shared, ignore_errors=True)
        os.environ.pop(SHARED_ENV, None)


def _shared(config) -> Path | None:
    """The folder shared with the other workers, in a worker of a parallel run; else None."""
    if hasattr(config, "workerinput") and os.environ.get(SHARED_ENV):
        return Path(os.environ[SHARED_ENV])
    return None


def pytest_collection_modifyitems(config, items):
    shared = _shared(config)
    if shared is None:
        return
    serial = [item.nodeid for item in items if item.get_closest_marker("e2e") or item.get_closest_marker("serial")]
    # every worker collects the same tests and writes the same list, before the controller schedules
    fd, tmp = tempfile.mkstemp(dir=shared, prefix=".serial-")
    with os.fdopen(fd, "w") as out:
        json.dump(serial, out)
    os.replace(tmp, shared / "serial.json")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    shared = Path(os.environ[SHARED_ENV])

    class SerialFirst(LoadScopeScheduling):
        """Module by module (``--dist loadscope``), except that the serial tests are one unit, given out first."""

        _serial: set = None

        def _split_scope(self, nodeid):
            if self._serial is None:
                self._serial = set(json.loads((shared / "serial.json").read_text()))
            return SERIAL_SCOPE if nodeid in self._serial else super()._split_scope(nodeid)

        def _assign_work_unit(self, node):
            if SERIAL_SCOPE in self.workqueue:  # the longest unit by far: start it at once
                self.workqueue.move_to_end(SERIAL_SCOPE, last=False)
            super()._assign_work_unit(node)

    return SerialFirst(config, log)


@contextlib.contextmanager
def _turn(config, exclusive: bool):
    """A test's turn on the machine: shared, or alone (``exclusive``) once the running tests end.

    Two flock files: an exclusive test holds the gate while it waits and runs, so no new test starts
    meanwhile, and the other worker's stream of short tests cannot starve it.
    """
    shared = _shared(config)
    if shared is None:  # one process: nothing to share
        yield
        return
    with open(shared / "turn.gate", "a") as gate, open(shared / "turn.run", "a") as run:
        fcntl.flock(gate, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        fcntl.flock(run, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        if not exclusive:
            fcntl.flock(gate, fcntl.LOCK_UN)
        yield  # closing the files releases the locks


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    # around set-up, call and tear-down, so a module-scoped fixture's launch is inside its test's turn
    with _turn(item.config, exclusive=item.get_closest_marker("exclusive") is not None):
        yield
