"""Stage 1 and 2 on a real two-node Ray cluster started with ``ray start`` (tests/ray_cluster.py).

The nodes start from a bare environment, so the run works only if everything the workers need reaches
them through the job's runtime environment (``recipes.runtime_env_overrides``).

1. The head alone, ``NNODES=2``: the preflight stops with one ``error:`` line naming the missing node
   (veRL's placement-group wait would not end).
2. A second node joins; stage 1 (MODEL=tiny, 2 steps) runs across both: the actor/rollout workers and the
   vLLM servers are placed on both nodes (Ray's GCS actor table), and its outputs are complete.
3. Stage 2 (2 steps, a checkpoint each) chains from stage 1's checkpoint on the same cluster. Once its
   step-1 checkpoint is on disk, the second node is killed (SIGKILL to its ``ray start`` process group:
   raylet, object store, workers, vLLM). The launch stops (its driver fails, or memwatch stops it
   NODE_LOSS_GRACE = 10 s after Ray declares the node dead) with one ``error:`` line naming the lost node
   and the checkpoint to resume from (``launcher/memwatch.py`` watches the cluster's nodes), and leaves no
   process behind.
4. A new node joins; the same stage-2 launch resumes from that checkpoint (veRL's ``resume_mode=auto``)
   and completes. The chaining and the resume are shown by the same two launches: stage 1 trains at a high
   learning rate and stage 2 at learning rate 0, so stage 2's final weights, through a checkpoint restore,
   must equal stage 1's tensor by tensor and differ from the base model; its metrics hold every step once.
   (These launches are also the kit's only resume and chaining runs: each launch costs about 2 minutes of
   start-up on a 2-core machine, so the single-node path has no separate copy of them.)
5. The bound on a hang: a plain Ray driver that does not fail when its second node dies (it waits on its
   head-node actor only) runs under memwatch with a 5 s grace beside stage 2; the same node kill ends it,
   and memwatch stops it with the same one line.
6. Nothing of the launches is left running, and the cluster is stopped by its own process groups.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import torch

import launch_group
from ray_cluster import REPO_ROOT, LocalCluster
from tiny_runs import build_small_data, load_weights, logged_steps, stage_env, until_checkpointed
from test_launcher_memwatch import marked_alive, wait_for

pytestmark = pytest.mark.e2e

ACTORS_SCRIPT = """
import json, ray
ray.init(address="{address}", log_to_driver=False, configure_logging=False)
nodes = {{n["NodeID"]: n["NodeManagerAddress"] + ":" + str(n["NodeManagerPort"]) for n in ray.nodes()}}
actors = [{{"class": a["ActorClassName"], "node": a["Address"]["NodeID"], "state": a["State"],
            "job": a["JobID"]}} for a in ray._private.state.actors().values()]
print(json.dumps({{"nodes": nodes, "actors": actors}}))
"""


# A driver that does not fail when a node dies (as one blocked in a collective with a vanished machine
# would not): one actor on each node (no resources: the launch beside it holds the GPUs), then it waits on
# the head-node actor only.
HANGING_DRIVER = """
import sys, time, ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
ray.init(address=sys.argv[1], log_to_driver=False)
@ray.remote(num_cpus=0)
class Node:
    def ready(self):
        return True
    def block(self):
        time.sleep(3600)
here = ray.get_runtime_context().get_node_id()
actors = {n["NodeID"]: Node.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote()
          for n in ray.nodes() if n["Alive"]}
