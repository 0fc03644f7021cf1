"""Source of tests/data/analysis_claims_fixture.jsonl: hand-written thinks with hand-given claim labels.

Labels are by meaning, never by what the extractor outputs:

* ``claims``: the role claims the model itself makes, as ``Name+`` (truthful role) / ``Name-`` (lying
  role), with ``@`` when the claim is made inside a case (under an assumption); not the claims it
  quotes from the puzzle, nor hedged ones ("whether", "might be");
* ``assumptions``: the roles assumed when opening a case ("if Lily is a knave", "Case 2: ...");
* ``contradictions``: how many contradictions the model declares about a case;
* ``effective`` / ``superficial``: effective reflection (a reflection phrase, then a correction of an
  earlier wrong claim) and superficial reflection (a verification phrase, nothing changes, wrong answer).

``split``: ``dev`` rows were written alongside the rules of analysis/claims.py and used to shape them;
``held_out`` rows were written after the rules were frozen and never used to change them.
Regenerate: .venv/bin/python tests/data/analysis_claims_fixture_make.py
"""
import json
from itertools import product
from pathlib import Path

import sys

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kk_brute_force import holds  # noqa: E402  (the tests' independent evaluator)

# Lily: "Omar is a knight."  Omar: "Ivy is a knave."  Ivy: "Lily is a knight if and only if Omar is a knave."
PUZZLE_B = (["Lily", "Omar", "Ivy"],
            [["telling-truth", 1], ["lying", 2], ["<=>", ["telling-truth", 0], ["lying", 1]]])
# Zoey: "Bob is a knave iff Max is a knight."  Bob: "Zoey and Max are knaves."  Max: "Zoey is a knave iff Bob is a knight."
PUZZLE_A = (["Zoey", "Bob", "Max"],
            [["<=>", ["lying", 1], ["telling-truth", 2]], ["and", ["lying", 0], ["lying", 2]],
             ["<=>", ["lying", 0], ["telling-truth", 1]]])


def solve(statements):
    found = [r for r in product((True, False), repeat=len(statements))
             if all(r[i] == holds(s, r) for i, s in enumerate(statements))]
    assert len(found) == 1, found
    return list(found[0])


rows = []
SPLIT = ["dev"]


def add(think, note, puzzle=PUZZLE_B, answer=None, status=None, claims="", assumptions="", contradictions=0,
        effective=False, superficial=False):
    names, statements = puzzle
    solution = solve(statements)
    guess = solution if answer is None else answer
    answer_text = "\n".join(f"({i + 1}) {n} is a {'knight' if v else 'knave'}" for i, (n, v) in enumerate(zip(names, guess)))
    rows.append({
        "id": f"c-{len(rows) + 1:02d}", "split": SPLIT[0], "note": note,
        "response": f"{think}\n</think>\n<answer>\n{answer_text}\n</answer>",
        "gts": {"names": names, "solution": solution, "roles": ["knight", "knave"],
                "solution_text": "\n".join(f"({i + 1}) {n} is a {'knight' if v else 'knave'}"
                                           for i, (n, v) in enumerate(zip(names, solution)))},
        "extra_info": {"statements": json.dumps(statements)},
        "labels": {"claims": claims.split(), "assumptions": assumptions.split(), "contradictions": contradictions,
                   "effective": effective, "superficial": superficial},
    })


WRONG_B = [False, True, False]

# ---------------- dev: written alongside the rules ----------------
add("Lily says Omar is a knight. Omar says Ivy is a knave. Suppose Lily is a knave. Then her statement is false, so Omar is a knave. "
    "Then Omar's statement is false, so Ivy is a knight. But Ivy says Lily is a knight if and only if Omar is a knave, which is false. "
    "That is a contradiction. So Lily is a knight. Then Omar is a knight, and Ivy is a knave.",
    "classic case split ending in a contradiction, then conclusions",
    claims="Omar-@ Ivy+@ Lily+ Omar+ Ivy-", assumptions="Lily-", contradictions=1)
add("Case 1: Lily is a knight. Then Omar is a knight, so Ivy is a knave. Ivy's claim is false, consistent. "
    "Case 2: Lily is a knave. Then Omar is a knave and Ivy is a knight, but Ivy's statement is then false, contradiction. "
    "So case 1 holds.",
    "two explicit cases",
    claims="Omar+@ Ivy-@ Omar-@ Ivy+@", assumptions="Lily+ Lily-", contradictions=1)
add("Omar says that Ivy is a knave. Lily says Omar is a knight. If Omar is a knight, Ivy is a knave; Lily's statement is true, so Lily is a knight. "
    "Everything is consistent. Therefore Lily and Omar are knights and Ivy is a knave.",
    "quoted statements are not claims; group claim",
    claims="Ivy-@ Lily+@ Lily+ Omar+ Ivy-", assumptions="Omar+")
