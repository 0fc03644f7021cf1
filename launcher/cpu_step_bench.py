"""Where a CPU GRPO step spends its time, against what the CPU can do (``python -m launcher.cpu_step_bench``).

Runs ``run_scripts/smoke_cpu.sh`` for 2 real GRPO steps of the embedded SmolLM2-135M-Instruct (batch 4 × n 4,
256 response tokens: the quickstart's CPU stage size, no validation, no checkpoint) in its own process group,
then prints:

* the per-phase seconds of each step (veRL's ``timing_s/*`` from ``metrics.jsonl``);
* the compute dtype the launch chose and why (the banner line; the composed config's actor, reference and
  vLLM dtypes);
* the actor update's effective GFLOP/s: ``6 × parameters × tokens`` (forward + backward; attention scores
  left out) over ``timing_s/update_actor``, with tokens = ``perf/total_num_tokens`` (prompt + response,
  padding excluded), and the same for the forward-only log-prob passes (``2 × parameters × tokens``);
* a matmul roofline measured in this process, fp32 and bf16, on all cores and on one;
* the ratio of the update's rate to the roofline of the chosen dtype.

``--dtype bf16|fp32`` sets ``CPU_DTYPE`` for the launch; ``--env KEY=VALUE`` adds environment variables
(e.g. ``OMP_NUM_THREADS=2``), and arguments after ``--`` are Hydra overrides, to measure a candidate fix.
``--load N`` keeps N busy-looping processes (normal priority) running beside the launch, to measure how
the step slows under other load.
One run needs ~15 GiB of memory; run one at a time.
"""
from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

REPO_ROOT = Path(__file__).resolve().parents[1]
STEPS = 2
# Phases shown first, in the order of a step; other timing_s/* keys follow.
PHASES = ("gen", "reward", "old_log_prob", "ref", "adv", "update_actor", "update_weights", "step")
MATMUL_N = 1024


def matmul_gflops(dtype_name: str, threads: int, n: int = MATMUL_N, seconds: float = 1.0) -> float:
    """Best GFLOP/s of an n×n by n×n matmul in ``dtype_name`` with ``threads`` intra-op threads."""
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b  # warm-up (oneDNN primitive creation)
        best, spent = 0.0, 0.0
        while spent < seconds:
            start = time.perf_counter()
            a @ b
            took = time.perf_counter() - start
            spent += took
            best = max(best, 2 * n**3 / took / 1e9)
        return best
    finally:
        torch.set_num_threads(before)


def roofline() -> dict[str, float]:
    cores = os.cpu_count() or 1
    out = {}
    for dtype in ("fp32", "bf16"):
        out[f"matmul_{dtype}_gflops"] = round(matmul_gflops(dtype, cores), 1)
        out[f"matmul_{dtype}_1thread_gflops"] = round(matmul_gflops(dtype, 1), 1)
    return out


