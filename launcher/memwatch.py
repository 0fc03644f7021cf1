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
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from data_prep.fileio import atomic_write_text

GIB = 1024**3
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
GRACE_S = 15.0  # Ray's and vLLM's own shutdown handlers run in this time


class Stop(Exception):
    """A stop signal arrived (or the parent died)."""

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m launcher.memwatch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the peaks")
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--pid", type=int, help="watch this running process instead of starting one")
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
    try:
        while running():
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
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result), file=sys.stderr)
    if stopped_by:
        return 128 + stopped_by
    return child.returncode if child else 0


if __name__ == "__main__":
    sys.exit(main())
