"""Source of tests/data/analysis_detector_fixture.jsonl: hand-written responses with hand-given labels.

Labels are by meaning, never by what the detectors output.  Rows are appended in the order they
were written; ``SPLIT`` marks the held-out batch (written after the pools were frozen).
Regenerate: .venv/bin/python tests/data/analysis_detector_fixture_make.py
"""
import json
from pathlib import Path
LABELS = ("hesitation", "exploration", "backtracking", "summary", "final_verify", "lang_switch", "retry_too_late")
EN_ANS = "(1) Zoey is a knight\n(2) Bob is a knave\n(3) Max is a knight"
ZH_ANS = "(1) Zoey是骑士\n(2) Bob是骑士\n(3) Max是骑士"
rows = []
SPLIT = ["dev"]
def add(lang, think, note, answer=EN_ANS, full=None, **labels):
    bad = set(labels) - set(LABELS)
    assert not bad, bad
    text = full if full is not None else f"{think}\n</think>\n<answer>\n{answer}\n</answer>"
    rows.append({"id": f"{lang}-{len(rows)+1:02d}", "lang": lang, "split": SPLIT[0], "response": text,
                 "labels": {k: bool(labels.get(k, False)) for k in LABELS}, "note": note})

# ---------------- English positives ----------------
add("en", "Zoey says Bob is a knave. Wait, I'm not sure whether Zoey's claim holds yet; let's verify this later. If Zoey is a knight, Bob is a knave, and Max's statement that Zoey is a knight is true, so Max is a knight.",
    "classic hesitation: not sure + verify later", hesitation=True)
add("en", "Hmm, Bob's statement is tricky. Tentatively, take Bob to be a knave and keep going. Then Zoey, who says Bob is a knave, tells the truth, so Zoey is a knight, and Max is a knight too.",
    "hmm + tentatively", hesitation=True)
add("en", "Zoey claims Max is a knight. I am uncertain about Max for now, so I will come back to it later. Bob says Zoey is a knave. Suppose Zoey is a knight: Bob lies, so Bob is a knave, and Max is a knight.",
    "uncertain, come back to it later", hesitation=True)
add("en", "Let's test both possibilities for Zoey. If Zoey is a knight, then Bob is a knave and Max is a knight. If Zoey is a knave, then Bob is a knight, but Bob says Max is a knave while Max says Zoey is a knight, which fails. So Zoey is a knight.",
    "logic-rl phrase: test both possibilities", exploration=True)
add("en", "Case 1: Zoey is a knight. Then Bob is a knave and Max is a knight; no contradiction. Case 2: Zoey is a knave. Then Bob is a knight, so Max is a knave, but Max's statement would then be true. Contradiction. So case 1 holds.",
    "explicit cases", exploration=True)
add("en", "Assume Bob is a knight. Then Zoey is a knave, but Zoey's statement would be true, contradiction. Alternatively, Bob is a knave: Zoey tells the truth, so Zoey is a knight, and Max confirms her.",
    "alternatively", exploration=True)
add("en", "There are two scenarios to check: Max truthful or Max lying. On the other hand, if Max lies, Zoey must be a knave, which conflicts with Bob's statement. So Max is a knight, Zoey is a knight and Bob is a knave.",
    "two scenarios + on the other hand", exploration=True)
add("en", "Zoey says Bob is a knave, so if Zoey is a knight then Bob is a knave. Let's analyze Bob's statement again: Bob says Zoey is a knave, which is false, so Bob is indeed a knave. Max says Zoey is a knight, true, so Max is a knight.",
    "logic-rl phrase: analyze ... statement again", backtracking=True)
add("en", "Bob is a knight because he says Max is a knight. Actually, let me reconsider: Bob says Zoey is a knave, and Zoey says Bob is a knave, so exactly one of them lies. Re-evaluating with Max's statement, Zoey is a knight and Bob is a knave.",
    "reconsider + re-evaluating", backtracking=True)
add("en", "First I thought Zoey was a knave. I made a mistake: Zoey's statement about Bob is actually true. Going back to Max's statement, Max says Zoey is a knight, so Max is a knight.",
    "made a mistake + going back", backtracking=True)
