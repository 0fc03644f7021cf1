"""Per-response features: lenient split, scripts, repetition, truncation, scorer wiring."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pandas as pd
import pytest

from analysis.errors import AnalysisInputError
from analysis.features import (
    FEATURE_COLUMNS,
    feature_columns,
    HAN_STRETCH_MIN,
    longest_han_stretch,
    FeatureOptions,
    TokenizerCounter,
    WordCounter,
    features_of_file,
    group_id,
    is_think_prefilled,
    repetition_score,
    score_features,
    script_profile,
    split_lenient,
    stable_hash,
    text_features,
)
from analysis.patterns import BEHAVIOUR_POOLS, POOLS_BY_NAME, PoolPattern, behaviour_spans, count_behaviours
from reward_fns.kk import compute_score

GTS = {"names": ["Zoey", "Bob"], "solution": [True, False], "roles": ["knight", "knave"],
       "solution_text": "(1) Zoey is a knight\n(2) Bob is a knave"}
GOOD = "Zoey is truthful.\n</think>\n<answer>\n(1) Zoey is a knight\n(2) Bob is a knave\n</answer>"


def build_word_tokenizer(directory: Path, texts: list[str]) -> Path:
    """A small word-level fast tokenizer saved as a local HF folder (nothing downloaded)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=["[UNK]"]))
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]").save_pretrained(str(directory))
    return directory


def test_split_lenient_handles_prefilled_tags_missing_and_reopened() -> None:
    parts = split_lenient(GOOD, think_prefilled=True)
    assert parts.think == "Zoey is truthful."
    assert parts.answer == "(1) Zoey is a knight\n(2) Bob is a knave"
    assert parts.answer_closed and parts.has_answer
    assert GOOD[parts.think_start:].startswith("Zoey is truthful.")

    opened = split_lenient("<think> reasoning </think><answer>A</answer>")
    assert (opened.think, opened.answer) == ("reasoning", "A")

    no_tags = split_lenient("just text")
    assert (no_tags.think, no_tags.answer, no_tags.has_answer, no_tags.answer_closed) == ("just text", "", False, False)

    cut = split_lenient("think</think><answer>(1) Zoey is a")
    assert cut.answer == "(1) Zoey is a" and not cut.answer_closed

    reopened = split_lenient("a</think><answer>x</answer><think>b</think><answer>y</answer>")
    assert reopened.think == "a" and reopened.answer == "y"
    assert "<think>" in reopened.after_answer_start


def test_script_profile_weights_cjk_and_detects_other_scripts() -> None:
    english = script_profile("Zoey is a knight")
    assert (english.dominant, english.cjk_share, english.mixed) == ("latin", 0.0, False)
    chinese = script_profile("假设Zoey是骑士，那么Bob是骑士")
    assert chinese.dominant == "han"
    assert chinese.cjk_share == pytest.approx(10 / 17)
    # Latin names outnumber the Han characters, but a Han character weighs ~3 letters.
    assert script_profile("Zoey是骑士").dominant == "han"
    assert script_profile("Зоя рыцарь, а Боб лжец").dominant == "cyrillic"
    assert script_profile("12 + 3 = 15").dominant == ""
    assert script_profile("Let's go 我们走吧 together now").mixed


def test_language_switch_flags() -> None:
    zh_en = text_features("假设Zoey是骑士，那么Bob是骑士的说法是假的。</think><answer>(1) Zoey is a knight</answer>", True)
    assert zh_en["lang_switch"] and zh_en["zh_think_en_answer"]
    assert zh_en["think_cjk_share"] > 0.5 and zh_en["answer_cjk_share"] == 0.0
    same = text_features("Zoey is a knight. </think><answer>(1) Zoey is a knight</answer>", True)
    assert not same["lang_switch"] and not same["zh_think_en_answer"]
    no_answer = text_features("假设Zoey是骑士，那么Bob是骑士的说法是假的。", True)
    assert not no_answer["lang_switch"]


