"""A real Ray cluster of several nodes on this one machine, started the way a user starts one: ``ray start``.

Each node is its own ``ray start --block`` (its own raylet, object store and logical resources), in its own
session, with free ports and a private ``--temp-dir``, so nothing is shared with another Ray on the machine
and stopping a node is killing its process group plus every process carrying its marker (``ray stop``
would stop every Ray of the user on the machine). The nodes start from a *bare* environment (no
PYTHONPATH, no VERL_/VLLM_ variables, working directory outside the repository): whatever a launch needs
on the workers must reach them through the job's runtime environment, as on a real cluster.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import launch_group

REPO_ROOT = Path(__file__).resolve().parents[1]
RAY = REPO_ROOT / ".venv" / "bin" / "ray"
BARE_ENV_KEYS = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "TMPDIR")


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)  # ray start colours its output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalCluster:
    """``LocalCluster(nodes=2)``: a head and ``nodes - 1`` more nodes, each with ``gpus`` logical GPUs."""

    def __init__(self, nodes: int = 2, gpus: int = 1, cpus: int = 8):
        self.nodes, self.gpus, self.cpus = nodes, gpus, cpus
        # short: Ray's socket paths have a length limit
        self.temp_dir = Path(tempfile.mkdtemp(prefix="kkr", dir="/tmp"))
        self.port = free_port()
        self.address = ""  # host:port as the head announces it ("To add another node ... --address='...'")
        self.procs: list[subprocess.Popen] = []
        self.node_manager_ports: list[int] = []  # each node's raylet, as Ray's node table lists it
        self.killed: set[int] = set()  # nodes stopped on purpose (kill_node), no longer waited for

    def _env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in BARE_ENV_KEYS if k in os.environ}
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        # Ray 2.60 turns token authentication on for `ray start --head` when a token file exists
        # (~/.ray/auth_token); this throw-away local cluster runs without (README, "Several nodes")
        env["RAY_AUTH_MODE"] = "disabled"
        # the GCS checks each raylet every 1 s instead of 3 s, so a killed node is declared dead after ~5 s
        # instead of ~15 s; a live raylet still needs 5 checks in a row unanswered for 10 s each (Ray's
        # timeout and threshold, unchanged) before it is taken for dead on a loaded machine
        env["RAY_health_check_period_ms"] = "1000"
        return launch_group.marked_env(env)

    def _start_node(self, head: bool) -> subprocess.Popen:
        self.node_manager_ports.append(free_port())
        args = [str(RAY), "start", "--block", f"--num-gpus={self.gpus}", f"--num-cpus={self.cpus}",
                f"--temp-dir={self.temp_dir}", "--disable-usage-stats",
                f"--node-manager-port={self.node_manager_ports[-1]}", f"--object-manager-port={free_port()}",
                f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
                f"--metrics-export-port={free_port()}", f"--runtime-env-agent-port={free_port()}",
                "--object-store-memory=300000000"]
        if head:
            args += ["--head", f"--port={self.port}", "--include-dashboard=false",
                     f"--ray-client-server-port={free_port()}"]
        else:
            args += [f"--address={self.address}"]
        log = open(self.temp_dir / f"node{len(self.procs)}.log", "w")
        proc = launch_group.start(args, self._env(), cwd=self.temp_dir, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def alive_nodes(self) -> int:
        """Alive nodes, as ``ray status`` reports them from the head's GCS (no dashboard needed)."""
        try:
            out = subprocess.run([str(RAY), "status", "--address", self.address], capture_output=True,
                                 text=True, timeout=60, env=self._env())
        except subprocess.TimeoutExpired:
            return 0
        if out.returncode != 0 or "Active:" not in out.stdout:
            return 0
        active = out.stdout.split("Active:", 1)[1].split("Pending:", 1)[0]
        return sum(1 for line in active.splitlines() if re.match(r"\s*\d+ node_", line))

    def _announced_address(self) -> bool:
        match = re.search(r"ray start --address='([^']+)'", _plain((self.temp_dir / "node0.log").read_text()))
        if match:
            self.address = match.group(1)
        return bool(match)

    def start(self, timeout_s: float = 120) -> "LocalCluster":
        self._start_node(head=True)
        self._wait(self._announced_address, timeout_s, "head node")
        # one node at a time: two raylets starting together on this machine can time out in the head's
        # node-info lookup ("The current node timed out during startup")
        for count in range(2, self.nodes + 1):
            self._start_node(head=False)
            self._wait(lambda: self.alive_nodes() >= count, timeout_s, f"{count} nodes")
        return self

    def add_node(self, timeout_s: float = 120) -> None:
        self._start_node(head=False)
        self.nodes = len(self.procs) - len(self.killed)
        self._wait(lambda: self.alive_nodes() >= self.nodes, timeout_s, f"{self.nodes} nodes")

    def markers(self) -> list[str]:
        return [p.kk_marker for p in self.procs]  # type: ignore[attr-defined]

    def _wait(self, ready, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + launch_group.timeout_s(timeout_s)
        while time.monotonic() < deadline:
            if any(p.poll() is not None for i, p in enumerate(self.procs) if i not in self.killed):
                break
            if ready():
                return
            time.sleep(1)
        logs = "\n".join(p.read_text()[-2000:] for p in sorted(self.temp_dir.glob("node*.log")))
        self.stop()
        raise RuntimeError(f"local Ray cluster: {what} not up\n{logs}")

    def kill_node(self, index: int) -> None:
        """SIGKILL one node: its ``ray start``, raylet and workers (the head's GCS stays up for index > 0)."""
        proc = self.procs[index]
        self.killed.add(index)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        launch_group.kill_marked(proc.kk_marker)

    def stop(self) -> None:
        for index in reversed(range(len(self.procs))):
            self.kill_node(index)
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":  # a manual check: python tests/ray_cluster.py
    with LocalCluster() as cluster:
        print(cluster.address, cluster.alive_nodes(), file=sys.stderr)