add("en", "Zoey says Bob is a knave. Let me recheck the statements from the beginning. Zoey's statement fits if she is a knight; Bob's claim is then false; Max's claim is true.",
    "recheck", backtracking=True)
add("en", "Zoey says Bob is a knave; if Zoey is a knight, Bob is a knave. Let's summarize what we have: Zoey is a knight and Bob is a knave. Max says Zoey is a knight, so Max is a knight.",
    "logic-rl phrase: let's summarize", summary=True)
add("en", "Zoey's statement makes Bob a knave if Zoey is truthful. Bob calls Zoey a knave, so Bob and Zoey differ. Now we have determined that Zoey is a knight and Bob is a knave. Max agrees with Zoey, so Max is a knight.",
    "logic-rl phrase: now we have determined", summary=True)
add("en", "Bob's claim contradicts Zoey's. So far, we know Zoey is a knight and Bob is a knave. Max says Zoey is a knight, which is true, so Max is a knight.",
    "so far we know", summary=True)
add("en", "Since Max supports Zoey and Bob opposes her, Max and Bob have opposite roles. In summary: Zoey and Max are knights, Bob is a knave.",
    "in summary", summary=True)
add("en", "If Zoey is a knight, Bob is a knave, and Max, who says Zoey is a knight, is a knight. Let's verify all statements: Zoey says Bob is a knave, true. Bob says Zoey is a knave, false, as a knave must. Max says Zoey is a knight, true.",
    "logic-rl phrase: let's verify all statements (at the end)", final_verify=True)
add("en", "Zoey is a knight since her statement agrees with Max's. Bob, who calls Zoey a knave, is therefore a knave. Max is a knight. Let me double-check this assignment against each statement: Zoey true, Bob false, Max true. Everything fits.",
    "double-check at the end", final_verify=True)
add("en", "Bob says Zoey is a knave; Zoey says Bob is a knave; they cannot both be knights. Max says Zoey is a knight. Taking Zoey as a knight works. Now let's check every statement once more with Zoey knight, Bob knave, Max knight: all statements are consistent.",
    "check every statement + all statements are consistent", final_verify=True)
add("en", "Zoey knight, Bob knave, Max knight fits all three claims. Verification: Zoey's claim about Bob holds, Bob's claim about Zoey is a lie, and Max's claim about Zoey holds.",
    "verification section at the end", final_verify=True)

add("en", "Bob says Zoey is a knave. I might be wrong, but Bob seems to be lying, since Max, who agrees with Zoey, would otherwise have to be a knave too. Taking Bob as a knave, Zoey is a knight and Max is a knight.",
    "hesitation: I might be wrong", hesitation=True)
add("en", "Hold on. If Max is a knave, then Zoey is a knave and Bob is a knight. Bob says Max is a knight, which would be true from a knight: impossible. So Max is a knight, Zoey is a knight, Bob is a knave.",
    "hesitation: hold on", hesitation=True)
add("zh", "Bob的身份暂且不论，先看Max。Max说Zoey是骑士，如果Max是骑士，Zoey就是骑士，Zoey说Bob是骑士，所以Bob也是骑士。",
    "zh hesitation: 暂且不论 (set aside for now)", hesitation=True, answer=ZH_ANS)

# multi-behaviour English
add("en", "Let's test both possibilities for Zoey. Case 1: Zoey is a knight, so Bob is a knave. Wait, I am not sure about Max yet, let's verify this later. Now we have determined that Zoey is a knight and Bob is a knave. Let's analyze Max's statement again: Max says Zoey is a knight, true, so Max is a knight. Let's verify all statements: all statements are consistent.",
    "all five behaviours", hesitation=True, exploration=True, backtracking=True, summary=True, final_verify=True)
add("en", "Hmm, where to start. Suppose Max is a knave; then Zoey is a knave, so Bob is a knight, but Bob says Zoey is a knave, which is true, so far fine; yet Zoey would say Bob is a knave falsely, fine. Hold on, let me reconsider Max: Max says Zoey is a knight, a lie, so Zoey is a knave. Alternatively, Max is a knight, Zoey is a knight, Bob is a knave. Both work? Let me re-examine Bob: Bob says Zoey is a knave; with Zoey a knave that is true, so Bob is a knight, then Zoey's claim that Bob is a knave is false, fine. Hmm. To recap: two assignments fit so far. Going back to the puzzle text, Max also says Bob is a knave, which rules out the first. Let me double-check the second one: Zoey true, Bob false, Max true.",
    "long messy reasoning with several behaviours", hesitation=True, exploration=True, backtracking=True, summary=True, final_verify=True)