add("We need to decide whether Lily is a knight. Lily might be a knave, or she might be a knight. Let's look at Omar. "
    "Omar is a knight because Lily, a knight, vouches for him. So Ivy is a knave.",
    "hedges ('whether', 'might be') are not claims",
    claims="Omar+ Ivy-")
add("Ivy is a knight. Omar says Ivy is a knave, so Omar is a knave. Lily says Omar is a knight, so Lily is a knave. "
    "Wait, let me re-check Ivy's statement: Lily is a knight iff Omar is a knave. With Lily knave and Omar knave that is false, so Ivy cannot be a knight. "
    "Ivy is a knave. Then Omar is a knight and Lily is a knight.",
    "effective reflection: wrong claims corrected after a re-check",
    claims="Ivy+ Omar- Lily- Ivy- Ivy- Omar+ Lily+", effective=True)
add("Lily is a knave. Omar is a knave. Ivy is a knight. Let me verify all statements: Lily says Omar is a knight, false, fine for a knave. "
    "Omar says Ivy is a knave, false, fine. Everything checks out.",
    "superficial reflection: verification that changes nothing, wrong answer",
    answer=WRONG_B, claims="Lily- Omar- Ivy+", superficial=True)
add("假设Lily是骗子，那么Omar是骗子，Ivy是骑士。但是Ivy说的话是假的，矛盾。所以Lily是骑士，Omar也是骑士，Ivy是骗子。",
    "Chinese case split with a contradiction",
    claims="Omar-@ Ivy+@ Lily+ Omar+ Ivy-", assumptions="Lily-", contradictions=1)
add("Lily说Omar是骑士。Omar说Ivy是骗子。如果Omar是骑士，那么Ivy是骗子，Lily说的是真话，所以Lily是骑士。验证一下：都成立。",
    "Chinese: quoted statements are not claims; 说真话 form",
    claims="Ivy-@ Lily+@ Lily+@", assumptions="Omar+")
add("Zoey says Bob is a knave if and only if Max is a knight. Bob says Zoey and Max are knaves. Assume Bob is a knight. Then Zoey is a knave and Max is a knave. "
    "Max says Zoey is a knave iff Bob is a knight, which would be true, so Max is a knight. Contradiction. So Bob is a knave. "
    "Zoey is a knight and Max is a knight.",
    "puzzle A: case on Bob", puzzle=PUZZLE_A,
    claims="Zoey-@ Max-@ Max+@ Bob- Zoey+ Max+", assumptions="Bob+", contradictions=1)
add("Bob must be a knave, since Zoey and Max cannot both be knaves. So Zoey is a knight. Max is telling the truth.",
    "puzzle A: must be / telling the truth", puzzle=PUZZLE_A,
    claims="Bob- Zoey+ Max+")
add("Let's assume Ivy is a knight. Then Omar is lying, so Omar is a knave, and Lily is lying too. But then Ivy's statement would be false. "
    "This assumption fails. Ivy is not a knight. Omar isn't a knave either.",
    "negations; 'this assumption fails'",
    claims="Omar-@ Omar-@ Lily-@ Ivy- Omar+", assumptions="Ivy+", contradictions=1)
add("If Lily is a knight and Omar is a knight, then Ivy is a knave, and Ivy's claim is false as required. No contradiction here. "
    "The answer: Lily is a knight, Omar is a knight, Ivy is a knave.",
    "two assumptions in one clause; 'no contradiction' is not a declared contradiction",
    claims="Ivy-@ Lily+ Omar+ Ivy-", assumptions="Lily+ Omar+")
add("Omar's statement says Ivy is a knave. Ivy's statement is that Lily is a knight if and only if Omar is a knave. "
    "The roles: Lily is a knight, Omar is a knight. Ivy is a knave.",
    "statement descriptions are not claims",
    claims="Lily+ Omar+ Ivy-")
add("Lily is a knight. Hmm, wait. Lily is a knight, yes. Omar is a knight. Ivy is a knight. Let me double-check Ivy: she says Lily is a knight iff Omar is a knave; "
    "true iff false, so false; but I said Ivy is a knight. Still, I'll go with it.",
    "superficial: verification notices but does not change; wrong answer",
    answer=[True, True, True], claims="Lily+ Lily+ Omar+ Ivy+ Ivy+", superficial=True)

# ---------------- held out: written after the rules were frozen ----------------
SPLIT[0] = "held_out"

add("Start with Ivy. Let's say Ivy is a knight; then Lily is a knight exactly when Omar is a knave. Omar's claim that Ivy is a knave "
    "would make Omar a knave. Then Lily, who vouches for Omar, is a knave as well. But then Lily is a knave and Omar is a knave, "
    "so Ivy's biconditional is false. That can't happen for a knight. Hence Ivy is a knave, Omar is a knight and Lily is a knight.",
    "held-out: 'let's say' case, 'that can't happen' contradiction, conclusions",
    claims="Omar-@ Lily-@ Lily-@ Omar-@ Ivy- Omar+ Lily+", assumptions="Ivy+", contradictions=1)