ray.get([a.ready.remote() for a in actors.values()])
print("READY", len(actors), flush=True)
ray.get(actors[here].block.remote())
"""
HANG_GRACE_S = 5
NODE_LOSS_GRACE_S = 10


@contextlib.contextmanager
def hanging_driver(cluster: LocalCluster, work: Path):
    """The hanging driver under memwatch (grace HANG_GRACE_S), ready once it has an actor on every node;
    its process group and marked processes are killed when the block ends."""
    log = work / "hanging_driver.out"
    python = str(REPO_ROOT / ".venv/bin/python")
    command = [python, "-m", "launcher.memwatch", "--out", str(work / "hanging_driver.json"), "--interval", "1",
               "--ray-address", cluster.address, "--node-loss-grace", str(HANG_GRACE_S),
               "--", python, "-c", HANGING_DRIVER, cluster.address]
    with open(log, "w") as out:
        proc = launch_group.start(command, {**os.environ, "PYTHONPATH": str(REPO_ROOT)}, cwd=REPO_ROOT,
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: proc.poll() is not None or "READY" in log.read_text(), 120)
        ready = f"READY {cluster.nodes}" in log.read_text() and proc.poll() is None
        # memwatch learns the run's nodes from the actor table at its polls (every 1 s here): the node is
        # killed after stage 2's first checkpoint, minutes later
        yield proc, log, ready
    finally:
        launch_group.stop(proc)


def end_of_hanging_driver(proc, log: Path, ready: bool, killed_at: float, port: int, timings: dict) -> dict:
    """What became of the hanging driver once a node it has an actor on was killed (at ``killed_at``)."""
    try:
        proc.wait(timeout=launch_group.timeout_s(180))
    except subprocess.TimeoutExpired:
        pass
    timings["hanging_driver_kill_to_end_s"] = time.monotonic() - killed_at
    left = not wait_for(lambda: not marked_alive(proc.kk_marker), 30)
    leftovers = [" ".join(p.cmdline())[:100] for p in marked_alive(proc.kk_marker)] if left else []
    return {"ready": ready, "returncode": proc.returncode, "output": log.read_text(), "leftovers": leftovers,
            "port": port}


@contextlib.contextmanager
def timed(timings: dict, key: str):
    """Record the block's wall seconds as ``timings[key]`` (the fixture prints them)."""
    start = time.monotonic()
    try:
        yield
    finally:
        timings[key] = time.monotonic() - start


def launch(script: str, env: dict) -> subprocess.CompletedProcess:
    return launch_group.run(["bash", f"run_scripts/{script}"], cwd=REPO_ROOT, env=env,
                            timeout=launch_group.timeout_s(launch_group.TINY_LAUNCH_S))


def launch_and_kill_node(script: str, env: dict, cluster: LocalCluster, node: int, tracker: Path,
                         timings: dict, logs: Path) -> dict:
    """Launch ``script``; once ``tracker`` names step 1, kill ``node``; wait (bounded) for the launch to end."""
    logs.mkdir(exist_ok=True)
    with open(logs / "stdout", "w") as out, open(logs / "stderr", "w") as err:
        proc = launch_group.start(["bash", f"run_scripts/{script}"], env, cwd=REPO_ROOT, stdout=out, stderr=err)
    try:
        killed_mid_run = until_checkpointed(proc, tracker, step=1)
        killed_at = time.monotonic()
        cluster.kill_node(node)
        try:
            # the bound: memwatch stops a driver that outlives the node by its grace plus the stop
            proc.wait(timeout=launch_group.timeout_s(600))
            ended = True
        except subprocess.TimeoutExpired:
            ended = False
        timings["node_kill_to_launch_end_s"] = time.monotonic() - killed_at
        # what the launch leaves: processes carrying its marker (driver, head-node workers and vLLM
        # through the runtime environment, and whatever of the killed node's outlived its process group)
        with timed(timings, "killed_launch_processes_end_s"):
            left = not wait_for(lambda: not marked_alive(proc.kk_marker), 60)
        leftovers = [" ".join(p.cmdline())[:100] for p in marked_alive(proc.kk_marker)] if left else []
    finally:
        launch_group.stop(proc)
    return {"killed_mid_run": killed_mid_run, "killed_at": killed_at, "ended": ended, "returncode": proc.returncode,
            "stdout": (logs / "stdout").read_text(), "stderr": (logs / "stderr").read_text(),
            "leftovers": leftovers}