# ---------------- English hard negatives ----------------
add("en", "Zoey says that both Bob and Max are knights. If Zoey is a knight, both are knights, but Bob says Zoey is a knave, so Zoey is a knave. Then not both are knights. Max says Zoey is a knight, false, so Max is a knave. Bob's statement is true, so Bob is a knight.",
    "hard negative: 'both' in a puzzle statement, 'not both'", answer="(1) Zoey is a knave\n(2) Bob is a knight\n(3) Max is a knave")
add("en", "There are two knights among the three, according to Max. Zoey says Bob is a knave. Bob says Zoey is a knave. Exactly one of Zoey and Bob is a knight, so Max is the second knight, and Max's claim is true. Max says Zoey is a knight, so Zoey is a knight and Bob is a knave.",
    "hard negative: 'two knights' is not 'two cases'")
add("en", "However, Bob says Zoey is a knave. Since Zoey says Bob is a knave, exactly one of them is a knight. Max says Zoey is a knight. If Max were a knave, Zoey would be a knave and Bob a knight, but then Bob's claim about Max being a knight would be true, which cannot be. Therefore Max is a knight and Zoey is a knight.",
    "hard negative: 'however' is contrast, not backtracking; a contradiction argument is not hesitation")
add("en", "I will check Zoey's statement first. Zoey says Bob is a knave. If Zoey is a knight then Bob is a knave. Bob says Zoey is a knave, which is then false, consistent with Bob being a knave. Max says Zoey is a knight, which is true, so Max is a knight. So Zoey and Max are knights and Bob is a knave, and that is the answer.",
    "hard negative: 'check' at the start is not a final verification; no summary phrase")
add("en", "Zoey's statement is consistent with Bob being a knave. Bob's statement is consistent with Zoey being a knave. Max's statement says Zoey is a knight. Only the assignment with Zoey as knight satisfies Max's claim when Max is a knight, and if Max were a knave then Zoey would be a knave, making Bob a knight and Max's statement false, which is allowed, but then Bob says Max is a knight, a true statement by a knight, contradiction. So Zoey and Max are knights.",
    "hard negative: 'consistent' early; no final verification")
add("en", "Let me think about Bob. Bob says Zoey is a knave. Zoey says Bob is a knave. They accuse each other, so one of them is a knight. Max says Zoey is a knight. If Max is a knight, Zoey is a knight and Bob is a knave. Max being a knave would make Bob a knight, and Bob says Max is a knight, impossible. So Max is a knight.",
    "hard negative: 'let me think' is not hesitation")
add("en", "Zoey says Bob would never lie about Max. Bob says Zoey is a knave. Max says Zoey is a knight. Bob and Max disagree about Zoey, so one of them is a knave. If Zoey is a knight, Bob lies and Max tells the truth. This is the only assignment that works.",
    "hard negative: ordinary deduction, no markers")
add("en", "The statement that Zoey is a knave is wrong, because Max, a knight, says Zoey is a knight. Therefore Bob, who said it, is a knave. Zoey says Bob is a knave, which is right, so Zoey is a knight.",
    "hard negative: 'statement ... is wrong' about a puzzle claim, not a correction of own reasoning")
add("en", "Zoey says: 'Bob is a knave or Max is a knave.' If Zoey is a knight, at least one of them is a knave. Bob says Zoey is a knave. If Bob is a knight, Zoey is a knave, and her or-statement is false, so both Bob and Max are knights, consistent. If Bob is a knave, Zoey is a knight.",
    "tricky: 'or' statement and two branches -> exploration by meaning (two hypotheses for Bob)", exploration=True)
add("en", "Max's statement confirms that Zoey is a knight. Zoey says Bob is a knave, so Bob is a knave. Bob's claim that Zoey is a knave is false, as a knave's should be.",
    "hard negative: 'confirms' describes a statement, no verification step")
