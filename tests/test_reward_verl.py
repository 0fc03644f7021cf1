"""veRL-shaped calls: kk.py loaded by file path the way veRL 0.9.1 loads it, reward_kwargs merged by
veRL's own wrapper, and a full pass through veRL's NaiveRewardManager (real tokenizer decode with
special tokens skipped, ground truth from a parquet round trip, extra_info with veRL's own keys)."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reward_fns.kk import GroundTruthError, RewardConfigError, compute_score

REPO = Path(__file__).resolve().parents[1]
KK_PATH = REPO / "reward_fns" / "kk.py"
GT = {
    "names": ["Zoey", "Oliver", "Ethan"],
    "solution": [True, False, True],
    "roles": ["knight", "knave"],
    "solution_text": "(1) Zoey is a knight\n(2) Oliver is a knave\n(3) Ethan is a knight",
}
THINK = "Zoey says Oliver lies; if Zoey is a knight then Oliver is a knave and Ethan tells the truth."
CORRECT = f"<think>{THINK}</think>\n<answer>\n{GT['solution_text']}\n</answer>"
WRONG = CORRECT.replace("(3) Ethan is a knight", "(3) Ethan is a knave")


def _parquet_row(tmp_path: Path, think_prefilled: bool) -> dict:
    """One data row as veRL reads it back from parquet (lists become numpy arrays)."""
    row = {
        "data_source": "kk_logic_3ppl",
        "ability": "logic",
        "reward_model": {"style": "rule", "ground_truth": GT},
        "extra_info": {
            "split": "test", "index": 7, "n_people": 3, "template": "instruct", "think_prefilled": think_prefilled
        },
    }
    path = tmp_path / "row.parquet"
    pd.DataFrame([row]).to_parquet(path)
    return pd.read_parquet(path).iloc[0].to_dict()


def test_kk_py_loads_by_file_path_outside_the_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """veRL execs the file under a synthetic module name, from any working directory, in a process
    where the repository is not importable: reproduce that state, then load it with veRL's loader."""
    from verl.utils.import_utils import load_extern_object

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [entry for entry in sys.path if Path(entry or ".").resolve() != REPO])
    for name in [name for name in sys.modules if name == "reward_fns" or name.startswith("reward_fns.")]:
        monkeypatch.delitem(sys.modules, name)  # restored after the test

    fn = load_extern_object(module_path=str(KK_PATH), object_name="compute_score")
    result = fn(data_source="kk_logic_3ppl", solution_str=CORRECT, ground_truth=GT, extra_info=None)
    assert fn.__module__ == "reward_fns.kk_scoring"  # the one shared implementation...
    assert Path(sys.modules["reward_fns"].__file__).resolve().parent == REPO / "reward_fns"  # ...from this checkout
    assert result["score"] == 3.0 and result["answer_status"] == "correct"


def test_custom_reward_function_config_with_reward_kwargs() -> None:
    from omegaconf import OmegaConf
    from verl.trainer.ppo.reward import get_custom_reward_fn

    config = OmegaConf.create(
        {
            "reward": {
                "custom_reward_function": {
                    "path": str(KK_PATH),
                    "name": "compute_score",
                    "reward_kwargs": {"answer_wrong_score": -1.0, "format_score": 0.5},
                }
            }
        }
    )
    reward_fn = get_custom_reward_fn(config)
    wrong = reward_fn(data_source="kk_logic_3ppl", solution_str=WRONG, ground_truth=GT, extra_info={})
    assert wrong["score"] == 0.5 - 1.0 and wrong["answer_status"] == "wrong"
    correct = reward_fn(data_source="kk_logic_3ppl", solution_str=CORRECT, ground_truth=GT, extra_info={})
    assert correct["score"] == 0.5 + 2.0


