"""Stage chaining on checkpoint layouts built like veRL 0.9.1's, plus a real FSDP-shard merge.

The merge test writes a 2-rank FSDP2-style checkpoint (DTensor shards, the
``fsdp_config.json`` and the ``huggingface/`` config + tokenizer veRL always saves), runs veRL's real
``python -m verl.model_merger`` through ``launcher.chain`` and compares the merged weights with the
original tensors.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from launcher.chain import ChainError, default_stage_name, latest_weights, main

def _save_dtensor_shards(full_state: dict, actor_dir: Path, world_size: int) -> None:
    """Write ``model_world_size_<W>_rank_<r>.pt`` as FSDP2 saves them: DTensors sharded on dim 0.

    One process plays every rank through torch's fake process group; the pickled DTensors (local chunk +
    mesh + placements) are what each rank of a real run writes.
    """
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor, Shard
    from torch.testing._internal.distributed.fake_pg import FakeStore

    dist.init_process_group("fake", store=FakeStore(), rank=0, world_size=world_size)
    try:
        mesh = init_device_mesh("cpu", (world_size,), mesh_dim_names=("fsdp",))
        for rank in range(world_size):
            shards = {
                name: DTensor.from_local(t.chunk(world_size, dim=0)[rank].clone(), mesh, [Shard(0)], run_check=False)
                for name, t in full_state.items()
            }
            torch.save(shards, actor_dir / f"model_world_size_{world_size}_rank_{rank}.pt")
    finally:
        dist.destroy_process_group()


def _write_hf_weights(folder: Path, weights_file: str = "model.safetensors") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    (folder / "tokenizer_config.json").write_text("{}")
    (folder / weights_file).write_bytes(b"\0" * 64)


def _write_config_only(folder: Path) -> None:
    """What veRL writes to actor/huggingface when hf_model is not in save_contents."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    (folder / "tokenizer_config.json").write_text("{}")


def _stage_root(tmp_path: Path) -> Path:
    return tmp_path / "runs" / "exp" / "stage1_warmup" / "checkpoints"


def test_tracker_step_with_hf_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _stage_root(tmp_path)
    for step in (2, 4):
        _write_hf_weights(root / f"global_step_{step}" / "actor" / "huggingface")
    (root / "latest_checkpointed_iteration.txt").write_text("4")
    assert main(["latest-weights", str(root)]) == 0
    out = capsys.readouterr().out
    assert out == f"{(root / 'global_step_4' / 'actor' / 'huggingface').resolve()}\n"


def test_tracker_beats_newer_partial_save(tmp_path: Path) -> None:
    root = _stage_root(tmp_path)
    _write_hf_weights(root / "global_step_2" / "actor" / "huggingface")
    _write_config_only(root / "global_step_3" / "actor" / "huggingface")  # crashed while saving step 3
    (root / "latest_checkpointed_iteration.txt").write_text("2\n")
    assert latest_weights(root) == (root / "global_step_2" / "actor" / "huggingface").resolve()