add("en", "First, consider Zoey. Then consider Bob. Finally, consider Max. Zoey says Bob is a knave; Bob says Zoey is a knave; Max says Zoey is a knight. Taking the statements in order gives Zoey knight, Bob knave, Max knight.",
    "hard negative: 'consider' without a second hypothesis")
add("en", "Zoey is a knight; so is Max. Bob lies. The puzzle is solved quickly, and there is nothing more to say.",
    "hard negative: short response, nothing")
add("en", "Zoey says 'I am not a knave.' Any islander can say that, so it tells us nothing. Bob says Zoey is a knave. Max says Bob tells the truth. If Bob is a knight, Max is a knight, and Zoey is a knave.",
    "hard negative: 'not a knave' is not 'not sure'", answer="(1) Zoey is a knave\n(2) Bob is a knight\n(3) Max is a knight")

# ---------------- Chinese ----------------
add("zh", "我们先看Zoey的陈述。等等，我还不确定Bob的身份，稍后再验证。假设Zoey是骑士，那么Bob是骑士的说法是假的。Max说Zoey是骑士，所以Max是骑士。",
    "zh hesitation: 等等 不确定 稍后再验证", hesitation=True, answer=ZH_ANS)
add("zh", "嗯，这个问题需要仔细想。暂时假设Bob是骑士，那么Zoey说Bob是骑士为真，Zoey是骑士，Max也是骑士。",
    "zh hesitation: 嗯 暂时", hesitation=True, answer=ZH_ANS)
add("zh", "我们分情况讨论。情况一：Zoey是骑士，那么Bob是骑士，Max是骑士，没有矛盾。情况二：Zoey是骑士是假的，那么Bob说的也是假的，矛盾。所以情况一成立。",
    "zh exploration: 分情况 情况一/二", exploration=True, answer=ZH_ANS)
add("zh", "有两种可能：Bob是骑士或者Bob是骑士的说法不成立。另一种情况下Zoey会自相矛盾，所以Bob是骑士，Zoey和Max也是骑士。",
    "zh exploration: 两种可能 另一种情况", exploration=True, answer=ZH_ANS)
add("zh", "Zoey说Bob是骑士。我们重新分析一下Bob的陈述：Bob说Max是骑士，如果Bob是骑士，这是真的。再检查Max的陈述，Max说Zoey是骑士，也是真的。",
    "zh backtracking: 重新分析 再检查", backtracking=True, answer=ZH_ANS)
add("zh", "一开始我认为Zoey是骑士是错的，我之前错了：Zoey的陈述与Max一致。回头看Bob的话，Bob说Zoey是骑士，所以Bob也是骑士。",
    "zh backtracking: 我之前错了 回头看", backtracking=True, answer=ZH_ANS)
add("zh", "Zoey说Bob是骑士，Bob说Max是骑士，Max说Zoey是骑士。到目前为止，我们已经确定三人的说法互相支持。综上所述，三个人都是骑士。",
    "zh summary: 到目前为止 已经确定 综上所述", summary=True, answer=ZH_ANS)
add("zh", "假设Zoey是骑士，那么Bob是骑士，Max也是骑士。总结一下：三人都是骑士。",
    "zh summary: 总结一下", summary=True, answer=ZH_ANS)
add("zh", "假设Zoey是骑士，那么Bob是骑士，Max也是骑士，三人说法互相支持。最后我们验证一下所有陈述：Zoey的陈述为真，Bob的陈述为真，Max的陈述为真，所有陈述都成立。",
    "zh final verification at the end", final_verify=True, answer=ZH_ANS)
add("zh", "Zoey说Bob是骑士或者Max是骑士。Bob说Zoey是骑士。Max说Bob是骑士。因此可以确定Zoey是骑士，Bob是骑士，Max是骑士。",
    "zh hard negative: 或者 in a statement, 可以确定 as plain conclusion", answer=ZH_ANS)
add("zh", "Zoey说Bob是骑士。Bob说Max是骑士。Max说Zoey是骑士。三人的说法形成一个循环，如果一个人是骑士，其他人也是骑士，所以三人都是骑士。",
    "zh hard negative: plain reasoning", answer=ZH_ANS)
