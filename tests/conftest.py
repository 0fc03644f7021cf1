"""Shared pytest set-up: make the repository root importable, keep everything offline, and share the
machine between pytest-xdist workers (``run_scripts/test.sh`` runs two).

Sharing: the tests marked ``e2e`` or ``serial`` start Ray, vLLM or a launch. They form one unit of work for
one worker, given out first, and run one at a time; about one core is busy while a launch starts up, and
the other tests run beside them, each module on one worker (its module-scoped fixtures run once), at a lower
CPU priority, so that they take the cores the serial tests leave idle and slow the suite's critical path (the
serial tests) as little as they can. While an ``exclusive`` test runs (a SmolLM2 GRPO run, ~15 GiB), no other
test starts.

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

import launch_group

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")

SHARED_ENV = "KK_PYTEST_SHARED"  # the folder the controller and its workers share (workers inherit it)
SERIAL_SCOPE = "serial"
# How much the other tests yield to the serial ones: added to the niceness of their worker (the kernel caps it at
# 19) and of its scheduling group (``launch_group.set_autogroup_niceness`` caps it; the kernel refuses above 19).
# Raising a niceness needs no privilege, lowering it does, so a worker raises its own once, at its first
# non-serial test; the serial unit is given out first, so a worker that runs serial tests runs them first.
BACKGROUND_NICENESS = 10


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
    serial = [item.nodeid for item in items if _is_serial(item)]
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


def _is_serial(item) -> bool:
    return item.get_closest_marker("e2e") is not None or item.get_closest_marker("serial") is not None


def _yield_cpu(config) -> None:
    """From now on this worker, and the processes its tests start, yield the CPU to the serial tests.

    Where the kernel groups processes by session (autogroup), it shares the CPU between sessions before a
    process's niceness counts, and each launch runs in a session of its own (tests/launch_group.py). So the
    worker takes a session of its own and lowers that session's weight, as well as its own niceness; the
    sessions its tests start through ``launch_group`` get the same weight.
    """
    if _shared(config) is None or getattr(config, "_kk_backgrounded", False):
        return
    config._kk_backgrounded = True
    os.nice(BACKGROUND_NICENESS)
    group_niceness = launch_group.autogroup_niceness()
    try:
        os.setsid()  # refused only to a process-group leader, which an xdist worker is not
    except OSError:
        return  # still the caller's session: lowering its group would slow the caller's terminal too
    if group_niceness is not None:
        launch_group.set_autogroup_niceness(group_niceness + BACKGROUND_NICENESS)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if not _is_serial(item):
        _yield_cpu(item.config)
    # around set-up, call and tear-down, so a module-scoped fixture's launch is inside its test's turn
    with _turn(item.config, exclusive=item.get_closest_marker("exclusive") is not None):
        yield
