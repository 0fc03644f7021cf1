"""Shared pytest set-up: make the repository root importable, keep everything offline, and share the
machine between pytest-xdist workers (``run_scripts/test.sh`` runs two).

Sharing, in two lanes and the rest:

- the tests marked ``e2e`` run a launch (veRL, Ray and vLLM: several GiB). They form one unit of work for
  one worker, given out first, and run one at a time: the suite's critical path. About one core is busy
  while a launch starts up.
- the tests marked ``serial`` start a Ray cluster or a vLLM server themselves, a few GiB at most. They form a
  second unit, so they never run beside each other, and run beside the launches on the other worker.
- the other tests run beside them, each module on one worker (its module-scoped fixtures run once).

Everything but the launches runs at a lower CPU priority, so that it takes the cores the launches leave idle
and slows the critical path as little as it can. While an ``exclusive`` test runs (a SmolLM2 GRPO run,
~15 GiB), no other test starts.

pytest-xdist's own ``--dist loadgroup`` cannot do the grouping here: it tags node ids, which pytest 9 no
longer lets a plugin change. So the workers write the ids of the two lanes' tests to a folder the controller
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
LANES = ("e2e", "serial")  # the markers, and the scopes of their units, launches first
# How much the other tests yield to the launches: added to the niceness of their worker (the kernel caps it at
# 19) and of its scheduling group (``launch_group.set_autogroup_niceness`` caps it; the kernel refuses above 19).
# Raising a niceness needs no privilege, lowering it does, so a worker raises its own once, at its first test
# outside the launch lane; the launches' unit is given out first, so a worker that runs them runs them first.
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
    # an exclusive test last: by then the other worker has little left to wait for, and nothing to run after it
    items.sort(key=lambda item: item.get_closest_marker("exclusive") is not None)  # stable
    lanes = {item.nodeid: _lane(item) for item in items if _lane(item)}
    # every worker collects the same tests and writes the same map, before the controller schedules
    fd, tmp = tempfile.mkstemp(dir=shared, prefix=".lanes-")
    with os.fdopen(fd, "w") as out:
        json.dump(lanes, out)
    os.replace(tmp, shared / "lanes.json")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    shared = Path(os.environ[SHARED_ENV])

    class LanesFirst(LoadScopeScheduling):
        """Module by module (``--dist loadscope``), except that each lane is one unit, given out first."""

        _lanes: dict = None

        def _split_scope(self, nodeid):
            if self._lanes is None:
                self._lanes = json.loads((shared / "lanes.json").read_text())
            return self._lanes.get(nodeid) or super()._split_scope(nodeid)

        def _assign_work_unit(self, node):
            # the launches, the longest unit by far, start at once; the other lane on the next worker
            lane = next((lane for lane in LANES if lane in self.workqueue), None)
            if lane:
                self.workqueue.move_to_end(lane, last=False)
            super()._assign_work_unit(node)

    return LanesFirst(config, log)


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


def _lane(item) -> str | None:
    """The lane of a test (``LANES``: the first of its markers), or None."""
    return next((lane for lane in LANES if item.get_closest_marker(lane) is not None), None)


def _yield_cpu(config) -> None:
    """From now on this worker, and the processes its tests start, yield the CPU to the launches.

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
    if _lane(item) != LANES[0]:
        _yield_cpu(item.config)
    # around set-up, call and tear-down, so a module-scoped fixture's launch is inside its test's turn
    with _turn(item.config, exclusive=item.get_closest_marker("exclusive") is not None):
        yield
