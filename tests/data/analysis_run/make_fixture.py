"""Regenerate the fixture run used by tests/test_analysis_*.py and analysis/rollouts.ipynb.

    .venv/bin/python tests/data/analysis_run/make_fixture.py

Writes ``rollouts/<step>.jsonl`` (6 steps, 3 prompts x 4 samples, shaped like
veRL 0.9.1's rollout dumps), ``val/<step>.jsonl`` and ``metrics.jsonl`` (veRL
file logger).  Deliberate quirks, each covered by a test:

* ``rollouts/2.jsonl`` rows carry unknown extra fields;
* ``rollouts/5.jsonl`` holds the rows of steps 5 *and* 6 (no 6.jsonl);
* ``rollouts/7.jsonl`` ends with a truncated line (file still being written);
* ``metrics.jsonl`` ends with a truncated line.

Scores are computed with reward_fns.kk.compute_score at generation time.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from reward_fns.kk import compute_score  # noqa: E402

PUZZLES = [
    (["Zoey", "Oliver", "Ethan"], [True, False, True],
     ["Zoey says: Oliver is a knave.", "Oliver says: Zoey is a knave.", "Ethan says: Zoey is a knight."]),
    (["Mia", "Liam", "Ava"], [False, True, True],
     ["Mia says: Liam is a knave.", "Liam says: Ava is a knight.", "Ava says: Mia is a knave."]),
    (["Noah", "Emma", "Lucas"], [True, True, False],
     ["Noah says: Emma is a knight.", "Emma says: Lucas is a knave.", "Lucas says: Noah is a knave."]),
    (["Sofia", "Jack", "Chloe"], [False, False, True],
     ["Sofia says: Jack is a knight.", "Jack says: Sofia is a knight.", "Chloe says: Jack is a knave."]),
    (["Henry", "Grace", "Leo"], [True, False, False],
     ["Henry says: Grace is a knave.", "Grace says: Leo is a knight.", "Leo says: Henry is a knave."]),
]


def prompt_text(puzzle: int) -> str:
    names, _, statements = PUZZLES[puzzle]
    return ("system\nYou are a helpful assistant. Think inside <think> </think>, then answer inside <answer> </answer>.\n"
            f"user\nOn an island live knights (always truthful) and knaves (always lying). You meet {', '.join(names)}. "
            + " ".join(statements) + " Who is a knight and who is a knave?\nassistant\n<think>")


def ground_truth(puzzle: int) -> dict:
    names, solution, _ = PUZZLES[puzzle]
    return {"names": names, "solution": solution, "roles": ["knight", "knave"],
            "solution_text": answer_text(names, solution)}


def answer_text(names: list[str], solution: list[bool]) -> str:
    return "\n".join(f"({i + 1}) {n} is a {'knight' if v else 'knave'}" for i, (n, v) in enumerate(zip(names, solution)))


def response(puzzle: int, step: int, sample: int, rng: random.Random) -> str:
    names, solution, _ = PUZZLES[puzzle]
    a, b, c = names
    guess = list(solution) if rng.random() < 0.25 + 0.12 * step else [not v for v in solution]
    answer = answer_text(names, guess)
    kind = (step * 7 + sample * 3 + puzzle) % 10
    if step <= 2:
        if kind < 3:  # early format failure: no tags
            return f"{a} is a knight. {b} is a knave. So the answer is {answer}"
        return f"If {a} is a knight then {b} is a knave. So {c} is a knight.\n</think>\n<answer>\n{answer}\n</answer>"
    if step <= 4:
        body = (f"Let's test both possibilities for {a}. Case 1: {a} is a knight, so {b} is a knave. "
                f"Wait, I am not sure about {c} yet, let's verify this later. "
                f"Now we have determined that {a} is a knight and {b} is a knave. "
                f"Let's analyze {c}'s statement again: it says {a} is a knight, which is true, so {c} is a knight. "
                f"Let's verify all statements: every statement is consistent.")
        if kind == 0:  # thinks in Chinese, answers in English
            body = (f"假设{a}是骑士，那么{b}是骑士的说法是假的。等等，我们需要重新分析{b}的陈述。"
                    f"综上所述，{a}是骑士，{b}是骑士的说法不成立，{c}是骑士。让我们验证所有陈述，都是一致的。")
        if kind == 1:  # retry too late
            return f"{body}\n</think>\n<answer>\n{answer}\n</answer>\n<think>Wait, let me re-check {b}.</think>"
        return f"{body}\n</think>\n<answer>\n{answer}\n</answer>"
    long_body = " ".join(
        [f"Let's consider {a}'s statement first. If {a} is a knight, then {b} is a knave."]
        + [f"Hmm, tentatively {c} is a knight. Let me re-examine {b}'s claim about {a}." for _ in range(2)]
        + [f"Let's summarize: {a} is a knight, {b} is a knave. So far this is consistent."]
        + [f"Let's double-check: {a}, {b} and {c}; all statements are consistent."]
    )
    if kind == 0:
        return f"{long_body} verify precise consistent verify precise consistent verify precise consistent"  # cut off
    if kind == 1:
        long_body = f"我们先分析{a}的陈述。假设{a}是骑士，那么{b}是骑士的说法是假的，所以{b}是骑士的可能被排除。到目前为止，{a}是骑士。最后验证一下所有陈述，都成立。"
    return f"{long_body}\n</think>\n<answer>\n{answer}\n</answer>"


def rollout_rows(step: int, rng: random.Random, extra: bool) -> list[dict]:
    rows = []
    for slot in range(3):
        puzzle = (step + slot) % len(PUZZLES)
        for sample in range(4):
            text = response(puzzle, step, sample, rng)
            result = compute_score("kk_logic_3ppl", text, ground_truth(puzzle), {"think_prefilled": True})
            row = {"input": prompt_text(puzzle), "output": text, "gts": ground_truth(puzzle),
                   "score": result["score"], "step": step}
            if extra:
                row.update({"request_id": f"req-{step}-{slot}-{sample}", "acc": result["acc"],
                            "debug": {"nested": [1, 2, 3]}, "sampler": "vllm"})
            rows.append(row)
    return rows


def write_jsonl(path: Path, rows: list[dict], truncated_tail: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows) + truncated_tail
    path.write_text(text, encoding="utf-8")


def main() -> None:
    rng = random.Random(4)
    rollouts = HERE / "rollouts"
    for old in list(rollouts.glob("*.jsonl")) + list((HERE / "val").glob("*.jsonl")):
        old.unlink()
    for step in (1, 2, 3, 4):
        write_jsonl(rollouts / f"{step}.jsonl", rollout_rows(step, rng, extra=step == 2))
    write_jsonl(rollouts / "5.jsonl", rollout_rows(5, rng, False) + rollout_rows(6, rng, False))
    partial = json.dumps(rollout_rows(7, rng, False)[0], ensure_ascii=False)[:120]
    write_jsonl(rollouts / "7.jsonl", rollout_rows(7, rng, False)[:6], truncated_tail=partial)
    for step in (2, 4, 6):
        rows = []
        for puzzle in range(len(PUZZLES)):
            text = response(puzzle, step, 1, rng)
            result = compute_score("kk_logic_3ppl", text, ground_truth(puzzle), {"think_prefilled": True})
            rows.append({"input": prompt_text(puzzle), "output": text, "gts": ground_truth(puzzle),
                         "score": result["score"], "step": step, **{k: result[k] for k in ("acc", "format_ok", "pred")}})
        write_jsonl(HERE / "val" / f"{step}.jsonl", rows)
    metrics = [{"step": s, "data": {"critic/score/mean": -1.0 + 0.4 * s, "response_length/mean": 80 + 20 * s,
                                    "actor/entropy": 1.2 - 0.1 * s, "actor/pg_loss": 0.05 / s, "timing_s/step": 30.0,
                                    "training/epoch": 0}} for s in range(1, 8)]
    write_jsonl(HERE / "metrics.jsonl", metrics, truncated_tail='{"step": 8, "data": {"critic/sco')


if __name__ == "__main__":
    main()
