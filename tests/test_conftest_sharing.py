"""tests/conftest.py's sharing of the machine between pytest-xdist workers, run for real: a scratch suite with
the same conftest under ``pytest -n 2`` (as run_scripts/test.sh runs it) records when and where
each of its tests ran."""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import launch_group
from conftest import BACKGROUND_NICENESS

REPO_ROOT = Path(__file__).resolve().parents[1]

RECORDER = '''
import json, os, sys, time
from pathlib import Path
import pytest
import launch_group

# A process started in a new session, as the launches are: its scheduling group, once it has the weight of the
# test's own (its starter sets it just after the start) or after 10 s
CHILD = """
import os, sys, time
path, want, end = "/proc/self/autogroup", sys.argv[1], time.monotonic() + 10
while os.path.exists(path) and open(path).read().split()[-1] != want and time.monotonic() < end:
    time.sleep(0.05)
print(open(path).read() if os.path.exists(path) else "")
"""

def record(name, seconds):
    start = time.monotonic()
    time.sleep(seconds)
    own = launch_group.autogroup_niceness()
    child = launch_group.run([sys.executable, "-c", CHILD, str(own)], env=os.environ, timeout=60).stdout
    with open(Path(os.environ["KK_SPANS"]), "a") as out:
        out.write(json.dumps({{"test": name, "worker": os.environ.get("PYTEST_XDIST_WORKER"),
                               "start": start, "end": time.monotonic(),
                               "niceness": os.getpriority(os.PRIO_PROCESS, 0),
                               "group": open("/proc/self/autogroup").read() if os.path.exists("/proc/self/autogroup")
                                        else None, "child_group": child.strip() or None}}) + "\\n")
{body}
'''

MODULES = {
    # an exclusive test among short ones: nothing may overlap it
    "test_a_exclusive.py": "pytestmark = [pytest.mark.e2e, pytest.mark.exclusive]\n"
                           "def test_alone():\n    record('alone', 1.0)\n",
    # serial modules bigger than the others, so that module-by-module scheduling would give one to each worker
    **{f"test_b_serial{m}.py": "pytestmark = pytest.mark.serial\n"
       + "".join(f"def test_s{i}():\n    record('serial{m}.{i}', 0.2)\n" for i in range(6)) for m in range(2)},
    "test_c_e2e.py": "pytestmark = pytest.mark.e2e\n"
                     + "".join(f"def test_e{i}():\n    record('e2e{i}', 0.2)\n" for i in range(6)),
    "test_d_module.py": "@pytest.fixture(scope='module')\ndef once():\n"
                        "    record('fixture', 0)\n    return 1\n"
                        + "".join(f"def test_m{i}(once):\n    record('module{i}', 0.1)\n" for i in range(4)),
    **{f"test_e_short{m}.py": "".join(f"def test_x{i}():\n    record('short{m}.{i}', 0.1)\n" for i in range(4))
       for m in range(6)},
}


def test_serial_tests_share_one_worker_and_an_exclusive_one_runs_alone(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    for helper in ("conftest.py", "launch_group.py"):
        shutil.copy(REPO_ROOT / "tests" / helper, suite / helper)
    shutil.copy(REPO_ROOT / "pytest.ini", suite / "pytest.ini")
    for name, body in MODULES.items():
        (suite / name).write_text(RECORDER.format(body=body))
    spans_file = tmp_path / "spans.jsonl"
    # in a session of its own, so in a scheduling group of its own (at the default weight where the kernel groups
    # by session), and the whole of it is killed on a timeout
    proc = launch_group.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", str(suite)],
                            cwd=suite, timeout=300,
                            env={**{k: v for k, v in os.environ.items()  # not the suite's own workers'
                                    if not k.startswith(("PYTEST_XDIST_", "KK_PYTEST_"))},
                                 "KK_SPANS": str(spans_file)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    spans = [json.loads(line) for line in spans_file.read_text().splitlines()]
    names = sorted(s["test"] for s in spans)
    assert len(spans) == 1 + 2 * 6 + 6 + 1 + 4 + 6 * 4, names
    by_name = {s["test"]: s for s in spans}
    # both workers were used
    assert {s["worker"] for s in spans} == {"gw0", "gw1"}
    # e2e and serial tests: never two at once, all on one worker
    serial = [s for s in spans if s["test"].startswith(("serial", "e2e", "alone"))]
    assert not overlaps(serial), overlaps(serial)
    assert len({s["worker"] for s in serial}) == 1
    # a module stays on one worker (its module-scoped fixture ran once)
    assert len({s["worker"] for s in spans if s["test"].startswith(("module", "fixture"))}) == 1
    # nothing overlapped the exclusive test
    alone = by_name["alone"]
    overlapping = [s["test"] for s in spans if s is not alone
                   and s["start"] < alone["end"] and s["end"] > alone["start"]]
    assert overlapping == []
    # and the other tests did run beside the serial ones (else the checks above would hold trivially)
    assert overlaps(spans)
    # at a lower CPU priority than the serial ones, which all kept the suite's own: a higher niceness and, where
    # the kernel groups processes by session (autogroup), a session of their own, weighed less
    others = [s for s in spans if s not in serial]
    assert len({(s["niceness"], s["group"]) for s in serial}) == 1, serial
    assert {s["niceness"] for s in others} == {min(19, serial[0]["niceness"] + BACKGROUND_NICENESS)}, others
    if serial[0]["group"] is not None:
        def group_niceness(span, key="group"):
            return int(span[key].split()[-1])
        base = group_niceness(serial[0])  # the scratch suite's own (its launch got its caller's)
        assert all(s["group"].split()[0] != serial[0]["group"].split()[0] for s in others), others
        assert {group_niceness(s) for s in others} == {min(19, base + BACKGROUND_NICENESS)}, others
        # a session a test starts gets the test's weight: the serial tests' launches are not held back
        assert {group_niceness(s, "child_group") for s in serial} == {base}, serial
        assert {group_niceness(s, "child_group") for s in others} == {min(19, base + BACKGROUND_NICENESS)}, others
        assert all(s["child_group"].split()[0] != s["group"].split()[0] for s in spans)  # new sessions


def overlaps(spans: list[dict]) -> list[tuple[str, str]]:
    return [(a["test"], b["test"]) for i, a in enumerate(spans) for b in spans[i + 1:]
            if a["start"] < b["end"] and b["start"] < a["end"]]
