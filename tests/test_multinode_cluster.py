"""Stage 1 and 2 on a real two-node Ray cluster started with ``ray start`` (tests/ray_cluster.py).

The nodes start from a bare environment, so the run works only if everything the workers need reaches
them through the job's runtime environment (``recipes.runtime_env_overrides``).

1. The head alone, ``NNODES=2``: the preflight stops with one ``error:`` line naming the missing node
   (veRL's placement-group wait would not end).
2. A second node joins; stage 1 (MODEL=tiny, 2 steps) runs across both: the actor/rollout workers and the
   vLLM servers are placed on both nodes (Ray's GCS actor table), and its outputs are complete.
3. Stage 2 chains from stage 1's checkpoint on the same cluster.
4. Nothing of the launches is left running, and the cluster is stopped by its own process groups.
"""
from __future__ import annotations

import json
import subprocess
import time

import pytest

import launch_group
from ray_cluster import REPO_ROOT, LocalCluster
from test_stage_chaining import build_small_data, stage_env
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


def launch(script: str, env: dict) -> subprocess.CompletedProcess:
    return launch_group.run(["bash", f"run_scripts/{script}"], cwd=REPO_ROOT, env=env,
                            timeout=launch_group.timeout_s(launch_group.TINY_LAUNCH_S))


@pytest.fixture(scope="module")
def cluster_runs(tmp_path_factory):
    work = tmp_path_factory.mktemp("nodes")
    build_small_data(work)
    timings = {}
    with LocalCluster(nodes=1) as cluster:
        common = dict(RAY_ADDRESS=cluster.address, NNODES="2", N_GPUS="1", MICRO_BATCH="2")
        t0 = time.monotonic()
        one_node = launch("stage1_warmup.sh", stage_env(work, TOTAL_STEPS="2", **common))
        timings["one_node_refusal_s"] = time.monotonic() - t0
        verl_started_on_one_node = (work / "runs" / "chain" / "stage1_warmup" / "train.log").exists()
        cluster.add_node()
        env1 = launch_group.marked_env(stage_env(work, TOTAL_STEPS="2", SAVE_FREQ="2", LR="1e-3", **common))
        t0 = time.monotonic()
        stage1 = launch("stage1_warmup.sh", env1)
        timings["stage1_s"] = time.monotonic() - t0
        placement = subprocess.run([str(REPO_ROOT / ".venv/bin/python"), "-c",
                                    ACTORS_SCRIPT.format(address=cluster.address)],
                                   capture_output=True, text=True, timeout=120, cwd="/tmp")
        # Ray ends a finished job's workers itself; they carried the launch's marker (runtime env)
        stage1_leftovers = not wait_for(lambda: not marked_alive(env1[launch_group.MARKER]), 60)
        env2 = stage_env(work, TOTAL_STEPS="1", SAVE_FREQ="1", LR="0", **common)
        t0 = time.monotonic()
        stage2 = launch("stage2_hightemp.sh", env2)
        timings["stage2_s"] = time.monotonic() - t0
        markers = cluster.markers()
    cluster_leftovers = [p.pid for m in markers for p in marked_alive(m)]
    print("multi-node timings:", {k: round(v, 1) for k, v in timings.items()})
    return {"work": work, "one_node": one_node, "verl_started_on_one_node": verl_started_on_one_node, "stage1": stage1, "placement": placement, "stage2": stage2,
            "stage1_leftovers": stage1_leftovers, "cluster_leftovers": cluster_leftovers,
            "stage1_dir": work / "runs" / "chain" / "stage1_warmup",
            "stage2_dir": work / "runs" / "chain" / "stage2_hightemp"}


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
    stage2 = cluster_runs["stage2"]
    assert stage2.returncode == 0, stage2.stdout[-4000:] + stage2.stderr[-4000:]
    assert str(cluster_runs["stage1_dir"] / "checkpoints") in stage2.stdout + stage2.stderr
    assert (cluster_runs["stage2_dir"] / "COMPLETED").is_file()


def test_the_cluster_left_nothing_behind(cluster_runs):
    assert cluster_runs["cluster_leftovers"] == []