add("zh", "我们先检查Zoey的陈述：Zoey说Bob是骑士。如果Zoey是骑士，Bob是骑士；Bob说Max是骑士，所以Max是骑士；Max说Zoey是骑士，符合。这是唯一的答案，三人都是骑士，无需多说。",
    "zh hard negative: 检查 at the start is not a final verification", answer=ZH_ANS)
add("zh", "题目说每个人不是骑士就是骑士的对立面。Zoey说Bob是骑士，Max也说Bob是骑士。两人说法相同，Bob说Zoey是骑士，三人一致，都是骑士。",
    "zh hard negative: 说法相同 / 一致 are not summaries or verification", answer=ZH_ANS)

# ---------------- language switching ----------------
add("mixed", "假设Zoey是骑士，那么Bob是骑士的说法是假的，所以Bob是骑士不成立。Max说Zoey是骑士，为真，所以Max是骑士。",
    "lang switch: Chinese think, English answer", lang_switch=True)
add("mixed", "我们先看Zoey。Zoey说Bob说谎，如果Zoey说真话，Bob就是说谎者。Max说Zoey说真话，那么Max也是说真话的人。",
    "lang switch: Chinese think, English answer (no markers)", lang_switch=True)
add("mixed", "Zoey says Bob is a knave. If Zoey is a knight, Bob is a knave. Max says Zoey is a knight, so Max is a knight.",
    "no switch: English think, English answer (control)")
add("mixed", "Zoey says Bob is a knave. If Zoey is a knight, Bob is a knave. Max says Zoey is a knight, so Max is a knight.",
    "lang switch: English think, Chinese answer", lang_switch=True, answer="(1) Zoey是骑士\n(2) Bob是骑士的反面\n(3) Max是骑士")
add("mixed", "假设Zoey是骑士，那么Bob是骑士，Max也是骑士。三人说法一致。",
    "no switch: Chinese think, Chinese answer", answer=ZH_ANS)
add("mixed", "Zoey says Bob is a knave (Zoey说Bob是骑士的反面). If Zoey is a knight, Bob is a knave. Max says Zoey is a knight, so Max is a knight, and the three statements fit together well.",
    "no switch: English think with a short Chinese gloss, English answer")
add("mixed", "Let's test both possibilities. 情况一：Zoey是骑士，那么Bob是骑士的反面，Max是骑士。情况二：Zoey是骑士的反面，则矛盾。所以情况一成立。",
    "mixed think (Chinese dominant) with exploration in both languages; English answer -> switch", exploration=True, lang_switch=True)
add("mixed", "Wait, 我不确定Bob的身份。假设Zoey是骑士，Bob就是骑士的反面，Max是骑士。综上所述，Zoey和Max是骑士。",
    "mixed: hesitation and summary in Chinese, English answer -> switch", hesitation=True, summary=True, lang_switch=True)
add("mixed", "Привет. Zoey говорит, что Bob лжец. Если Zoey рыцарь, Bob лжец, и Max рыцарь.",
    "generic script switch: Cyrillic think, English answer", lang_switch=True)

# ---------------- retry too late ----------------
add("en", "", "retry too late: think reopened after the answer", retry_too_late=True,
    full="Zoey says Bob is a knave, so Zoey is a knight and Bob is a knave.\n</think>\n<answer>\n" + EN_ANS + "\n</answer>\n<think>Wait, let me re-check Max.</think>")
add("en", "", "retry too late: reasoning inside the answer", retry_too_late=True,
    full="Zoey is a knight and Bob is a knave.\n</think>\n<answer>\n(1) Zoey is a knight\n(2) Bob is a knave\nWait, let me reconsider Max: Max says Zoey is a knight, so (3) Max is a knight\n</answer>")
add("en", "", "retry too late: second think block after an answer block", retry_too_late=True,
    full="Zoey is a knight.\n</think>\n<answer>\n(1) Zoey is a knight\n</answer>\n<think>\nHmm, I forgot Bob and Max. Bob is a knave, Max is a knight.\n</think>\n<answer>\n" + EN_ANS + "\n</answer>")
