"""The build CLI: determinism, schema, leakage, rendering round trip, card, templates and errors."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from data_prep import build
from data_prep.dataset import SCHEMA
from data_prep.names import NAME_POOL
from data_prep.render import PHRASINGS
from data_prep.solver import canonical_form, solve
from data_prep.statements import statements_from_json
from data_prep.templates import chat_template_path

SMALL = ["--seed", "7", "--train-size", "16", "--test-size", "8", "--train-people", "2", "3", "--test-people", "2", "3", "4", "--no-progress"]


def run_build(tmp_path: Path, name: str, *extra: str) -> Path:
    out = tmp_path / name
    assert build.main(["--out", str(out), *SMALL, *extra]) == 0
    return out


def read_rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small_build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kk") / "kk"
    assert build.main(["--out", str(out), *SMALL]) == 0
    return out


def test_layout_and_determinism(small_build, tmp_path):
    files = all_files(small_build)
    assert sorted(files) == sorted(
        ["2ppl/train.parquet", "3ppl/train.parquet", "2ppl/test.parquet", "3ppl/test.parquet", "4ppl/test.parquet", "README.md", "stats.json"]
    )
    # Same command, different directory: every parquet file is byte-identical.
    again = run_build(tmp_path, "again")
    again_files = all_files(again)
    for name, data in files.items():
        if name.endswith(".parquet"):
            assert again_files[name] == data, name
    # A different seed changes the data.
    other = tmp_path / "other"
    assert build.main(["--out", str(other), *SMALL, "--seed", "8"]) == 0
    assert (other / "3ppl/train.parquet").read_bytes() != files["3ppl/train.parquet"]
    # No temporary files are left behind.
    assert not [p for p in small_build.rglob("*") if p.name.startswith(".")]


def test_schema_and_row_contents(small_build):
    for path in sorted(small_build.rglob("*.parquet")):
        table = pq.read_table(path)
        assert table.schema.remove_metadata() == SCHEMA
        n_people = int(path.parent.name.removesuffix("ppl"))
        split = path.stem
        rows = table.to_pylist()
        assert len(rows) == (16 if split == "train" else 8)
        for index, row in enumerate(rows):
            assert row["data_source"] == f"kk_logic_{n_people}ppl"
            assert row["ability"] == "logic"
            assert [m["role"] for m in row["prompt"]] == ["system", "user"]
            gt = row["reward_model"]["ground_truth"]
            assert row["reward_model"]["style"] == "rule"
            assert len(gt["names"]) == len(gt["solution"]) == n_people
            assert gt["roles"] == ["knight", "knave"]
            expected_lines = [f"({k}) {name} is a {'knight' if t else 'knave'}" for k, (name, t) in enumerate(zip(gt["names"], gt["solution"]), 1)]
            assert gt["solution_text"].split("\n") == expected_lines
            info = row["extra_info"]
            assert (info["split"], info["index"], info["n_people"]) == (split, index, n_people)
            assert info["template"] == "instruct" and info["think_prefilled"] is True and info["prompt_style"] == "logic_rl"
            statements = statements_from_json(info["statements"], n_people)
            assert solve(statements) == [tuple(gt["solution"])]
            assert info["depth"] == 2 and 0 <= info["width"] <= 2 and info["difficulty"] >= 0
            assert re.fullmatch(r"[0-9a-f]{16}", info["puzzle_id"])


def test_no_leakage_by_canonical_form(tmp_path):
    # 2-person puzzles are scarce (a few hundred), so train would collide with test without the exclusion.
    out = tmp_path / "scarce"
    args = ["--out", str(out), "--train-people", "2", "--test-people", "2", "--train-size", "150", "--test-size", "100", "--no-progress"]
    assert build.main(args) == 0
    forms = {}
    for split in ("train", "test"):
        rows = read_rows(out / "2ppl" / f"{split}.parquet")
        # Recompute the canonical form from the stored statements rather than trusting puzzle_id.
        forms[split] = [canonical_form(statements_from_json(r["extra_info"]["statements"])) for r in rows]
        assert len(set(forms[split])) == len(forms[split]), f"duplicate within {split}"
    assert not set(forms["train"]) & set(forms["test"])
    stats = json.loads((out / "stats.json").read_text())
    assert stats["leakage"] == {"duplicates_within_split": 0, "test_in_train": 0}


# --------------------------------------------------------------------------- rendering round trip

class StatementParser:
    """Parse rendered statement text back into the AST (names -> indices)."""

    def __init__(self, text: str, names: list[str]):
        self.tokens = re.findall(r"\(|\)|[A-Za-z']+", text)
        self.position = 0
        self.names = {name: i for i, name in enumerate(names)}

    def peek(self, *words: str) -> bool:
        return [t.lower() for t in self.tokens[self.position : self.position + len(words)]] == list(words)

    def take(self, *words: str) -> None:
        assert self.peek(*words), (words, self.tokens[self.position :])
        self.position += len(words)

    def parse(self):
        stmt = self.expression()
        assert self.position == len(self.tokens), self.tokens[self.position :]
        return stmt

    def expression(self):
        if self.peek("it", "is", "not", "the", "case", "that"):
            self.take("it", "is", "not", "the", "case", "that")
            return ("not", self.operand())
        if self.peek("if"):
            self.take("if")
            left = self.operand()
            self.take("then")
            return ("->", left, self.operand())
        first = self.operand()
        if self.peek("if", "and", "only", "if"):
            self.take("if", "and", "only", "if")
            return ("<=>", first, self.operand())
        for op in ("and", "or"):
            if self.peek(op):
                parts = [first]
                while self.peek(op):
                    self.take(op)
                    parts.append(self.operand())
                return (op, *parts)
        return first

    def operand(self):
        if self.peek("("):
            self.take("(")
            inner = self.expression()
            self.take(")")
            return inner
        name = self.tokens[self.position]
        self.position += 1
        self.take("is")
        negated = self.peek("not")
        if negated:
            self.take("not")
        self.take("a")
        role = self.tokens[self.position]
        self.position += 1
        leaf = ("telling-truth" if role == "knight" else "lying", self.names[name])
        return ("not", leaf) if negated else leaf


def speaker_sentences(quiz: str, names: list[str]) -> list[tuple[str, str]]:
    """Split the quiz body into (speaker, statement text) using the phrasing patterns."""
    body = quiz.split(" inhabitants: ", 1)[1].split(". ", 1)[1].rsplit(" So who is", 1)[0]
    patterns = []
    for phrasing in PHRASINGS:
        pattern = re.escape(phrasing).replace(r"\{name\}", r"(?P<name>[A-Z][a-z]+)")
        pattern = pattern.replace(r"\{s\}", r"(?P<s>.+?)").replace(r"\{S\}", r"(?P<s>.+?)")
        patterns.append(re.compile(pattern))
    found = []
    rest = body
    while rest:
        for pattern in patterns:
            match = pattern.match(rest)
            if match and (match.end() == len(rest) or rest[match.end()] == " "):
                found.append((match.group("name"), match.group("s")))
                rest = rest[match.end() :].lstrip()
                break
        else:
            raise AssertionError(f"unparsed text: {rest[:80]}")
    return found


@pytest.mark.parametrize("depth", [2, 3])
def test_rendering_round_trip(tmp_path, depth):
    out = tmp_path / f"depth{depth}"
    args = ["--out", str(out), "--train-people", "--test-people", "3", "5", "8", "--test-size", "20", "--depth", str(depth), "--width", "3", "--no-progress"]
    assert build.main(args) == 0
    for path in sorted(out.rglob("*.parquet")):
        for row in read_rows(path):
            names = list(row["reward_model"]["ground_truth"]["names"])
            quiz = row["prompt"][1]["content"]
            assert len(set(names)) == len(names) and set(names) <= set(NAME_POOL)
            assert f"You meet {len(names)} inhabitants: " in quiz
            for name in names:
                assert name in quiz
            sentences = speaker_sentences(quiz, names)
            # One sentence per person, in speaking order, and it parses back to the stored statement.
            assert [speaker for speaker, _ in sentences] == names
            stored = statements_from_json(row["extra_info"]["statements"])
            for (speaker, text), statement in zip(sentences, stored):
                parsed = StatementParser(text, names).parse()  # the parser ignores the capital of a quote
                assert parsed == statement, (speaker, text)


# --------------------------------------------------------------------------- templates and card


def test_base_template_and_prefill_flags(tmp_path):
    base = run_build(tmp_path, "base", "--template", "base", "--prompt-style", "schematic")
    row = read_rows(base / "3ppl" / "test.parquet")[0]
    assert [m["role"] for m in row["prompt"]] == ["user"]
    text = row["prompt"][0]["content"]
    assert text.endswith("\nAssistant: <think>")
    assert "(k) NAME is a ROLE" in text and "Zoey" not in text
    assert row["extra_info"]["template"] == "base" and row["extra_info"]["prompt_style"] == "schematic"
    stats = json.loads((base / "stats.json").read_text())
    assert stats["config"]["chat_template"] == "data_prep/chat_templates/raw_text.jinja"

    plain = run_build(tmp_path, "plain", "--template", "base", "--no-prefill-think")
    row = read_rows(plain / "3ppl" / "test.parquet")[0]
    assert row["prompt"][0]["content"].endswith("\nAssistant:") and row["extra_info"]["think_prefilled"] is False
    assert "(1) Zoey is a knight" in row["prompt"][0]["content"]


def test_alternative_roles_keep_the_puzzles(tmp_path, small_build):
    saints = run_build(tmp_path, "saints", "--roles", "saint,sinner")
    for original, renamed in zip(read_rows(small_build / "3ppl/test.parquet"), read_rows(saints / "3ppl/test.parquet")):
        assert renamed["reward_model"]["ground_truth"]["roles"] == ["saint", "sinner"]
        assert original["extra_info"]["puzzle_id"] == renamed["extra_info"]["puzzle_id"]
        quiz = renamed["prompt"][1]["content"]
        assert "inhabited only by saints and sinners" in quiz and "knight" not in quiz
        assert "Zoey is a saint" in renamed["prompt"][0]["content"]


def test_chat_template_paths():
    assert chat_template_path("instruct", False) is None
    assert chat_template_path("instruct", True).name == "chatml_think_prefill.jinja"
    assert chat_template_path("base", True).name == chat_template_path("base", False).name == "raw_text.jinja"
    for path in (chat_template_path("instruct", True), chat_template_path("base", True)):
        assert path.is_file()


def test_card_matches_files(small_build):
    stats = json.loads((small_build / "stats.json").read_text())
    readme = (small_build / "README.md").read_text()
    assert stats["totals"] == {"train": 32, "test": 24}
    for split, per_n in stats["splits"].items():
        for n, s in per_n.items():
            rows = read_rows(small_build / s["file"])
            truthful = [t for r in rows for t in r["reward_model"]["ground_truth"]["solution"]]
            assert s["rows"] == len(rows)
            assert s["knight_ratio"] == round(sum(truthful) / len(truthful), 4)
            assert sum(s["difficulty"].values()) == len(rows)
            lengths = [sum(len(m["content"]) for m in r["prompt"]) for r in rows]
            assert s["prompt_chars"]["max"] == max(lengths) and s["prompt_chars"]["min"] == min(lengths)
            assert f"`{s['file']}`" in readme
    assert stats["command"].startswith("python -m data_prep.build --out ")
    assert "Leakage check" in readme


def _tiny_tokenizer(path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    corpus = ["A very special island is inhabited only by knights and knaves", "Zoey is a knight <think> </think>"]
    tokenizer.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["[UNK]", "<|im_start|>", "<|im_end|>"]))
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]").save_pretrained(str(path))


def test_token_counts_use_the_chat_template(tmp_path, capsys):
    tok_dir = tmp_path / "tok"
    _tiny_tokenizer(tok_dir)
    out = tmp_path / "tokens"
    assert build.main(["--out", str(out), "--train-people", "--test-people", "2", "--test-size", "4", "--tokenizer", str(tok_dir), "--no-progress"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    tokens = stats["splits"]["test"]["2"]["prompt_tokens"]
    assert 0 < tokens["min"] <= tokens["mean"] <= tokens["max"]
    assert stats["tokenizer"] == "tok"
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir), local_files_only=True)
    template = chat_template_path("instruct", True).read_text()
    rows = read_rows(out / "2ppl" / "test.parquet")
    rendered = [tokenizer.apply_chat_template(r["prompt"], chat_template=template, add_generation_prompt=True, tokenize=False) for r in rows]
    assert all(text.endswith("<|im_start|>assistant\n<think>") for text in rendered)
    assert all(text.startswith("<|im_start|>system\n") for text in rendered)
    counts = [len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in rendered]
    assert tokens["max"] == max(counts) and tokens["min"] == min(counts)
    # Without prefill the instruct template needs the model's own chat template, which this one lacks.
    code = build.main(["--out", str(tmp_path / "x"), "--train-people", "--test-people", "2", "--test-size", "2", "--tokenizer", str(tok_dir), "--no-prefill-think", "--no-progress"])
    assert code == 2 and "no chat template" in capsys.readouterr().err


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--train-people", "1", "3"], "--train-people"),
        (["--test-people", "0"], "--test-people"),
        (["--depth", "0"], "--depth"),
        (["--width", "1"], "--width"),
        (["--template", "chatml"], "--template"),
        (["--prompt-style", "fancy"], "--prompt-style"),
        (["--roles", "knight"], "--roles"),
        (["--mix", "xor=1"], "--mix"),
        (["--train-size", "5", "6", "7"], "--train-size"),
        (["--train-people", "--test-people", "2", "--test-size", "5000"], "found only"),
        (["--depth", "1"], "depth 1"),
        (["--tokenizer", "no/such/dir"], "--tokenizer"),
        (["--train-people", "--test-people"], "nothing to build"),
    ],
)
def test_bad_requests_fail_with_one_line_and_no_files(tmp_path, capsys, args, fragment):
    out = tmp_path / "out"
    assert call_main(["--out", str(out), "--no-progress", "--max-attempts", "200", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and fragment in err, err
    assert not out.exists() or not any(out.rglob("*"))


def call_main(args: list[str]) -> int:
    """Exit code of the CLI, whether it returns it or argparse exits."""
    try:
        return build.main(args)
    except SystemExit as exc:
        return int(exc.code)


def test_rebuild_reports_files_it_did_not_write(tmp_path, capsys):
    out = run_build(tmp_path, "reuse")
    capsys.readouterr()
    assert build.main(["--out", str(out), "--train-people", "--test-people", "3", "--test-size", "4", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "note: 4 parquet file(s)" in printed and "2ppl/train.parquet" in printed
    assert json.loads((out / "stats.json").read_text())["totals"] == {"test": 4}


def _pasteable_responses(instruction: str) -> list[str]:
    """Every substring of ``instruction`` that passes the strict format as a response, pasted after a
    prefilled ``<think>`` or on its own (starts anywhere, ends just after a ``</answer>``)."""
    from reward_fns.kk_format import split_response

    ends = [i + len("</answer>") for i in range(len(instruction)) if instruction.startswith("</answer>", i)]
    found = []
    for start in range(len(instruction)):
        for end in ends:
            if end > start:
                piece = instruction[start:end]
                if split_response(piece, think_prefilled=True).format_error == "" or \
                        split_response(piece, think_prefilled=False).format_error == "":
                    found.append(piece)
    return found


@pytest.mark.parametrize("template", ["instruct", "base"])
def test_only_no_example_prompts_hold_no_pasteable_well_formed_response(template):
    from data_prep.roles import RolePair
    from data_prep.templates import build_prompt

    roles = RolePair("knight", "knave")
    pasteable = {}
    for style in ("logic_rl", "schematic", "no_example"):
        messages = build_prompt("QUIZ", roles, template, style, think_prefilled=True)
        instruction = "\n".join(m["content"] for m in messages)
        pasteable[style] = _pasteable_responses(instruction)
    # The demonstrated tag sentence is a ready-made well-formed response; the no_example wording is not.
    assert any("reasoning process here </think><answer> answer here </answer>" in p for p in pasteable["logic_rl"])
    assert pasteable["schematic"]
    assert pasteable["no_example"] == []