def count_parameters(model_dir: Path) -> int:
    """Parameters stored in the model folder's safetensors (tied weights stored once)."""
    from safetensors import safe_open

    total = 0
    for shard in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(shard), framework="pt") as handle:
            for key in handle.keys():
                size = 1
                for dim in handle.get_slice(key).get_shape():
                    size *= dim
                total += size
    return total


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def run_steps(work: Path, dtype: str | None, extra_env: dict[str, str], overrides: Sequence[str],
              timeout_s: float, load: int = 0) -> tuple[int, Path, Path, float]:
    """2 GRPO steps through smoke_cpu.sh in a new process group; (exit code, stage dir, log, wall seconds)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VERL_", "VLLM_"))}
    env.update(
        PROFILE="cpu", MODEL="smollm2", SMOKE_DATA=str(work / "data"), RUNS_DIR=str(work / "runs"),
        SMOKE_EXPERIMENT="bench", TOTAL_STEPS=str(STEPS), LOGGERS="console,file", SAVE_FREQ="-1",
        TEST_FREQ="-1", VAL_BEFORE_TRAIN="False",
    )
    env.pop("CPU_DTYPE", None)
    if dtype:
        env["CPU_DTYPE"] = dtype
    env.update(extra_env)
    log = work / "bench.log"
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(load)]
    start = time.perf_counter()
    try:
        with log.open("w") as sink:
            proc = subprocess.Popen(["bash", "run_scripts/smoke_cpu.sh", *overrides], cwd=REPO_ROOT, env=env,
                                    stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                rc = proc.wait(timeout=timeout_s)
            except BaseException:  # timeout or Ctrl-C: no veRL/Ray/vLLM process may outlive the bench
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    return rc, work / "runs" / "bench" / "smoke", log, time.perf_counter() - start


def step_records(stage: Path) -> dict[int, dict]:
    from analysis.loading import read_jsonl

    records = [line.record for line in read_jsonl(stage / "metrics.jsonl", strict=True)]
    return {r["step"]: r["data"] for r in records if "training/global_step" in r.get("data", {})}


def chosen_dtype(stage: Path, log: Path) -> dict[str, str]:
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(stage / "hydra" / ".hydra" / "config.yaml").actor_rollout_ref
    banner = re.search(r"dtype\s+:\s+(\S+) \((.*)\)", log.read_text(errors="replace"))
    return {
        "dtype": banner.group(1) if banner else "?",
        "dtype_reason": banner.group(2) if banner else "?",
        "actor_param_dtype": str(OmegaConf.select(cfg, "actor.fsdp_config.mixed_precision.param_dtype")),
        "ref_param_dtype": str(OmegaConf.select(cfg, "ref.fsdp_config.mixed_precision.param_dtype")),
        "rollout_dtype": str(cfg.rollout.dtype),
    }


def run(dtype: str | None, extra_env: dict[str, str], overrides: Sequence[str], keep: Path | None,
        timeout_s: float, load: int = 0) -> dict:
    work = keep or Path(tempfile.mkdtemp(prefix="kk_cpu_step_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"[bench] {STEPS} GRPO steps of smollm2 on CPU (log: {work / 'bench.log'}) ...", file=sys.stderr)
    load_before = os.getloadavg()[0]
    rc, stage, log, wall = run_steps(work, dtype, extra_env, overrides, timeout_s, load)
    if rc != 0:
        raise RuntimeError(f"smoke_cpu.sh exited {rc}; see {log}")
    steps = step_records(stage)
    params = count_parameters(REPO_ROOT / ".cache" / "models" / "smollm2-135m-instruct")
    figures: dict = {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "wall_s": round(wall, 1),
                     "parameters": params, "extra_env": extra_env, "overrides": list(overrides), "load": load,
                     "loadavg_before": round(load_before, 2), "loadavg_after": round(os.getloadavg()[0], 2)}
    figures.update(chosen_dtype(stage, log))
    figures["steps"] = {}
    for step, data in sorted(steps.items()):
        timings = {k[len("timing_s/"):]: round(float(v), 2) for k, v in data.items() if k.startswith("timing_s/")}
        tokens = float(data.get("perf/total_num_tokens", 0))
        row = {"timing_s": timings, "tokens": int(tokens),
               "response_length_mean": round(float(data.get("response_length/mean", 0)), 1)}
        if timings.get("update_actor"):
            row["update_gflops"] = round(6 * params * tokens / timings["update_actor"] / 1e9, 2)
        if timings.get("old_log_prob"):
            row["old_log_prob_gflops"] = round(2 * params * tokens / timings["old_log_prob"] / 1e9, 2)
        figures["steps"][step] = row
    figures.update(roofline())
    rates = [row["update_gflops"] for row in figures["steps"].values() if "update_gflops" in row]
    if rates and figures["dtype"] in ("fp32", "bf16"):
        figures["update_gflops_median"] = round(statistics.median(rates), 2)
        figures["update_vs_roofline"] = round(figures["update_gflops_median"] /
                                              figures[f"matmul_{figures['dtype']}_gflops"], 3)
    return figures


def print_report(figures: dict) -> None:
    print(f"cpu: {figures['cpu_model']} ({figures['cpu_count']} cores)   parameters: {figures['parameters']:,}")
    print(f"dtype: {figures['dtype']} ({figures['dtype_reason']}); config: actor {figures['actor_param_dtype']}, "
          f"ref {figures['ref_param_dtype']}, vLLM {figures['rollout_dtype']}")
    if figures["extra_env"] or figures["overrides"] or figures["load"]:
        print(f"extra env: {figures['extra_env']}   overrides: {figures['overrides']}   "
              f"busy processes beside: {figures['load']}")
    print(f"load average (1 min): {figures['loadavg_before']} before, {figures['loadavg_after']} after")
    keys = [p for p in PHASES if any(p in s["timing_s"] for s in figures["steps"].values())]
    keys += sorted({k for s in figures["steps"].values() for k in s["timing_s"]} - set(keys))
    print("step | " + " | ".join(keys) + " | tokens | update GFLOP/s | log-prob GFLOP/s")
    for step, row in figures["steps"].items():
        cells = [f"{row['timing_s'].get(k, 0):.1f}" for k in keys]
        print(f"{step} | " + " | ".join(cells) +
              f" | {row['tokens']} | {row.get('update_gflops', '-')} | {row.get('old_log_prob_gflops', '-')}")
    print(f"matmul {MATMUL_N}² GFLOP/s: fp32 {figures['matmul_fp32_gflops']} (1 thread "
          f"{figures['matmul_fp32_1thread_gflops']}), bf16 {figures['matmul_bf16_gflops']} (1 thread "
          f"{figures['matmul_bf16_1thread_gflops']})")
    if "update_vs_roofline" in figures:
        print(f"update: {figures['update_gflops_median']} GFLOP/s = {figures['update_vs_roofline']:.1%} of the "
              f"{figures['dtype']} matmul roofline")
    print(f"whole command: {figures['wall_s']} s")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m launcher.cpu_step_bench [--dtype bf16|fp32] [--env KEY=VALUE ...] [--load N] [--keep DIR] [--json] [-- OVERRIDES]``"""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m launcher.cpu_step_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtype", choices=("bf16", "fp32"), help="force CPU_DTYPE (default: auto)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment variable for the launch (repeatable)")
    parser.add_argument("--load", type=int, default=0, help="busy processes to run beside it")
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temp folder)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds before the run is killed")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    argv = list(sys.argv[1:] if argv is None else argv)
    overrides = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    extra_env = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"error: --env takes KEY=VALUE, not {item!r}", file=sys.stderr)
            return 2
        extra_env[key] = value
    try:
        figures = run(args.dtype, extra_env, overrides, args.keep, args.timeout, args.load)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(figures))
    else:
        print_report(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
