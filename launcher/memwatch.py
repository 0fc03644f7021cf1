"""Samples memory while a command runs: the command's whole process tree and the system.

``/usr/bin/time -v`` sees only the driver process, while a veRL run spreads
over Ray workers and vLLM servers.  This wraps a command, samples every
``--interval`` seconds, and writes the peaks as JSON when it ends.

    python -m launcher.memwatch --out runs/x/memory.json -- bash run_scripts/smoke_cpu.sh

The exit code is the command's.  ``--pid PID`` instead watches a running
process (e.g. a script's own ``$$``) until it exits.

It also owns the command's clean stop: on SIGTERM, SIGINT or SIGHUP, and when its
own parent dies (even by SIGKILL: a test's timeout that kills only the run
script's ``bash``), it terminates the command's whole process tree (the veRL
driver, the Ray cluster it started, Ray workers, vLLM), then kills what is
left after a grace period.  Without it those ran on for minutes.

With ``--ray-address`` (a run on an existing cluster, ``RAY_ADDRESS``) it also
watches the cluster's nodes in Ray's GCS.  veRL cannot go on without a node it
placed workers on, so when such a node dies the run is over: if the driver has
not failed by itself ``--node-loss-grace`` seconds after Ray declares the node dead
(NODE_LOSS_GRACE in recipes/common.yaml), its tree is stopped, and a failed run
that lost a node ends with one line,
``error: a Ray node died during the run (...); restart with all nodes to resume
from <the last checkpoint under --checkpoints>``.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

from data_prep.fileio import atomic_write_text
from launcher.chain import list_step_dirs, read_tracker
from recipes import common

GIB = 1024**3
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
GRACE_S = 15.0  # Ray's and vLLM's own shutdown handlers run in this time
RPC_TIMEOUT_S = 10.0


class Stop(BaseException):
    """A stop signal arrived (or the parent died); not an error, so no ``except Exception`` swallows it."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_stop(signum, _frame) -> None:
    raise Stop(signum)


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    """Linux: get ``signum`` when the parent process dies (PR_SET_PDEATHSIG); elsewhere nothing."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signum))  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        return


def stop_tree(root: psutil.Process, grace_s: float = GRACE_S) -> None:
    """SIGTERM ``root`` and every descendant, then SIGKILL whatever is still alive after ``grace_s``."""
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            continue
    _gone, alive = psutil.wait_procs(procs, timeout=grace_s)
    # processes started while the tree was stopping (a Ray worker being spawned)
    for p in alive:
        try:
            alive.extend(c for c in p.children(recursive=True) if c not in alive)
        except psutil.NoSuchProcess:
            continue
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(alive, timeout=5)


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def ray_rss() -> int:
    """RSS of every Ray process on the machine (raylet, workers): not only this run's."""
    total = 0
    for p in psutil.process_iter(["name", "cmdline"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            if "ray::" in (p.info["name"] or "") or "ray/" in cmd or "raylet" in cmd or "gcs_server" in cmd:
                total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def gpu_used_bytes() -> list[int] | None:
    """Memory used on each GPU (all processes, as nvidia-smi shows it), or None without NVML."""
    try:
        import pynvml  # nvidia-ml-py: installed with vLLM's GPU build

        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        return [int(pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(i)).used) for i in range(count)]
    except Exception:  # noqa: BLE001 - no NVML library, no driver, no GPU: nothing to sample
        return None


class RayNodeWatch:
    """The nodes of an existing Ray cluster that a run uses, read from the cluster's GCS.

    Ray's own state accessor (what ``ray.nodes()`` reads), connected by address: memwatch does not join
    the cluster as a second driver. The nodes alive when the run starts are watched. The run's nodes are
    those its job (the job whose driver is ``driver_pid``) has had actors on, collected at every poll; a dead
    actor keeps its address in the GCS (Ray 2.60), so a node lost before any poll saw the job's actors alive
    on it is still the run's (tests/test_ray_node_watch.py). A dead node counts as lost when
    it was one of them, or always while the job is not found yet, so that a spare node of a bigger cluster
    that dies does not stop a run that does not use it.
    """

    def __init__(self, address: str, driver_pid: int | None):
        from ray._private.internal_api import get_state_from_address

        self.state = get_state_from_address(address)
        self.driver_pid = driver_pid
        self.job_id = None
        self.run_nodes: set[str] = set()
        self.watched = {n["NodeID"]: n for n in self.state.node_table() if n["Alive"]}
        self.lost: dict[str, str] = {}  # node id -> "node ... at address: why", in the order found
        self.spare: set[str] = set()  # dead nodes the run had no actor on
        self.first_loss_at: float | None = None

    @staticmethod
    def _answers(node: dict) -> bool:
        """The node's raylet accepts a connection (a killed raylet refuses at once)."""
        try:
            socket.create_connection((node["NodeManagerAddress"], node["NodeManagerPort"]), timeout=3).close()
            return True
        except OSError:
            return False

    def _collect_run_nodes(self) -> None:
        """Add the nodes the run's job has actors on now (nothing while its driver has not connected)."""
        import ray

        if self.job_id is None:
            jobs = [job for job in self.state.job_table()
                    if self.driver_pid is not None and job["DriverPid"] == self.driver_pid]
            if not jobs:
                return
            # a pid reused by an earlier driver on this machine: the latest job
            self.job_id = ray.JobID(bytes.fromhex(max(jobs, key=lambda j: j["StartTime"])["JobID"]))
        actors = self.state.actor_table(None, job_id=self.job_id)
        self.run_nodes |= {a["Address"]["NodeID"] for a in actors.values() if a["Address"]["NodeID"]}

    def poll(self, probe: bool = False) -> list[str]:
        """Record the watched nodes of the run that died since the last poll; returns their descriptions.

        Dead is what the GCS says; with ``probe`` also a node whose raylet refuses connections while the
        GCS still lists it (the GCS needs several missed health checks, seconds, to declare a node dead,
        and a driver can fail before that).
        """
        try:
            nodes = {n["NodeID"]: n for n in self.state.node_table()}
        except Exception:  # noqa: BLE001 - the GCS busy or gone: nothing learnt this time
            return []
        try:
            self._collect_run_nodes()
        except Exception:  # noqa: BLE001 - the actor table unavailable: the nodes collected so far
            pass
        found = []
        for node_id, started in self.watched.items():
            if node_id in self.lost or node_id in self.spare:
                continue
            node = nodes.get(node_id, started)
            if not node["Alive"]:
                why = node.get("DeathReasonMessage") or "declared dead by Ray's GCS"
            elif probe and not self._answers(node):
                why = "its raylet does not answer"
            else:
                continue
            if self.job_id is not None and node_id not in self.run_nodes:
                self.spare.add(node_id)
                continue
            self.lost[node_id] = (f"node {node_id[:8]} at {node['NodeManagerAddress']}:{node['NodeManagerPort']}: "
                                  f"{' '.join(str(why).split())}")
            found.append(self.lost[node_id])
        if found and self.first_loss_at is None:
            self.first_loss_at = time.monotonic()
        return found


def resume_point(checkpoints: Path | None) -> str:
    """Where a restart continues, as veRL's ``resume_mode=auto`` picks it: the tracker's step folder."""
    if checkpoints is None:
        return "resume from the run's last checkpoint"
    step = read_tracker(checkpoints)
    folder = list_step_dirs(checkpoints).get(step) if step is not None else None
    if folder is None:
        return f"start again (no checkpoint under {checkpoints} yet)"
    return f"resume from {folder}"


def node_loss_error(lost: list[str], checkpoints: Path | None) -> str:
    """The one line a run that lost a node ends with."""
    return (f"error: a Ray node died during the run ({'; '.join(lost)}); "
            f"restart with all nodes to {resume_point(checkpoints)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m launcher.memwatch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the peaks")
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--pid", type=int, help="watch this running process instead of starting one")
    parser.add_argument("--ray-address", help="the existing Ray cluster the command runs on: watch its nodes")
    parser.add_argument("--checkpoints", type=Path, help="the run's checkpoint folder, named when a node is lost")
    parser.add_argument("--node-loss-grace", type=float, default=float(common()["NODE_LOSS_GRACE"]),
                        help="seconds the driver has to fail by itself after Ray declares a node of the run dead "
                             "(default: NODE_LOSS_GRACE of recipes/common.yaml)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command and args.pid is None:
        print("error: no command given (use: -- COMMAND ..., or --pid PID)", file=sys.stderr)
        return 2
    baseline = psutil.virtual_memory().used
    start = time.monotonic()
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise_stop)
    if command:
        die_with_parent()
    child = subprocess.Popen(command) if command else None
    try:
        handle = psutil.Process(child.pid if child else args.pid)
    except psutil.NoSuchProcess:
        print(f"error: no process with pid {args.pid}", file=sys.stderr)
        return 2

    def running() -> bool:
        if child is not None:
            return child.poll() is None
        return handle.is_running() and handle.status() != psutil.STATUS_ZOMBIE

    peak_tree = peak_ray = peak_system = 0
    has_gpu = gpu_used_bytes() is not None
    peak_gpu = 0
    stopped_by = None
    stopped_for_lost_node = False
    nodes = None
    try:
        if args.ray_address:
            try:
                nodes = RayNodeWatch(args.ray_address, handle.pid)
            except Exception as exc:  # noqa: BLE001 - the run goes on unwatched; its own errors still show
                print(f"[memwatch] not watching the Ray nodes at {args.ray_address}: {type(exc).__name__}: {exc}",
                      file=sys.stderr)
        while running():
            if nodes is not None:
                for lost in nodes.poll():
                    print(f"[memwatch] Ray lost a node of this run ({lost}); the driver has "
                          f"{args.node_loss_grace:g} s to fail by itself", file=sys.stderr)
                if nodes.first_loss_at is not None and child is not None \
                        and time.monotonic() - nodes.first_loss_at > args.node_loss_grace:
                    print("[memwatch] the driver is still running without that node: stopping the run's process tree",
                          file=sys.stderr)
                    stopped_for_lost_node = True
                    stop_tree(handle)
                    child.wait()
                    break
            if has_gpu:
                peak_gpu = max([peak_gpu, *(gpu_used_bytes() or [])])
            try:
                peak_tree = max(peak_tree, tree_rss(handle))
            except psutil.NoSuchProcess:
                pass
            peak_ray = max(peak_ray, ray_rss())
            peak_system = max(peak_system, psutil.virtual_memory().used - baseline)
            time.sleep(args.interval)
    except Stop as stop:
        stopped_by = stop.signum
        for signum in STOP_SIGNALS:  # a second signal must not interrupt the clean-up
            signal.signal(signum, signal.SIG_IGN)
        if child is not None:
            print(f"[memwatch] {signal.Signals(stop.signum).name}: stopping the run's process tree", file=sys.stderr)
            stop_tree(handle)
            child.wait()
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    result = {
        # the program and its first arguments (a veRL launch carries ~80 overrides)
        "command": (" ".join(command[:3]) + (f" ... (+{len(command) - 3} args)" if len(command) > 3 else ""))
        if command else f"pid {args.pid}",
        "exit_code": child.returncode if child else None,
        "stopped_by": signal.Signals(stopped_by).name if stopped_by else None,
        "wall_s": round(time.monotonic() - start, 1),
        "peak_process_tree_gib": round(peak_tree / GIB, 2),
        "peak_all_ray_processes_on_machine_gib": round(peak_ray / GIB, 2),
        "peak_system_used_above_baseline_gib": round(peak_system / GIB, 2),
        "interval_s": args.interval,
    }
    if has_gpu:
        result["peak_gpu_used_gib"] = round(peak_gpu / GIB, 2)  # the busiest GPU, all its processes
    failed = stopped_for_lost_node or (child is not None and child.returncode != 0)
    if nodes is not None:
        if failed and not stopped_by:
            nodes.poll(probe=True)  # the driver may have failed before the GCS declared the node dead
        result["lost_ray_nodes"] = list(nodes.lost.values())
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result), file=sys.stderr)
    if stopped_by:
        return 128 + stopped_by
    if nodes is not None and nodes.lost and failed:
        print(node_loss_error(list(nodes.lost.values()), args.checkpoints), file=sys.stderr)
        return child.returncode if child is not None and child.returncode > 0 else 1
    return child.returncode if child else 0


if __name__ == "__main__":
    sys.exit(main())
