"""launcher.memwatch.RayNodeWatch on a real three-node Ray cluster (tests/ray_cluster.py).

The watch learns the run's nodes from the actor table of the run's job. A node can die before any poll has
seen the job's actors alive on it (the watch polls every few seconds; a node can be lost seconds after
placement). Here the first poll happens only after the GCS has declared the killed nodes dead and the
actors on them DEAD, so it can learn the run's nodes from dead actors only: a node that held one of the
job's actors must count as lost, a node that held none as spare (a bigger cluster's idle node).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

import launch_group
from ray_cluster import LocalCluster
from test_launcher_memwatch import wait_for

pytestmark = pytest.mark.e2e

# One actor on the driver's node and one on another node; the third node gets none.
DRIVER = """
import json, sys, time, ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
ray.init(address=sys.argv[1], log_to_driver=False, configure_logging=False)
here = ray.get_runtime_context().get_node_id()
others = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"] and n["NodeID"] != here)
@ray.remote(num_cpus=0)
class Placed:
    def node(self):
        return ray.get_runtime_context().get_node_id()
actors = [Placed.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote()
          for node in (here, others[0])]
used = ray.get([a.node.remote() for a in actors])
print(json.dumps({"used": used, "spare": others[1]}), flush=True)
time.sleep(3600)
"""


def _port_of(nodes: list[dict], node_id: str) -> int:
    return next(n["NodeManagerPort"] for n in nodes if n["NodeID"] == node_id)


def test_a_node_lost_before_any_poll_is_the_runs_and_an_idle_one_is_spare(tmp_path):
    from launcher.memwatch import RayNodeWatch

    with LocalCluster(nodes=3, gpus=0, cpus=1) as cluster:
        watch = RayNodeWatch(cluster.address, driver_pid=None)  # watches the three nodes alive now
        driver = launch_group.start([sys.executable, "-c", DRIVER, cluster.address], dict(os.environ),
                                    cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            placed = json.loads(driver.stdout.readline() or "{}")
            assert placed, "the driver did not place its actors"
            watch.driver_pid = driver.pid
            nodes = watch.state.node_table()
            run_node, spare_node = placed["used"][1], placed["spare"]
            for node_id in (run_node, spare_node):
                cluster.kill_node(cluster.node_manager_ports.index(_port_of(nodes, node_id)))

            def declared_dead() -> bool:
                alive = {n["NodeID"]: n["Alive"] for n in watch.state.node_table()}
                states = [a["State"] for a in watch.state.actor_table(None).values()
                          if a["Address"]["NodeID"] == run_node]
                return not alive[run_node] and not alive[spare_node] and states == ["DEAD"]

            # the GCS declares a node dead after missed health checks (~15-30 s); no poll before that
            assert wait_for(declared_dead, 120), "the GCS did not declare the killed nodes dead"
            started = time.monotonic()
            lost = watch.poll()
        finally:
            launch_group.stop(driver)
    print(f"first poll after the deaths: {time.monotonic() - started:.2f} s; lost {lost}")
    assert watch.job_id is not None, "the driver's job was not found"
    assert set(watch.lost) == {run_node}, (watch.lost, watch.spare)
    assert len(lost) == 1 and run_node[:8] in lost[0]
    assert watch.spare == {spare_node}
    assert watch.run_nodes == set(placed["used"])
