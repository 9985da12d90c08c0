"""A notebook grade cell's results as HTML (and as plain text): what `tcplab check` shows of a failure.

Each check is drawn from `view(check)` (graders.report.student_view), never from the
CheckResult itself: a hidden check shows its title and result only, never what it sent or
expected. Markup only: showing it in a kernel is graders.notebook's business.

Readable in any theme: the markup sets no colour of its own for text. It takes JupyterLab's
theme variables (light, dark, high contrast), and where a front end has none (classic
Notebook, VS Code, a page without JupyterLab's CSS) it falls back to what works on any background —
inherited text colour, a translucent grey box, dimming by opacity. Transcripts, hex dumps
and messages are monospace, as in a terminal, so their columns line up.
"""

from __future__ import annotations

import html
import re

from graders.report.results import CheckResult
from graders.report.student_view import MARKS, CheckView, view

# Every colour is a theme variable with a fallback that reads on light and dark alike: text
# keeps the surrounding colour (currentColor), a box is translucent grey over whatever the
# background is, dim is opacity. No colour is ever set for one theme only (a test pins it).
STYLE = """<style>
.tcplab{font-family:var(--jp-content-font-family,system-ui,sans-serif);color:var(--jp-content-font-color1,currentColor);
 border-left:4px solid var(--jp-border-color1,rgba(127,127,127,.5));padding:.3rem .8rem;margin:.3rem 0;line-height:1.45}
.tcplab.passed{border-left-color:var(--jp-success-color1,#2da44e)}
.tcplab.failed,.tcplab.timeout{border-left-color:var(--jp-error-color1,#cf222e)}
.tcplab.error{border-left-color:var(--jp-warn-color1,#bf8700)}
.tcplab .mark.passed{color:var(--jp-success-color1,#2da44e)}
.tcplab .mark.failed,.tcplab .mark.timeout{color:var(--jp-error-color1,#cf222e)}
.tcplab .mark.error{color:var(--jp-warn-color1,#bf8700)}
.tcplab pre,.tcplab code{font-family:var(--jp-code-font-family,ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace);
 font-size:var(--jp-code-font-size,.9em)}
.tcplab pre{background:var(--jp-layout-color2,rgba(127,127,127,.12));color:var(--jp-content-font-color1,currentColor);
 border:1px solid var(--jp-border-color2,rgba(127,127,127,.25));border-radius:3px;padding:.5rem .6rem;margin:.3rem 0;
 white-space:pre-wrap;overflow-wrap:anywhere;line-height:1.35}
.tcplab code{background:var(--jp-layout-color2,rgba(127,127,127,.12));color:inherit;padding:0 .2em;border-radius:2px}
.tcplab p{margin:.35rem 0}
.tcplab .mark{font-weight:bold}
.tcplab .dim{opacity:.7}
.tcplab .hint{border-left:3px solid var(--jp-brand-color1,#1f6feb);padding-left:.6rem}
.tcplab ul.others{margin:.3rem 0;padding-left:.3rem;list-style:none}
</style>"""


def render_html(results: list[CheckResult], stderr_text: str = "", *, focus: bool = False) -> str:
    """The results as `tcplab check` shows a failure: message, expected/got, transcript, hint.

    focus=True (a whole stage at once) shows a summary line, the first check that did not
    pass in full, and every other check as one line, as the terminal does.
    """
    if focus and len(results) > 1:
        parts = [STYLE, focused_html(results)]
    else:
        parts = [STYLE] + [check_html(r) for r in results]
    if stderr_text:
        parts.append('<div class="tcplab"><p class="dim">Your code wrote this to stderr '
                     f"(kept here, out of the way of grading):</p><pre>{html.escape(stderr_text)}</pre></div>")
    return "\n".join(parts)


def focused_html(results: list[CheckResult]) -> str:
    """A whole stage: how many passed, the first one that did not in full, the rest one line each."""
    views = [view(r) for r in results]
    passed = sum(v.status == "passed" for v in views)
    score, total = sum(v.score for v in views), sum(v.max_score for v in views)
    first = next((i for i, v in enumerate(views) if v.status not in ("passed", "skipped")), None)
    state = "passed" if passed == len(views) else "failed"
    parts = [f'<div class="tcplab {state}"><div><span class="mark {state}">{MARKS[state]}</span> '
             f"<strong>{passed} of {len(views)} checks passed</strong> "
             f'<span class="dim">[{score:g}/{total:g} points]</span></div>']
    if state == "passed":
        parts.append("<p>Every check you can run passes. The hidden ones run when your notebook is graded.</p>")
    below = ' <span class="dim">— in full below</span>'
    lines = [f"<li>{_head(v)}{below if i == first else _why_skipped(v)}</li>" for i, v in enumerate(views)]
    parts.append(f'<ul class="others">{"".join(lines)}</ul>')
    if first is not None:
        parts.append('<p class="dim">Below, the first check that did not pass, in full. Its own check cell '
                     "shows the same: after changing your code, run the answer cell, then that cell.</p>")
    parts.append("</div>")
    return "".join(parts) + (check_html(results[first]) if first is not None else "")