@pytest.fixture(scope="module")
def cluster_runs(tmp_path_factory):
    work = tmp_path_factory.mktemp("nodes")
    timings = {}
    begin = time.monotonic()
    with timed(timings, "data_s"):
        build_small_data(work)
    starting = time.monotonic()
    with LocalCluster(nodes=1) as cluster:  # entering starts it
        timings["cluster_start_s"] = time.monotonic() - starting
        common = dict(RAY_ADDRESS=cluster.address, NNODES="2", N_GPUS="1", MICRO_BATCH="2")
        with timed(timings, "one_node_refusal_s"):
            one_node = launch("stage1_warmup.sh", stage_env(work, TOTAL_STEPS="2", **common))
        verl_started_on_one_node = (work / "runs" / "chain" / "stage1_warmup" / "train.log").exists()
        cluster.add_node()
        env1 = launch_group.marked_env(stage_env(work, TOTAL_STEPS="2", SAVE_FREQ="2", LR="1e-3", **common))
        with timed(timings, "stage1_s"):
            stage1 = launch("stage1_warmup.sh", env1)
        with timed(timings, "placement_s"):
            placement = subprocess.run([str(REPO_ROOT / ".venv/bin/python"), "-c",
                                        ACTORS_SCRIPT.format(address=cluster.address)],
                                       capture_output=True, text=True, timeout=120, cwd="/tmp")
        # Ray ends a finished job's workers itself; they carried the launch's marker (runtime env)
        with timed(timings, "stage1_workers_end_s"):
            stage1_leftovers = not wait_for(lambda: not marked_alive(env1[launch_group.MARKER]), 60)
        stage2_dir = work / "runs" / "chain" / "stage2_hightemp"
        # memwatch's grace for a driver that does not fail by itself once the node is declared dead (60 s
        # by default): either way the launch ends with the same line
        env2 = stage_env(work, TOTAL_STEPS="2", SAVE_FREQ="1", LR="0", NODE_LOSS_GRACE=str(NODE_LOSS_GRACE_S),
                         **common)
        killed_port = cluster.node_manager_ports[1]
        # the same node kill also tests memwatch's bound on a driver that does not fail by itself
        starting = time.monotonic()
        with hanging_driver(cluster, work) as hanging_run:
            timings["hanging_driver_start_s"] = time.monotonic() - starting
            with timed(timings, "stage2_killed_s"):
                killed = launch_and_kill_node("stage2_hightemp.sh", launch_group.marked_env(env2), cluster, 1,
                                              stage2_dir / "checkpoints" / "latest_checkpointed_iteration.txt",
                                              timings, work / "stage2_killed")
            hanging = end_of_hanging_driver(*hanging_run, killed["killed_at"], killed_port, timings)
        with timed(timings, "add_node_s"):
            cluster.add_node()
        resumed_at = time.time()
        with timed(timings, "stage2_resumed_s"):
            stage2 = launch("stage2_hightemp.sh", {**env2, "VERL_LOGGING_LEVEL": "INFO"})
        markers = cluster.markers()
    timings["fixture_s"] = time.monotonic() - begin
    cluster_leftovers = [p.pid for m in markers for p in marked_alive(m)]
    print("multi-node timings:", {k: round(v, 1) for k, v in timings.items()})
    return {"work": work, "one_node": one_node, "verl_started_on_one_node": verl_started_on_one_node, "stage1": stage1, "placement": placement,
            "stage2_killed": killed, "killed_port": killed_port, "hanging": hanging, "resumed_at": resumed_at, "stage2": stage2,
            "stage1_leftovers": stage1_leftovers, "cluster_leftovers": cluster_leftovers,
            "stage1_dir": work / "runs" / "chain" / "stage1_warmup", "stage2_dir": stage2_dir}


def test_two_nodes_needed_on_a_one_node_cluster_is_one_error_line(cluster_runs):
    proc = cluster_runs["one_node"]
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    line = errors[0]
    assert "NNODES=2" in line and "the cluster has 1" in line and "missing 1 node(s) x 1 GPU" in line, line
    assert not cluster_runs["verl_started_on_one_node"]  # the preflight refused before veRL started


def test_stage1_workers_ran_on_both_nodes(cluster_runs):
    stage1 = cluster_runs["stage1"]
    assert stage1.returncode == 0, stage1.stdout[-4000:] + stage1.stderr[-4000:]
    placement = cluster_runs["placement"]
    assert placement.returncode == 0, placement.stderr[-3000:]
    table = json.loads(placement.stdout.strip().splitlines()[-1])
    assert len(table["nodes"]) == 2
    by_class: dict[str, set[str]] = {}
    for actor in table["actors"]:
        by_class.setdefault(actor["class"], set()).add(actor["node"])
    print(json.dumps({k: sorted(v) for k, v in by_class.items()}, indent=1))
    # the colocated actor/rollout/ref workers (one per GPU) and the vLLM servers (one per replica)
    workers = {n for cls, nodes in by_class.items() if "WorkerDict" in cls for n in nodes}
    servers = {n for cls, nodes in by_class.items() if "vLLM" in cls and "Server" in cls for n in nodes}
    assert workers == set(table["nodes"]), by_class
    assert servers == set(table["nodes"]), by_class