def test_chinese_stretch_in_an_english_think_is_a_switch() -> None:
    english = "Zoey says Bob is a knave, so if Zoey is a knight then Bob lies and Max tells the truth. " * 12
    paragraph = "假设Zoey是骑士，那么她说的话是真的，所以Bob是骗子；Bob说Zoey是骗子，这句话是假的，符合骗子的身份。" * 3
    answer = "</think><answer>(1) Zoey is a knight</answer>"
    planted = text_features(f"{english}{paragraph} {english}{answer}", True)
    assert planted["think_script"] == "latin"  # the paragraph does not change the dominant script
    assert planted["think_han_stretch"] >= HAN_STRETCH_MIN
    assert planted["han_stretch_switch"] and planted["lang_switch"] and planted["zh_think_en_answer"]
    plain = text_features(f"{english}{english}{answer}", True)
    assert planted["think_cjk_share"] > plain["think_cjk_share"] == 0.0  # the shares are unchanged in meaning
    # one Han character short of a stretch: a term or a tag, not thinking in Chinese
    short = "那么" + "的" * (HAN_STRETCH_MIN - 3)
    assert longest_han_stretch(short) == HAN_STRETCH_MIN - 1
    assert not text_features(f"{english}{short}。{english}{answer}", True)["lang_switch"]
    assert longest_han_stretch("那么Bob的话是假的, then") == 7  # one Latin name inside a stretch keeps it whole


def _naive_rep4(text: str) -> float:
    words = text.lower().split()
    grams = [tuple(words[i:i + 4]) for i in range(len(words) - 3)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


@pytest.mark.parametrize("text", [
    "a b c d e f g h",
    "verify precise consistent " * 20,
    "Zoey is a knight and Bob is a knave so Zoey is a knight and Bob is a knave",
    "one two three",
    "",
])
def test_repetition_matches_the_definition(text: str) -> None:
    assert repetition_score(text) == pytest.approx(_naive_rep4(text))


def test_repetition_of_ascii_bytes_equals_the_split_definition() -> None:
    # ASCII text is tokenised over its bytes in numpy: the same tokens as str.split() (which also splits at
    # \x1c-\x1f), a NUL inside a token still counts, and the word count is len(str.split()).
    from analysis.features import _repetition

    rng = random.Random(7)
    pieces = ["a", "b", "ab", "Zoey", "is", " ", "  ", "\t", "\n", "\x0b", "\x0c", "\r", "\x1c", "\x1f", "\x00", "\x7f", "!"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 120))) for _ in range(3000)]
    texts += ["x " * 6000, "y" * 9000 + " a b c d", "\x1c\x1d\x1e\x1f", "a\x00 b c d a b c d"]  # "a\x00" is not "a"
    for text in texts:
        score, words = _repetition(text)
        assert score == _naive_rep4(text), repr(text)
        assert words == len(text.split()), repr(text)


def test_repetition_counts_cjk_characters_as_tokens() -> None:
    assert repetition_score("验证一致" * 10) > 0.8
    assert repetition_score("甲乙丙丁戊己庚辛壬癸") == 0.0


def test_retry_too_late_and_unclosed() -> None:
    retry = text_features(GOOD + "\n<think>Wait, let me re-check Bob.</think>", True)
    assert retry["retry_too_late"]
    phrase = text_features("ok</think><answer>(1) Zoey is a knight. Wait, let me reconsider</answer>", True)
    assert phrase["retry_too_late"]
    clean = text_features(GOOD, True)
    assert not clean["retry_too_late"] and not clean["unclosed"]
    assert text_features("still thinking ...", True)["unclosed"]


def test_behaviour_counts_lowercase_and_word_boundaries() -> None:
    counts = count_behaviours("wait, hmm. await the awaited result. let's test both possibilities.")
    assert counts["hesitation"] == 2  # "wait" and "hmm", not "await"/"awaited"
    assert counts["exploration"] == 1
    spans = behaviour_spans("WAIT. Let's Summarize.")
    assert spans["hesitation"] == [(0, 4)] and spans["summary"] == [(6, 21)]