def test_all_weights_lists_every_usable_step_oldest_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _stage_root(tmp_path)
    for step in (10, 2):
        _write_hf_weights(root / f"global_step_{step}" / "actor" / "huggingface")
    _write_config_only(root / "global_step_11" / "actor" / "huggingface")  # no weights, no shards: skipped
    assert main(["all-weights", str(root), "--no-merge"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{step} {(root / f'global_step_{step}' / 'actor' / 'huggingface').resolve()}" for step in (2, 10)]
    assert main(["all-weights", str(tmp_path / "none")]) == 2


def test_without_tracker_the_highest_step_number_wins(tmp_path: Path) -> None:
    root = _stage_root(tmp_path)
    for step in (9, 10):  # numeric, not lexicographic, order
        _write_hf_weights(root / f"global_step_{step}" / "actor" / "huggingface", weights_file="pytorch_model.bin")
    assert latest_weights(root).parts[-3] == "global_step_10"


def test_without_tracker_an_unusable_newest_step_falls_back(tmp_path: Path) -> None:
    root = _stage_root(tmp_path)
    _write_hf_weights(root / "global_step_5" / "actor" / "huggingface")
    _write_config_only(root / "global_step_6" / "actor" / "huggingface")
    assert latest_weights(root).parts[-3] == "global_step_5"


def test_sharded_safetensors_index_is_accepted_only_when_complete(tmp_path: Path) -> None:
    root = _stage_root(tmp_path)
    hf = root / "global_step_1" / "actor" / "huggingface"
    _write_config_only(hf)
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (hf / "model.safetensors.index.json").write_text(json.dumps(index))
    (hf / "model-00001-of-00002.safetensors").write_bytes(b"\0" * 8)
    with pytest.raises(ChainError, match="model-00002-of-00002.safetensors"):
        latest_weights(root)
    (hf / "model-00002-of-00002.safetensors").write_bytes(b"\0" * 8)
    assert latest_weights(root) == hf.resolve()


def test_config_only_without_shards_names_both_problems(tmp_path: Path) -> None:
    root = _stage_root(tmp_path)
    _write_config_only(root / "global_step_3" / "actor" / "huggingface")
    (root / "latest_checkpointed_iteration.txt").write_text("3")
    with pytest.raises(ChainError) as info:
        latest_weights(root)
    message = str(info.value)
    assert message.startswith(f"stage1_warmup has no checkpoint under {root} (run stage1 first or set INIT_MODEL)")
    assert "no complete model weights" in message and "no fsdp_config.json" in message


def test_missing_stage_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _stage_root(tmp_path)
    assert main(["latest-weights", str(root)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"error: stage1_warmup has no checkpoint under {root} (run stage1 first or set INIT_MODEL)\n"
    )
    root.mkdir(parents=True)
    (root / "global_step_x").mkdir()
    assert main(["latest-weights", str(root), "--stage-name", "stage2_hightemp"]) == 2
    assert "error: stage2_hightemp has no checkpoint" in capsys.readouterr().err


def test_stage_name_from_path() -> None:
    assert default_stage_name(Path("runs/exp/stage3_anneal_1/checkpoints")) == "stage3_anneal_1"
    assert default_stage_name(Path("ckpt/stage2_hightemp")) == "stage2_hightemp"


@pytest.fixture(scope="module")
def fsdp_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A 2-rank FSDP2-style checkpoint of a tiny Llama model, without HF weights."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")

    root = tmp_path_factory.mktemp("merge") / "stage1_warmup" / "checkpoints"
    actor = root / "global_step_7" / "actor"
    hf = actor / "huggingface"
    hf.mkdir(parents=True)
    config = transformers.LlamaConfig(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=64, tie_word_embeddings=False,
        architectures=["LlamaForCausalLM"],  # a pretrained model's config (what veRL re-saves) names it
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    full_state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    config.save_pretrained(hf)
    vocab = {f"t{i}": i for i in range(61)} | {"[UNK]": 61, "[PAD]": 62, "[EOS]": 63}
    backend = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]"
    ).save_pretrained(hf)
    _save_dtensor_shards(full_state, actor, world_size=2)
    (actor / "fsdp_config.json").write_text(json.dumps({"FSDP_version": 2, "world_size": 2}))
    (root / "latest_checkpointed_iteration.txt").write_text("7")
    return root, full_state


def test_real_merge_of_fsdp_shards(fsdp_checkpoint: tuple[Path, dict], capsys: pytest.CaptureFixture[str]) -> None:
    import torch
    from safetensors.torch import load_file

    root, full_state = fsdp_checkpoint
    assert main(["latest-weights", str(root), "--no-merge"]) == 2
    assert "only FSDP shards (merging disabled)" in capsys.readouterr().err

    assert main(["latest-weights", str(root)]) == 0
    merged = Path(capsys.readouterr().out.strip())
    assert merged == (root / "global_step_7" / "actor" / "huggingface_merged").resolve()
    weights = load_file(merged / "model.safetensors")
    assert set(weights) == set(full_state)
    for name, original in full_state.items():
        # veRL's merger writes bf16: the merged tensor is the bf16 rounding of the original one.
        assert torch.equal(weights[name], original.to(torch.bfloat16)), name
    assert (merged / "tokenizer_config.json").is_file()
    assert not [p for p in merged.parent.iterdir() if p.name.startswith(".huggingface_merged")]

    # A second call reuses the merged folder instead of merging again.
    stamp = (merged / "model.safetensors").stat().st_mtime_ns
    assert latest_weights(root) == merged
    assert (merged / "model.safetensors").stat().st_mtime_ns == stamp