def check_html(check: CheckResult) -> str:
    e = html.escape
    result = view(check)  # what a student may see of it
    parts = [f'<div class="tcplab {e(result.status)}"><div>{_head(result)}</div>']
    if result.hidden:
        if result.status != "passed":
            parts.append('<p class="dim">A hidden check shows only its result: work out from the '
                         "title and the lesson what your code does not handle yet.</p>")
    elif result.status != "passed":
        if result.message:
            parts.append(f"<pre>{e(result.message)}</pre>")
        if result.transcript and not result.message.startswith("not implemented yet"):
            parts.append(f'<p class="dim">What crossed the wire:</p><pre>{e(chr(10).join(result.transcript))}</pre>')
        if result.printed:
            parts.append(f'<p class="dim">What your code printed:</p><pre>{e(result.printed)}</pre>')
        if result.seed is not None:
            parts.append(f'<p class="dim">Short reads and writes were injected with seed {result.seed}; replay '
                         f'them with <code>grade(..., seed={result.seed})</code>.</p>')
        if result.hint:
            parts.append(f'<p class="hint"><strong>Hint:</strong> {inline_code(result.hint)}</p>')
    parts.append("</div>")
    return "".join(parts)


def _head(result: CheckView) -> str:
    e = html.escape
    return (f'<span class="mark {e(result.status)}">{result.mark}</span> <strong>{e(result.title)}</strong> '
            f'<span class="dim">[{result.score:g}/{result.max_score:g}]'
            f'{" — hidden check" if result.hidden else ""}'
            f'{"" if result.status in ("passed", "failed") else " — " + e(result.status)}</span>')


def _why_skipped(result: CheckView) -> str:
    if result.status != "skipped" or not result.message:
        return ""
    return f' <span class="dim">({html.escape(result.message)})</span>'


def inline_code(text: str) -> str:
    """`text` escaped, with its `backticked` spans as <code> (hints quote code that way)."""
    return re.sub(r"`([^`\n]+)`", r"<code>\1</code>", html.escape(text))


def note_html(text: str) -> str:
    """A dim line of its own: what a cell did instead of its usual report."""
    return f'{STYLE}<div class="tcplab"><p class="dim">{inline_code(text)}</p></div>'


def transcript_html(lines: list[str]) -> str:
    """A demonstration's transcript: what crossed the wire, on its own."""
    return (f'{STYLE}<div class="tcplab"><p class="dim">What crossed the wire:</p>'
            f"<pre>{html.escape(chr(10).join(lines))}</pre></div>")


def hints_html(stage_title: str, hints: list[str], shown: int, seen_before: int) -> str:
    """A stage's first `shown` hints; those seen before (all but the newest) dimmed, as `tcplab hint` does."""
    if not hints:
        return (f'{STYLE}<div class="tcplab"><p><strong>{html.escape(stage_title)}</strong>: this stage has '
                "no hints; the lesson above is the whole story.</p></div>")
    rows = []
    for number, text in enumerate(hints[:shown], 1):
        fresh = number > seen_before or seen_before >= len(hints)
        rows.append(f'<p class="hint{"" if fresh else " dim"}"><strong>Hint {number} of {len(hints)}:</strong> '
                    f"{inline_code(text)}</p>")
    if shown < len(hints):
        more = (f'<p class="dim">Still stuck? Run this cell again for hint {shown + 1}; '
                f"<code>hint(..., every=True)</code> shows all {len(hints)}.</p>")
    else:
        more = '<p class="dim">That is every hint of this stage.</p>'
    return (f'{STYLE}<div class="tcplab"><div><strong>{html.escape(stage_title)}</strong> '
            f'<span class="dim">— hints, gentlest first</span></div>{"".join(rows)}{more}</div>')


def render_text(results: list[CheckResult]) -> str:
    """The same report as plain text, for a kernel without IPython's display."""
    out = []
    for r in map(view, results):
        out.append(f"{r.mark} {r.title} [{r.score:g}/{r.max_score:g}]")
        if r.status != "passed" and not r.hidden:
            out += ["  " + line for line in r.message.splitlines()]
            if r.hint:
                out.append(f"  hint: {r.hint}")
    return "\n".join(out)