def test_one_scan_of_the_think_counts_as_scanning_each_part_alone() -> None:
    """_text_features finds the behaviours and the think's verification words in one scan; the counts must
    equal the verification words over the whole text and the behaviours over the think, scanned separately,
    with tags, whitespace and words spliced at every boundary."""
    rng = random.Random(3)
    pieces = ("<think>", "</think>", "<answer>", "</answer>", " ", "\n", "\t", "verify", "check", "double",
              "double-check", "re-check", "consistent", "verification", "Verify", "CHECK", "check_", "_", "x", "1",
              "wait", "hmm", "let's verify all statements", "now we know", "alternatively", "let me re-examine",
              "确认", "一致", "验证", "等等", "é", "İ", "<", ">")
    verify = POOLS_BY_NAME["verify_words"]
    for _ in range(4000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 25)))
        for prefilled in (True, False):
            row = text_features(text, prefilled)
            assert row["verify_count"] == verify.count(text.lower()), text
            lowered_think = split_lenient(text, prefilled).think.lower()
            counts = count_behaviours(lowered_think)
            assert all(row[f"{name}_count"] == counts[name] for name in counts), text


def test_pool_alternatives_must_start_with_a_literal() -> None:
    with pytest.raises(ValueError):
        PoolPattern(r"(?:a|b)c", "ours", "en")
    with pytest.raises(ValueError):
        PoolPattern(r"x?y", "ours", "en")
    for pool in (*BEHAVIOUR_POOLS, POOLS_BY_NAME["verify_words"]):
        assert all(p.source in ("logic-rl", "liu2025", "simplerl", "ours") for p in pool.patterns)


def test_final_verification_needs_the_end_and_is_not_deferred() -> None:
    late = "Zoey says Bob is a knave, so Zoey is a knight and Bob is a knave. Let's verify all statements: fine."
    assert count_behaviours(late.lower())["final_verify"] == 1
    early = "Let me check Zoey first. " + "Zoey says Bob is a knave, so Bob is a knave and Zoey is a knight. " * 3
    assert count_behaviours(early.lower())["final_verify"] == 0
    deferred = "Zoey says Bob is a knave and Bob says Zoey is a knave; let's verify this later."
    counts = count_behaviours(deferred.lower())
    assert counts["final_verify"] == 0 and counts["hesitation"] == 1


def test_prefill_group_and_hash_helpers() -> None:
    assert is_think_prefilled("system\nx\nuser\ny\nassistant\n<think>\n")
    assert not is_think_prefilled("user\ny\nassistant\n")
    assert group_id({"uid": "abc-123_4_0"}) == group_id({"uid": "abc-123_7_1"}) == "uid:abc-123"
    assert group_id({"uid": "plain"}) == "uid:plain"
    assert group_id({"input": "p"}) == "input:p"
    assert stable_hash("x") == stable_hash("x") != stable_hash("y")
    assert 0 <= stable_hash("anything") < 2**63


def test_score_features_agree_with_the_single_scorer() -> None:
    for text in (GOOD, "no tags at all", GOOD.replace("knave", "knight")):
        expected = compute_score("kk_logic_2ppl", text, GTS, {"think_prefilled": True})
        got = score_features(text, GTS, True, "kk_logic_2ppl")
        assert got["score_recomputed"] == expected["score"]
        assert got["acc"] == expected["acc"] and got["answer_status"] == expected["answer_status"]
        assert got["format_error"] == expected["format_error"]


def test_missing_or_bad_ground_truth_keeps_the_format_status() -> None:
    missing = score_features(GOOD, None, True, "kk")
    assert missing["answer_status"] == "no_ground_truth" and missing["format_ok"] == 1.0
    assert math.isnan(missing["acc"])
    bad = score_features(GOOD, {"names": ["A"], "solution": [True, False]}, True, "kk")
    assert bad["answer_status"] == "bad_ground_truth"


def _dump(path: Path, outputs: list[str], **extra: object) -> Path:
    rows = [{"input": "user\nq\nassistant\n<think>", "output": o, "gts": GTS, "score": 1.0, "step": 5, **extra}
            for o in outputs]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_features_of_file_columns_types_and_lengths(tmp_path: Path) -> None:
    path = _dump(tmp_path / "5.jsonl", [GOOD, "cut off in the middle of a"], unknown_field={"a": 1})
    result = features_of_file(path, WordCounter())
    frame = result.frame
    assert list(frame.columns) == list(feature_columns())  # the fixed columns, then the registry's
    assert list(frame.columns)[: len(FEATURE_COLUMNS)] == list(FEATURE_COLUMNS)
    assert frame["step"].tolist() == [5, 5]
    assert frame["length"].tolist() == [len(GOOD.split()), 7]
    assert frame["truncated"].tolist() == [False, True]  # no cap known: unclosed = truncated
    assert frame["think_prefilled"].all()
    assert result.warnings == []