def _byte_level_tokenizer():
    """A small real HF fast tokenizer built locally (nothing downloaded), with chat special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|im_end|>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator([CORRECT, WRONG] * 5, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<pad>")


def _run_naive_manager(tokenizer, reward_fn, row: dict, response: str) -> dict:
    import torch
    from omegaconf import OmegaConf
    from verl import DataProto
    from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager

    prompt_ids = tokenizer("<|im_start|>user puzzle", add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    padding = 4
    data = DataProto.from_dict(
        tensors={
            "prompts": torch.tensor([prompt_ids]),
            "responses": torch.tensor([response_ids + [tokenizer.pad_token_id] * padding]),
            "attention_mask": torch.tensor([[1] * (len(prompt_ids) + len(response_ids)) + [0] * padding]),
        },
        non_tensors={
            key: np.array([row[key]], dtype=object) for key in ("data_source", "reward_model", "extra_info")
        },
    )

    async def score() -> dict:
        manager = NaiveRewardManager(OmegaConf.create({}), tokenizer, reward_fn)
        return await manager.run_single(data)

    return asyncio.run(score())


@pytest.mark.parametrize("think_prefilled", [False, True])
def test_full_pass_through_verl_naive_reward_manager(tmp_path: Path, think_prefilled: bool) -> None:
    from omegaconf import OmegaConf
    from verl.trainer.ppo.reward import get_custom_reward_fn

    tokenizer = _byte_level_tokenizer()
    config = OmegaConf.create(
        {"reward": {"custom_reward_function": {"path": str(KK_PATH), "name": "compute_score", "reward_kwargs": {}}}}
    )
    reward_fn = get_custom_reward_fn(config)
    row = _parquet_row(tmp_path, think_prefilled)
    assert isinstance(row["reward_model"]["ground_truth"]["names"], np.ndarray)

    def respond(text: str) -> str:
        # The model's text as generated: prefilled prompts already hold "<think>"; EOS is a special token.
        return (text.removeprefix("<think>") if think_prefilled else text) + "<|im_end|>"

    correct = _run_naive_manager(tokenizer, reward_fn, row, respond(CORRECT))
    assert correct["reward_score"] == 3.0
    info = correct["reward_extra_info"]
    assert info["acc"] == 1.0 and info["format_ok"] == 1.0 and info["pred"] == "knight,knave,knight"

    wrong = _run_naive_manager(tokenizer, reward_fn, row, respond(WRONG))
    assert wrong["reward_score"] == 1.0 - 1.5 and wrong["reward_extra_info"]["answer_wrong"] == 1.0

    back_to_thinking = _run_naive_manager(tokenizer, reward_fn, row, respond(CORRECT + "\nWait, let me re-check."))
    assert back_to_thinking["reward_score"] == -3.0
    assert back_to_thinking["reward_extra_info"]["format_error"] == "text_after_answer"
    # veRL stacks the extra info of a batch per key, so every call returns the same keys.
    keys = [list(result["reward_extra_info"]) for result in (correct, wrong, back_to_thinking)]
    assert keys[0] == keys[1] == keys[2]


def test_verl_extra_info_keys_and_passthrough_kwargs_are_accepted() -> None:
    extra_info = {
        "split": "train",
        "index": 3,
        "think_prefilled": np.bool_(False),
        "num_turns": None,
        "rollout_reward_scores": {},
    }
    result = compute_score(
        data_source="kk_logic_3ppl",
        solution_str=CORRECT,
        ground_truth=GT,
        extra_info=extra_info,
        reward_router_address=None,
        reward_model_tokenizer=object(),
    )
    assert result["score"] == 3.0


@pytest.mark.parametrize(
    "options",
    [
        {"answer_correct": 3.0},
        {"format_score": float("nan")},
        {"format_score": True},
        {"max_answer_chars": 0},
        {"max_answer_chars": 2.5},
    ],
)
def test_bad_reward_kwargs_raise_a_config_error(options: dict) -> None:
    with pytest.raises(RewardConfigError):
        compute_score("kk_logic_3ppl", CORRECT, GT, None, **options)


def test_malformed_ground_truth_is_a_loud_data_error() -> None:
    with pytest.raises(GroundTruthError):
        compute_score("kk_logic_3ppl", CORRECT, {"names": ["Zoey"], "solution": []})