add("zh", "", "retry too late in Chinese: 等等 inside the answer", retry_too_late=True,
    full="Zoey是骑士。\n</think>\n<answer>\n(1) Zoey是骑士\n等等，我们重新检查Bob。\n(2) Bob是骑士\n(3) Max是骑士\n</answer>")
add("en", "", "no retry: answer only lists roles (words 'knight' etc.)",
    full="Zoey is a knight, Bob is a knave, Max is a knight.\n</think>\n<answer>\n" + EN_ANS + "\n</answer>")
add("en", "", "no retry: the names in the answer are checked, but by the think part before it",
    full="Let's check each claim. Zoey is a knight, Bob a knave, Max a knight.\n</think>\n<answer>\n(1) Zoey is a knight\n(2) Bob is a knave\n(3) Max is a knight\n</answer>")
add("en", "", "no retry: no answer at all (format failure)",
    full="Zoey is a knight and Bob is a knave, and Max is a knight")

# ---------------- round 2: written as held out, then used to extend the pools (now dev) ----------------
add("en", "Let me try assuming Bob is a knight first. Then Zoey is a knave, and Max, who backs Zoey, is a knave too. But Max says Bob is a knave, which would be a lie, fine. Now try Bob as a knave: Zoey is a knight, Max is a knight. Both hypotheses survive so far, so I need Max's second claim to decide.",
    "round-2: two hypotheses without stock phrases; 'so far'", exploration=True, summary=True)
add("en", "Zoey says Bob is a knave. Actually, wait. I misread the puzzle: Zoey says Max is a knave. Starting again with the correct statement, if Zoey is a knight then Max is a knave.",
    "round-2: misread, starting again", hesitation=True, backtracking=True,
    answer="(1) Zoey is a knight\n(2) Bob is a knight\n(3) Max is a knave")
add("en", "I'm fairly confident Zoey is a knight, but Bob's role is still unclear to me. Bob says Zoey is a knave, a false claim, so Bob must be a knave after all. Max says Zoey is a knight, true.",
    "round-2: 'still unclear' hesitation", hesitation=True)
add("en", "Putting it all together, Zoey and Max are knights and Bob is a knave. Finally, let me confirm: Zoey's claim about Bob is true, Bob's claim about Zoey is false, and Max's claim is true. Everything checks out.",
    "round-2: putting it together + final confirm", summary=True, final_verify=True)
add("en", "Bob is a knave because he contradicts Max, and Max must be truthful since his claim agrees with Zoey's. Looking back at my first step, I assumed Zoey was a knight without justification; her claim that Bob is a knave is confirmed, so that step was fine.",
    "round-2: looking back at my first step", backtracking=True)
add("en", "Knights tell the truth and knaves lie. Zoey claims Bob is a knave; Bob claims Zoey is a knave. Max claims that Zoey is a knight. Max and Bob disagree about Zoey, and only Zoey being a knight lets Max's claim and Zoey's claim both hold.",
    "round-2 hard negative: plain deduction with 'claims'")
add("en", "Zoey says, 'Bob and I are different.' Bob says, 'Max is a knight.' Max says, 'Bob is a knave, wait and see.' If Max is a knight then Bob is a knave, and Zoey, differing from Bob, is a knight.",
    "round-2 hard negative: 'wait' inside a quoted puzzle statement")
add("zh", "先假设Bob是骑士，那么Zoey的话是假的；再假设Bob不是骑士，Zoey的话就是真的。第二种假设下Max的说法也成立，所以采用第二种。",
    "round-2 zh: two assumptions (先假设 ... 再假设)", exploration=True, answer=ZH_ANS)
add("zh", "我刚才算错了，Zoey的陈述应该是真的。这样Bob是骑士，Max也是骑士。",
    "round-2 zh: 我刚才算错了 (I miscalculated just now)", backtracking=True, answer=ZH_ANS)
add("zh", "根据以上分析，Zoey、Bob和Max都是骑士。最后核对一遍每个人的话：Zoey说Bob是骑士，对；Bob说Max是骑士，对；Max说Zoey是骑士，对。",
    "round-2 zh: 根据以上分析 (summary) + 最后核对 (final check)", summary=True, final_verify=True, answer=ZH_ANS)