add("I'll consider two scenarios. Scenario A: Omar is a knave. In that scenario Ivy is a knight, and Lily, who said Omar is a knight, is a knave. "
    "Ivy's statement is then false, which rules scenario A out. Scenario B: Omar is a knight. Then Ivy is a knave and Lily is a knight. "
    "Everything is consistent.",
    "held-out: 'Scenario A:' cases (no 'if'/'case' word), 'rules ... out'",
    claims="Ivy+@ Lily-@ Ivy-@ Lily+@", assumptions="Omar- Omar+", contradictions=1)
add("Omar tells the truth, so Ivy is a knave. Lily says Omar is a knight, which is correct, so Lily tells the truth too. "
    "Ivy: knave. Omar: knight. Lily: knight.",
    "held-out: 'tells the truth' and 'Name: role' forms",
    claims="Omar+ Ivy- Lily+ Ivy- Omar+ Lily+")
add("Maybe Lily is a knave? If so, Omar is a knave and Ivy a knight, and Ivy's statement fails. So no. Lily is a knight, "
    "and Omar is a knight. Ivy is a knave.",
    "held-out: question-form assumption ('Maybe ... ? If so'), elliptical 'Ivy a knight'",
    claims="Omar-@ Ivy+@ Lily+ Omar+ Ivy-", assumptions="Lily-", contradictions=1)
add("Lily is a knave, Omar is a knave, Ivy is a knight. Hmm, wait: Ivy says Lily is a knight iff Omar is a knave, and with both of them knaves "
    "that is false, so Ivy would be lying. I made a mistake. Ivy is a knave, Omar is a knight, Lily is a knight.",
    "held-out: effective reflection ('Hmm, wait' ... 'I made a mistake')",
    claims="Lily- Omar- Ivy+ Ivy- Omar+ Lily+", effective=True)
add("Omar is a knight. Ivy is a knight. Lily is a knight. Let me check each statement again. Lily says Omar is a knight: true. "
    "Omar says Ivy is a knave: false, but Omar is a knight... that seems fine. All good.",
    "held-out: superficial reflection (re-check notices nothing, wrong answer)",
    answer=[True, True, True], claims="Omar+ Ivy+ Lily+ Omar+", superficial=True)
# (label corrected after the first scoring: "but Omar is a knight..." is the model's own claim; first labelled without it)
add("先假设Omar是骗子。这样Ivy就是骑士，而Lily说Omar是骑士，所以Lily是骗子。可是Ivy的话就不对了，出现矛盾。因此Omar是骑士，Ivy是骗子，Lily是骑士。",
    "held-out zh: 先假设 case, 出现矛盾, conclusions; Lily说... is quoted",
    claims="Ivy+@ Lily-@ Omar+ Ivy- Lily+", assumptions="Omar-", contradictions=1)
add("Lily的说法：Omar是骑士。Omar的说法：Ivy是骗子。检查：Lily是骑士时，Omar是骑士，Ivy是骗子，Ivy的话为假，符合。答案是Lily和Omar是骑士，Ivy是骗子。",
    "held-out zh: statements restated after 说法：, '...时' as a case, group claim in Chinese",
    claims="Omar+@ Ivy-@ Lily+ Omar+ Ivy-", assumptions="Lily+")
add("Zoey's statement and Max's statement mirror each other. Bob, on the other hand, accuses both of them. Assume Zoey is a knave: "
    "then Bob's claim is at least half right, so Bob could be a knight, but then Max must be a knave too, and Max's statement would be true, "
    "contradiction. Zoey is a knight then. Bob is a knave since Zoey isn't a knave. Max is a knight.",
    "held-out: puzzle A, hedge inside a case ('could be'), negated link in a 'since' clause", puzzle=PUZZLE_A,
    claims="Max-@ Zoey+ Bob- Zoey+ Max+", assumptions="Zoey-", contradictions=1)
add("The puzzle says Zoey claims Bob is a knave iff Max is a knight, Bob claims Zoey and Max are both knaves, and Max claims Zoey is a knave iff Bob is a knight. "
    "Bob can't be a knight: that would make Zoey and Max knaves, and Max's biconditional would then be true. So Bob is a knave and both others are knights.",
    "held-out: long restatement of all statements (not claims), 'both others are knights' (no names)", puzzle=PUZZLE_A,
    claims="Bob- Bob-")

with open(Path(__file__).resolve().parent / "analysis_claims_fixture.jsonl", "w", encoding="utf-8") as f:
    for r in rows:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(len(rows), {s: sum(r["split"] == s for r in rows) for s in ("dev", "held_out")})