def test_rows_without_output_or_step_are_skipped_with_warnings(tmp_path: Path) -> None:
    path = tmp_path / "notes.jsonl"
    rows = [{"input": "q", "output": GOOD, "step": 1}, {"input": "q"}, {"input": "q", "output": GOOD}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = features_of_file(path, WordCounter())
    assert len(result.frame) == 1
    assert any("without a string 'output'" in w for w in result.warnings)
    assert any("without a 'step'" in w for w in result.warnings)


def test_rows_with_unusable_ground_truth_are_kept_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "2.jsonl"
    prompt = "user\nq\nassistant\n<think>"
    rows = [{"input": prompt, "output": GOOD, "step": 2, "gts": GTS},
            {"input": prompt, "output": GOOD, "step": 2},
            {"input": prompt, "output": GOOD, "step": 2, "gts": {"names": ["A"], "solution": []}}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = features_of_file(path, WordCounter())
    assert result.frame["answer_status"].tolist() == ["correct", "no_ground_truth", "bad_ground_truth"]
    assert result.frame["format_ok"].tolist() == [1.0, 1.0, 1.0]
    assert result.warnings == ["2.jsonl: 2 row(s) with a missing or malformed 'gts': format judged, answer not (acc is empty)"]


def test_tokenizer_lengths_and_truncation_at_the_cap(tmp_path: Path) -> None:
    long_cut = "Zoey is a knight and Bob is a knave " * 3
    path = _dump(tmp_path / "1.jsonl", [GOOD, long_cut])
    tokenizer_dir = build_word_tokenizer(tmp_path / "tok", [GOOD, long_cut])
    counter = TokenizerCounter(tokenizer_dir)
    assert counter.unit == "tokens"
    expected = [len(counter.tokenizer(text, add_special_tokens=False)["input_ids"]) for text in (GOOD, long_cut)]
    at_cap = features_of_file(path, counter, FeatureOptions(max_response_length=expected[1]))
    assert at_cap.frame["length"].tolist() == expected
    assert at_cap.frame["truncated"].tolist() == [False, True]
    below_cap = features_of_file(path, counter, FeatureOptions(max_response_length=expected[1] + 50))
    assert below_cap.frame["truncated"].tolist() == [False, False]
    assert below_cap.frame["unclosed"].tolist() == [False, True]


def test_bad_tokenizer_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(AnalysisInputError, match="does not exist"):
        TokenizerCounter(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AnalysisInputError, match="cannot load tokenizer"):
        TokenizerCounter(tmp_path / "empty")


def test_planted_chinese_paragraphs_are_counted_per_step(tmp_path: Path) -> None:
    """The issue's check: ~90-Han paragraphs planted in 5-25% of English thinks, English answers."""
    import random

    from analysis.aggregate import per_step

    rng = random.Random(3)
    gts = {"names": ["Zoey", "Bob"], "solution": [True, False], "roles": ["knight", "knave"]}
    paragraph = "假设Zoey是骑士，那么她说的话是真的，所以Bob是骗子；Bob说Zoey是骗子，这句话是假的，符合骗子的身份。" * 2
    planted_share = {1: 0.05, 2: 0.10, 3: 0.25}
    frames = []
    for step, share in planted_share.items():
        lines = []
        for index in range(40):
            english = " ".join(rng.choice(["Zoey says Bob is a knave.", "If Zoey is a knight, Bob lies.",
                                           "Bob says Zoey is a knave.", "So Zoey is a knight."]) for _ in range(30))
            think = english + (paragraph if index < share * 40 else "") + " " + english
            output = f"{think}</think><answer>(1) Zoey is a knight\n(2) Bob is a knave</answer>"
            lines.append(json.dumps({"input": "p <think>", "output": output, "gts": gts, "score": 3.0, "step": step},
                                    ensure_ascii=False))
        path = tmp_path / f"{step}.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        frames.append(features_of_file(path, WordCounter()).frame)
    table = per_step(pd.concat(frames, ignore_index=True), "words")
    for column in ("lang_switch_rate", "zh_think_en_answer_rate", "han_stretch_switch_rate"):
        assert table[column].tolist() == pytest.approx(list(planted_share.values()))
    assert (table["think_cjk_share_mean"] > 0).all()
