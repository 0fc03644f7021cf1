"""Self-contained HTML report: plots embedded as base64 PNG, the per-step table,
example responses per behaviour with the matched phrases highlighted, and an
early step beside a late step for the same prompt.

Every piece of dump text goes through ``html.escape``; the page loads nothing
from outside (no scripts, no external images or styles).
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from analysis import registry
from analysis.examples import Example, behaviour_labels, render_highlighted

MAX_EXAMPLE_CHARS = 6000
# Highlights are the detector's colour at this opacity (hex alpha), so text stays readable.
HIGHLIGHT_ALPHA = "55"


@dataclass
class ReportContent:
    """Everything the page shows."""

    title: str
    run_facts: dict[str, str]
    plots: list[tuple[str, Path]]  # (caption, png path)
    per_step: pd.DataFrame
    val_per_step: pd.DataFrame | None
    examples: dict[str, list[Example]]  # behaviour label -> examples
    pairs: list[tuple[Example, Example, bool]]
    warnings: list[str] = field(default_factory=list)


def _css() -> str:
    marks = "\n".join(f".hl-{html.escape(d.name)} {{ background: {d.colour}{HIGHLIGHT_ALPHA}; }}"
                      for d in registry.detectors())
    return f"""
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
h1 {{ margin-bottom: 0.2em; }} h2 {{ margin-top: 1.6em; border-bottom: 1px solid #ccc; }}
table {{ border-collapse: collapse; font-size: 12px; }}
td, th {{ border: 1px solid #ddd; padding: 2px 6px; text-align: right; }}
th {{ background: #f3f3f3; position: sticky; top: 0; }}
.scroll {{ max-height: 420px; overflow: auto; border: 1px solid #ccc; }}
pre {{ white-space: pre-wrap; word-wrap: break-word; background: #fafafa; border: 1px solid #e3e3e3;
      padding: 8px; font-size: 12px; max-height: 480px; overflow: auto; }}
.pair {{ display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }}
.facts {{ font-size: 12px; color: #555; }}
.warn {{ color: #a15c00; font-size: 12px; }}
img {{ max-width: 100%; border: 1px solid #eee; }}
mark {{ padding: 0 1px; border-radius: 2px; }}
{marks}
"""


def _image(path: Path) -> str:
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{encoded}">'


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for values in frame.itertuples(index=False):
        cells = "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in values)
        rows.append(f"<tr>{cells}</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.4g}"
    return str(value)


def _facts(example: Example) -> str:
    parts = [f"step {example.step}", f"{example.file} line {example.line}"]
    for key, value in example.facts.items():
        if key in ("step", "length_unit"):
            continue
        shown = f"{value} {example.facts.get('length_unit', '')}".strip() if key == "length" else _fmt(value)
        parts.append(f"{key}: {shown}")
    return f'<div class="facts">{html.escape(" | ".join(parts))}</div>'


def _example(example: Example) -> str:
    prompt_tail = example.prompt[-300:]
    return (
        _facts(example)
        + f'<details><summary class="facts">prompt (last 300 characters)</summary><pre>{html.escape(prompt_tail)}</pre></details>'
        + f"<pre>{render_highlighted(example.output, example.highlights, MAX_EXAMPLE_CHARS)}</pre>"
    )


def _legend() -> str:
    items = " ".join(
        f'<mark class="hl-{name}">{html.escape(registry.label(name))}</mark>' for name in behaviour_labels()
    )
    return f'<p class="facts">Highlights: {items}</p>'


def render(content: ReportContent) -> str:
    """The complete HTML page."""
    out: list[str] = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(content.title)}</title><style>{_css()}</style></head><body>",
        f"<h1>{html.escape(content.title)}</h1>",
        "<ul class='facts'>" + "".join(
            f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in content.run_facts.items()) + "</ul>",
    ]
    if content.warnings:
        shown = content.warnings[:50]
        more = f" (and {len(content.warnings) - 50} more)" if len(content.warnings) > 50 else ""
        out.append("<details><summary class='warn'>" + html.escape(f"{len(content.warnings)} input warning(s){more}")
                   + "</summary><ul>" + "".join(f"<li class='warn'>{html.escape(w)}</li>" for w in shown) + "</ul></details>")
    out.append("<h2>Plots</h2>")
    for caption, path in content.plots:
        out.append(f"<h3>{html.escape(caption)}</h3>{_image(path)}")
    out.append("<h2>Per-step table (rollouts)</h2>" + _table(content.per_step))
    if content.val_per_step is not None and not content.val_per_step.empty:
        out.append("<h2>Per-step table (validation)</h2>" + _table(content.val_per_step))
    out.append("<h2>Example responses per behaviour</h2>" + _legend())
    for label, examples in content.examples.items():
        title = registry.label(label)
        out.append(f"<h3>{html.escape(title)}</h3>")
        if not examples:
            out.append("<p class='facts'>No response shows this.</p>")
        for example in examples:
            out.append(_example(example))
    out.append("<h2>Early step vs late step</h2>")
    if not content.pairs:
        out.append("<p class='facts'>Only one step: nothing to compare.</p>")
    for early, late, same_prompt in content.pairs:
        note = "same prompt" if same_prompt else "different prompts (no prompt was seen both early and late)"
        out.append(f"<p class='facts'>{html.escape(note)}</p><div class='pair'><div>{_example(early)}</div><div>{_example(late)}</div></div>")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out.append(f"<p class='facts'>Generated by python -m analysis report, {html.escape(stamp)}.</p></body></html>")
    return "\n".join(out)
