"""The compute dtype of the CPU profile, chosen from the hardware: bf16 only where the CPU runs bf16 GEMM natively.

veRL trains with FSDP mixed precision ``param_dtype=bf16`` and vLLM serves in bf16 by default.  On a CPU
without native bf16 instructions torch has no fast bf16 GEMM: matmuls fall back to its reference loop
(``at::native::cpublas::cpublas_gemm_impl``), about 100 times slower than fp32 on a 2-core AVX2 EPYC
(0.7 vs 63 GFLOP/s), and one actor update took 377 s instead of 35 s (issue 17).  So bf16 is kept only when
oneDNN reports bf16 support *and* the CPU has a native bf16 dot-product instruction (x86 ``avx512_bf16`` or
``amx_bf16``, Arm ``bf16``); everything else computes in fp32.  oneDNN alone is not enough: it also answers
True on AVX-512 CPUs without the bf16 extension, where it only emulates bf16.

``CPU_DTYPE=bf16|fp32`` forces the choice (``auto`` or unset: the rule above); trailing Hydra overrides
of a run script still win over both, as for every other setting.

``python -m platforms.cpu_dtype`` prints ``<dtype><TAB><reason>`` on its first line and the Hydra overrides
of the choice on the next ones, one per line (the run scripts call ``choose_cpu_dtype`` in-process, ``recipes/__init__.py``).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

DTYPES = ("bf16", "fp32")
# CPU flags (/proc/cpuinfo) of a native bf16 dot product: x86 AVX512-BF16 / AMX-BF16, Arm BF16.
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")
# veRL's names for each choice: FSDP mixed precision (PrecisionType) and vLLM's dtype.
_ROLLOUT_DTYPE = {"bf16": "bfloat16", "fp32": "float32"}


@dataclass(frozen=True)
class DtypeChoice:
    dtype: str   # "bf16" or "fp32"
    reason: str  # one line, printed in the launch banner and the dry run


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (``flags`` on x86, ``Features`` on Arm); empty elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return set(value.split())
    except OSError:
        pass
    return set()


def onednn_bf16_supported() -> bool:
    """torch's own check that its oneDNN (mkldnn) backend runs bf16 on this CPU."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without mkldnn
        return False


def choose_cpu_dtype(env: Optional[Mapping[str, str]] = None) -> DtypeChoice:
    """The compute dtype of the CPU profile (actor, reference model, vLLM) and why.

    ``CPU_DTYPE`` in ``env`` (default: the process environment) wins when it is ``bf16`` or ``fp32``.
    Raises ValueError for any other value than those, ``auto`` or empty.
    """
    env = os.environ if env is None else env
    forced = env.get("CPU_DTYPE", "").strip().lower()
    if forced in DTYPES:
        return DtypeChoice(forced, f"set by CPU_DTYPE={forced}")
    if forced not in ("", "auto"):
        raise ValueError(f"CPU_DTYPE must be bf16, fp32 or auto, not {forced!r}")
    native = sorted(set(NATIVE_BF16_FLAGS) & cpu_flags())
    onednn = onednn_bf16_supported()
    machine = platform.machine() or "this CPU"
    if native and onednn:
        return DtypeChoice("bf16", f"auto: native bf16 GEMM ({', '.join(native)}; oneDNN bf16 supported)")
    missing = []
    if not native:
        missing.append(f"no {'/'.join(NATIVE_BF16_FLAGS[:2])} in the {machine} CPU flags")
    if not onednn:
        missing.append("oneDNN reports no bf16 support")
    return DtypeChoice("fp32", f"auto: {' and '.join(missing)}; bf16 would run torch's slow reference GEMM")


def dtype_overrides(dtype: str) -> list[str]:
    """veRL Hydra overrides that make the actor, the reference model and vLLM-CPU compute in ``dtype``.

    The FSDP engine reads ``fsdp_config.mixed_precision`` (unset, it means bf16 params) for both the actor
    and the reference model; weights are loaded in fp32 either way (``model_dtype``).  Gradient reduction
    stays fp32 in both cases, as in veRL's default.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, not {dtype!r}")
    mixed = f"{{param_dtype:{dtype},reduce_dtype:fp32,buffer_dtype:fp32}}"
    return [
        f"++actor_rollout_ref.actor.fsdp_config.mixed_precision={mixed}",
        f"++actor_rollout_ref.ref.fsdp_config.mixed_precision={mixed}",
        f"actor_rollout_ref.rollout.dtype={_ROLLOUT_DTYPE[dtype]}",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m platforms.cpu_dtype", description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    try:
        choice = choose_cpu_dtype()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{choice.dtype}\t{choice.reason}")
    print("\n".join(dtype_overrides(choice.dtype)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
