"""Prompt templates: the instruction wording, the message layout, and the chat-template files.

Two *templates* (message layouts):

* ``instruct`` - a system message with the format instruction + a user message with the puzzle.
  With ``<think>`` prefilled, the run scripts must pass ``chat_templates/chatml_think_prefill.jinja``
  as veRL ``actor_rollout_ref.model.custom_chat_template`` so that the generation prompt ends in
  ``<|im_start|>assistant\\n<think>``.
* ``base`` - ONE user message holding the whole plain-text prompt (``...User:QUIZ\\nAssistant: <think>``),
  rendered verbatim by ``chat_templates/raw_text.jinja``.

Three *prompt styles* (instruction wording):

* ``logic_rl`` - Logic-RL's wording, including its literal tag example
  ``<think> reasoning process here </think><answer> answer here </answer>`` and its example answer
  ``(1) Zoey is a knight``.
* ``schematic`` - the same tag example, but the answer lines are given with placeholders
  (``(k) NAME is a ROLE``), so the example answer cannot be pasted.
* ``no_example`` - the schematic answer lines, and the tags named in words instead of shown in use:
  no part of the instruction is a well-formed response, so nothing in it can be pasted to pass the
  format (a small model learns exactly that paste from ``logic_rl``; docs/experiments/).
"""
from __future__ import annotations

from pathlib import Path

from data_prep.errors import DataPrepError
from data_prep.roles import RolePair, with_article
from reward_fns.kk_format import ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, THINK_OPEN

TEMPLATES = ("instruct", "base")
PROMPT_STYLES = ("logic_rl", "schematic", "no_example")
CHAT_TEMPLATE_DIR = Path(__file__).resolve().parent / "chat_templates"
# The prompt names the tags the reward checks (reward_fns/kk_format.py owns them).
_PROTOCOL = (
    f"The reasoning process and answer are enclosed within {THINK_OPEN} {THINK_CLOSE} and {ANSWER_OPEN} {ANSWER_CLOSE} tags, "
    f"respectively, i.e., {THINK_OPEN} reasoning process here {THINK_CLOSE}{ANSWER_OPEN} answer here {ANSWER_CLOSE}."
)
# The same protocol without a demonstration: tags are only ever named next to words, never in a
# <think>...</think><answer>...</answer> sequence.
_PROTOCOL_NO_EXAMPLE = (
    f"The reasoning process goes inside a think block, opened with the {THINK_OPEN} tag and closed with the "
    f"{THINK_CLOSE} tag. Right after the think block comes the answer, opened with the {ANSWER_OPEN} tag and closed with "
    f"the {ANSWER_CLOSE} tag. Nothing may come before the think block or after the answer."
)


def _protocol(prompt_style: str) -> str:
    return _PROTOCOL_NO_EXAMPLE if prompt_style == "no_example" else _PROTOCOL


def validate_template(template: str) -> None:
    if template not in TEMPLATES:
        raise DataPrepError(f"unknown template {template!r} (expected one of: {', '.join(TEMPLATES)})")


def validate_prompt_style(prompt_style: str) -> None:
    if prompt_style not in PROMPT_STYLES:
        raise DataPrepError(f"unknown prompt style {prompt_style!r} (expected one of: {', '.join(PROMPT_STYLES)})")


def _schematic_answer_format(roles: RolePair) -> str:
    articles = sorted({with_article(word).split()[0] for word in roles.as_list()})
    return (
        f"After thinking, when you finally reach a conclusion, give the answer within {ANSWER_OPEN} {ANSWER_CLOSE} tags: "
        "one line per inhabitant, in the order the puzzle introduces them, each line of the form "
        f"(k) NAME is {'/'.join(articles)} ROLE, where k is 1 for the first inhabitant, 2 for the second and so on, "
        f"NAME is that inhabitant's name and ROLE is either {roles.truthful} or {roles.lying}."
    )


def system_prompt(roles: RolePair, prompt_style: str) -> str:
    """System message of the ``instruct`` template."""
    validate_prompt_style(prompt_style)
    head = (
        "You are a helpful assistant. The assistant first thinks about the reasoning process in the mind "
        "and then provides the user with the answer. " + _protocol(prompt_style)
    )
    if prompt_style == "logic_rl":
        # Logic-RL's wording (two spaces after the protocol sentence, as upstream), role word substituted.
        return (
            head + "  Now the user asks you to solve a logical reasoning problem. After thinking, when you finally "
            f"reach a conclusion, clearly state the identity of each character within {ANSWER_OPEN} {ANSWER_CLOSE} tags. "
            "List the identity of each person one by one, for example, "
            f"{ANSWER_OPEN} (1) Zoey is {with_article(roles.truthful)}\n(2) Oliver is {with_article(roles.truthful)}\n(3)... {ANSWER_CLOSE}."
        )
    return head + " Now the user asks you to solve a logical reasoning problem. " + _schematic_answer_format(roles)


def base_prompt(quiz: str, roles: RolePair, prompt_style: str, think_prefilled: bool) -> str:
    """The whole plain-text prompt of the ``base`` template."""
    validate_prompt_style(prompt_style)
    if prompt_style == "logic_rl":
        # Logic-RL's base wording, kept verbatim (including the missing space in "it.The").
        instruction = (
            "The user asks a question, and the Assistant solves it.The assistant first thinks about the reasoning "
            "process in the mind and then provides the user with the final answer. " + _PROTOCOL + " Now the user "
            "asks you to solve a logical reasoning problem. After thinking, when you finally reach a conclusion, "
            f"clearly state the identity of each character within {ANSWER_OPEN} {ANSWER_CLOSE} tags. "
            f"i.e., {ANSWER_OPEN} (1) Zoey is {with_article(roles.truthful)}\n(2) ... {ANSWER_CLOSE}."
        )
    else:
        instruction = (
            "The user asks a question, and the Assistant solves it. The assistant first thinks about the reasoning "
            "process in the mind and then provides the user with the final answer. " + _protocol(prompt_style)
            + " Now the user asks you to solve a logical reasoning problem. " + _schematic_answer_format(roles)
        )
    return f"{instruction}\n\nUser:{quiz}\nAssistant:" + (f" {THINK_OPEN}" if think_prefilled else "")


def build_prompt(quiz: str, roles: RolePair, template: str, prompt_style: str, think_prefilled: bool) -> list[dict[str, str]]:
    """The ``prompt`` column: a list of ``{"role", "content"}`` messages."""
    validate_template(template)
    if template == "instruct":
        return [
            {"role": "system", "content": system_prompt(roles, prompt_style)},
            {"role": "user", "content": quiz},
        ]
    return [{"role": "user", "content": base_prompt(quiz, roles, prompt_style, think_prefilled)}]


def chat_template_path(template: str, think_prefilled: bool) -> Path | None:
    """The chat-template file the run scripts must pass as veRL
    ``actor_rollout_ref.model.custom_chat_template`` (its *contents*); None = the model's own."""
    validate_template(template)
    if template == "base":
        return CHAT_TEMPLATE_DIR / "raw_text.jinja"
    return CHAT_TEMPLATE_DIR / "chatml_think_prefill.jinja" if think_prefilled else None