def test_stage1_outputs_are_complete(cluster_runs):
    assert cluster_runs["stage1"].returncode == 0
    out = cluster_runs["stage1_dir"]
    steps = [json.loads(line).get("step") for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert [s for s in steps if s is not None] == [1, 2]
    assert (out / "rollouts" / "2.jsonl").stat().st_size > 0
    hf = out / "checkpoints" / "global_step_2" / "actor" / "huggingface"
    assert any(hf.glob("*.safetensors")), list(hf.iterdir())
    assert (out / "COMPLETED").is_file()
    assert not cluster_runs["stage1_leftovers"], "processes of the finished launch still run"


def test_stage2_chains_from_stage1_on_the_cluster(cluster_runs):
    killed, stage2 = cluster_runs["stage2_killed"], cluster_runs["stage2"]
    for launch_output in (killed["stdout"] + killed["stderr"], stage2.stdout + stage2.stderr):
        assert str(cluster_runs["stage1_dir"] / "checkpoints") in launch_output


def test_a_killed_node_stops_the_launch_with_one_error_line(cluster_runs):
    killed = cluster_runs["stage2_killed"]
    output = killed["stdout"] + killed["stderr"]
    assert killed["killed_mid_run"], "stage 2 ended before its node could be killed: " + output[-3000:]
    assert killed["ended"], "the launch still ran 10 minutes after its node was killed: " + output[-3000:]
    assert killed["returncode"] not in (0, None), output[-3000:]
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output[-5000:]
    line = errors[0]
    resume_from = cluster_runs["stage2_dir"] / "checkpoints" / "global_step_1"
    assert line.startswith("error: a Ray node died during the run (node "), line
    assert f":{cluster_runs['killed_port']}: " in line, line  # the killed node's raylet
    assert line.endswith(f"restart with all nodes to resume from {resume_from}"), line
    assert killed["leftovers"] == [], "processes of the killed launch still run"
    # the launch's NODE_LOSS_GRACE reached memwatch (its line is there unless the driver failed first)
    granted = [line for line in output.splitlines() if line.startswith("[memwatch] Ray lost a node")]
    assert all(f"the driver has {NODE_LOSS_GRACE_S} s to fail by itself" in line for line in granted), granted


def test_a_restart_with_both_nodes_resumes_from_the_checkpoint(cluster_runs):
    stage2 = cluster_runs["stage2"]
    assert stage2.returncode == 0, stage2.stdout[-4000:] + stage2.stderr[-4000:]
    out = cluster_runs["stage2_dir"]
    assert "Resuming from" in stage2.stdout and "global_step_1" in stage2.stdout, stage2.stdout[-3000:]
    # step 2 ran in the restart (its rollout dump is newer), step 1 was not redone
    step1_dump = out / "rollouts" / "1.jsonl"  # written after the checkpoint, so it may not exist
    assert not step1_dump.exists() or step1_dump.stat().st_mtime < cluster_runs["resumed_at"]
    assert (out / "rollouts" / "2.jsonl").stat().st_mtime > cluster_runs["resumed_at"]
    hf = out / "checkpoints" / "global_step_2" / "actor" / "huggingface"
    assert any(hf.glob("*.safetensors")), list(hf.iterdir())
    assert (out / "COMPLETED").is_file()
    # what the killed attempt logged is kept aside and merged back: every logged step once
    logged_before_kill, steps = logged_steps(out)
    assert logged_before_kill in ([], [1])
    assert steps == logged_before_kill + [2]


def test_stage2_weights_are_stage1s(cluster_runs):
    """lr=0 in stage 2: its final weights, after the kill and a checkpoint restore, are what it chained from."""
    assert cluster_runs["stage2"].returncode == 0
    s1 = load_weights(cluster_runs["stage1_dir"] / "checkpoints" / "global_step_2" / "actor" / "huggingface")
    s2 = load_weights(cluster_runs["stage2_dir"] / "checkpoints" / "global_step_2" / "actor" / "huggingface")
    base = load_weights(REPO_ROOT / ".cache" / "models" / "tiny-qwen2")
    shared = sorted(set(s1) & set(s2) & set(base))
    assert shared
    assert all(torch.equal(s1[k], s2[k]) for k in shared)
    # and stage 1 really trained (lr 1e-3), so this is not the base model passing through
    assert any(not torch.allclose(s1[k].float(), base[k].float()) for k in shared)


def test_the_cluster_left_nothing_behind(cluster_runs):
    assert cluster_runs["cluster_leftovers"] == []


def test_a_driver_that_outlives_its_lost_node_is_stopped(cluster_runs):
    """The bound on a driver that does not fail by itself: memwatch stops it after its grace."""
    hanging = cluster_runs["hanging"]
    output = hanging["output"]
    assert hanging["ready"], output[-3000:]
    assert hanging["returncode"] == 1, output[-3000:]
    assert "the driver is still running without that node: stopping the run's process tree" in output, output[-3000:]
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f":{hanging['port']}: " in errors[0], output[-3000:]
    assert hanging["leftovers"] == []