add("mixed", "先看Zoey的话。If Zoey is a knight, Bob is a knave. 那么Bob的话是假的，Max的话是真的，所以Max是骑士。",
    "round-2 mixed: code-switching inside think, Chinese dominant; English answer", lang_switch=True)
add("en", "", "round-2 retry too late: 'actually' correction inside the answer", retry_too_late=True,
    full="Zoey is a knight, Bob is a knight.\n</think>\n<answer>\n(1) Zoey is a knight\n(2) Bob is a knight... no, let me go back: Bob is a knave\n(3) Max is a knight\n</answer>")

# ---------------- round 3: held out. Written after the pools were frozen; never used to tune them ----------------
SPLIT[0] = "held_out"
add("en", "Let me look at this from Max's side. Max says Zoey is a knight. If that's true, Zoey's accusation against Bob is true, so Bob is a knave. Bob's own claim that Zoey is a knave is then a lie, as expected. I'm going to confirm each claim with this assignment before answering: Zoey true, Bob false, Max true. Good.",
    "held-out: 'confirm each claim' at the end", final_verify=True)
add("en", "Zoey is a knight, I think, but let me not commit yet. Bob says Zoey is a knave. If Zoey is a knight, Bob is lying, so Bob is a knave. Max says Zoey is a knight, true. So Zoey and Max are knights.",
    "held-out: 'let me not commit yet' hesitation", hesitation=True)
add("en", "Two options for Bob: knight or knave. Option one, Bob is a knight: then Zoey is a knave and Max is a knave, but Max's claim about Bob being a knight would then be true, contradiction. Option two, Bob is a knave: Zoey is a knight and Max is a knight. Option two it is.",
    "held-out: 'two options ... option one/two'", exploration=True)
add("en", "I previously concluded Max is a knave, but that was based on misreading his statement. Redoing that step: Max says Zoey is a knight, and Zoey is a knight, so Max is a knight.",
    "held-out: 'redoing that step'", backtracking=True)
add("en", "At this stage we know two things: Zoey is a knight and Bob is a knave. The only person left is Max, who says Zoey is a knight, which is true, so Max is a knight.",
    "held-out: 'at this stage we know'", summary=True)
add("en", "Zoey says Bob is a knave. Bob says Zoey is a knave. Max says Zoey is a knight. Since knights and knaves accuse each other in exactly this pattern, Zoey and Bob have opposite roles, and Max sides with Zoey. Zoey knight, Bob knave, Max knight.",
    "held-out hard negative: plain deduction")
add("en", "We are told there are exactly two knights. Zoey says Bob is a knave and Bob says Zoey is a knave, so exactly one of them is a knight; Max must be the other knight. Max says Zoey is a knight, so Zoey is the knight and Bob the knave.",
    "held-out hard negative: 'exactly two knights', 'the other knight'")
add("en", "Bob says: 'Zoey would check her answer twice.' That statement is about Zoey's habits and cannot be evaluated, so Bob's role comes from his other claim that Max is a knave. Max says Zoey is a knight. If Max is a knight, Bob lies.",
    "held-out hard negative: 'check her answer' inside a quoted statement", answer="(1) Zoey is a knight\n(2) Bob is a knave\n(3) Max is a knight")
add("zh", "我们有三个人。先假定Zoey说真话，那么Bob在说谎；如果反而Zoey在说谎，Bob就说真话，但这和Max的话冲突。所以只能是第一种。",
    "held-out zh: two hypotheses (先假定 ... 如果反而)", exploration=True, answer=ZH_ANS)
add("zh", "嗯……我不太肯定Max的身份，先放一放。Zoey说Bob是骑士，Bob说Zoey是骑士，两人一致。现在回到Max，Max说Zoey是骑士，所以Max也是骑士。",
    "held-out zh: 不太肯定 先放一放 (hesitation)", hesitation=True, answer=ZH_ANS)
add("zh", "Zoey说Bob是骑士，Bob说Max是骑士，Max说Zoey是骑士。每个人都为下一个人作证，所以三个人的身份相同。他们不可能都是说谎者，因为那样每句话都会是假的却又互相矛盾，于是三人都是骑士。",
    "held-out zh hard negative: plain reasoning with 身份相同", answer=ZH_ANS)
add("mixed", "Zoey说Bob是骑士。Bob说Max是骑士。如果Zoey是骑士，那么Bob和Max都是骑士。我们检验每一句话：都成立。",
    "held-out mixed: Chinese think with final check (检验每一句话); English answer", final_verify=True, lang_switch=True)
add("mixed", "Zoey says Bob is a knave. 如果Zoey说的是真的, then Bob is a knave, and Max, who agrees with Zoey, is a knight. Everything fits with Zoey as a knight.",
    "held-out mixed: English think with a Chinese clause, English answer (no switch)")
add("en", "", "held-out retry too late: 'hmm' inside the answer", retry_too_late=True,
    full="Zoey is a knight and Bob a knave.\n</think>\n<answer>\n(1) Zoey is a knight\n(2) Bob is a knave\nhmm, Max should be checked too: (3) Max is a knight\n</answer>")

# ---------------- round 4: Chinese stretches inside an English think (language switch by stretch) ----------------
# Written with the stretch rule (HAN_STRETCH_MIN Han characters in one stretch, analysis/features.py), so dev.
SPLIT[0] = "dev"
add("mixed", "Zoey says Bob is a knave and Bob says Zoey is a knave, so exactly one of them lies, because a knight cannot "
    "call another knight a knave and a knave cannot call a knave a knave truthfully. Max says Zoey is a knight, which ties Max "
    "to Zoey: if Zoey is a knight then Max tells the truth, and if Zoey is a knave then Max lies as well. So the whole puzzle "
    "turns on Zoey, and there are only two assignments to consider for the three people. Let me work through the first one "
    "carefully, because the second one should then fall out by symmetry with the roles of Zoey and Bob exchanged. 假设Zoey是骑士，那么她说的话是真的，所以Bob是骗子；Bob说Zoey是骗子，这句话是假的，符合骗子的身份。"
    "再看Max，他说Zoey是骑士，这句话为真，所以Max也是骑士。三个人的陈述都没有矛盾，这个分配是唯一成立的。 "
    "So the assignment is Zoey knight, Bob knave, Max knight, and every statement checks out against it.",
    "stretch: a planted ~90-Han paragraph inside an English think, English answer -> switch", lang_switch=True)
add("mixed", "Zoey says Bob is a knave. If Zoey is a knight, Bob is a knave. 那么Bob说的话一定是假的。 Max says Zoey is a knight, "
    "which is true, so Max is a knight as well, and the three roles are settled without any conflict between the claims.",
    "stretch: one Chinese sentence (10 Han) inside a long English think, English answer -> switch", lang_switch=True)
add("mixed", "Start with Max, whose claim is simple. Max says Zoey is a knight; 如果这是真的，Zoey就是骑士 and then Bob, "
    "who calls Zoey a knave, must be lying. That gives Zoey knight, Bob knave, Max knight, and it fits every statement we were given.",
    "stretch: one Chinese clause with a name inside (10 Han) in an English think -> switch", lang_switch=True)
add("mixed", "Zoey (Zoey是骑士?) says Bob is a knave. If Zoey is a knight, Bob is a knave, Max is a knight; the roles 骑士 and 骗子 are "
    "just the puzzle's words for knight and knave here, and everything in the three statements is consistent with this.",
    "stretch hard negative: role words and a 3-Han tag in an English think (no switch)")
add("mixed", "Zoey says Bob is a knave. The word 验证 means verify. If Zoey is a knight, Bob lies, so Bob is a knave, and Max, who "
    "agrees with Zoey, is a knight. 好的. That settles all three people without any contradiction at all.",
    "stretch hard negative: short Chinese words (2 Han each) in an English think (no switch)")
add("mixed", "假设Zoey是骑士，那么Bob说的话是假的，所以Bob是骗子。Max说Zoey是骑士，所以Max也是骑士。",
    "stretch: Chinese think with Chinese answer (no switch)", answer=ZH_ANS)

with open(Path(__file__).resolve().parent / "analysis_detector_fixture.jsonl", "w", encoding="utf-8") as f:
    for r in rows:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(len(rows), {k: sum(r["labels"][k] for r in rows) for k in LABELS}, {l: sum(r["lang"] == l for r in rows) for l in ("en", "zh", "mixed")})
