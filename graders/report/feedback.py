"""Per-student feedback: one submission's results as Markdown and as HTML.

What a student may see of each check is graders/report/student_view.py's to say (hidden
checks: title, status and score only). Messages and problems (which quote student code and
its exceptions) go in fenced blocks, shown as they are; titles and hints are the course's
own text, kept as written. The HTML is built from escaped text, never from the student's
strings as markup.
"""

from __future__ import annotations

import html

from graders.report.results import CheckResult, StageResult, SubmissionResult
from graders.report.student_view import MARKS, fmt, view


def render_feedback_markdown(result: SubmissionResult, *, student: str | None = None) -> str:
    """The feedback for one submission as a Markdown document."""
    who = student or result.submission
    out = [f"# tcplab feedback — {md_inline(who)}", ""]
    out.append(f"**Total: {fmt(result.score)} / {fmt(result.max_score)} points**")
    out.append("")
    if result.problem:
        out += [fence(result.problem), ""]
    out += ["| stage | status | points |", "|---|---|---|"]
    for stage in result.stages:
        out.append(f"| {md_cell(stage.stage)} {md_cell(stage.title)} | {MARKS.get(stage.status, '?')} "
                   f"{stage.status} | {fmt(stage.score)} / {fmt(stage.max_score)} |")
    out.append("")
    for stage in result.stages:
        out += stage_markdown(stage)
    return "\n".join(out).rstrip() + "\n"


def stage_markdown(stage: StageResult) -> list[str]:
    out = [f"## {stage.stage} — {course_text(stage.title)}: "
           f"{stage.status}, {fmt(stage.score)} / {fmt(stage.max_score)}", ""]
    if stage.problem:  # an import error quotes the student's code: a fenced block shows it as it is
        out += [fence(stage.problem), ""]
    for check in stage.checks:
        out += check_markdown(check)
    return out


def check_markdown(result: CheckResult) -> list[str]:
    check = view(result)
    head = f"- {check.mark} **{course_text(check.title)}** — {check.status}, " \
           f"{fmt(check.score)} / {fmt(check.max_score)}"
    if check.hidden:
        return [f"{head} _({check.note})_", ""]
    out = [head]
    if check.status != "passed":
        if check.message:
            out += ["", fence(check.message, indent="  ")]
        if check.transcript:
            out += ["", "  What crossed the wire:", "", fence("\n".join(check.transcript), indent="  ")]
        if check.printed:
            out += ["", "  What your code printed:", "", fence(check.printed, indent="  ")]
        if check.seed is not None:
            out += ["", f"  Short reads and writes were injected with seed {check.seed} "
                        f"(replay: `tcplab check --seed {check.seed}`)."]
        if check.hint:
            out += ["", f"  **Hint:** {course_text(check.hint)}"]
    out.append("")
    return out


def course_text(text: str) -> str:
    """Titles and hints are the course's own Markdown (`code` in backticks): one line, kept as written."""
    return " ".join(text.split())


def md_inline(text: str) -> str:
    """Text from outside (a student id, a path) safe on one Markdown line: no raw HTML, no markup."""
    text = " ".join(text.split())
    for ch in "\\`*[]<>|":
        text = text.replace(ch, "\\" + ch)
    return text


def md_cell(text: str) -> str:
    return md_inline(text)


def fence(text: str, *, indent: str = "") -> str:
    """A fenced block long enough that no run of backticks in `text` can close it."""
    longest = max((len(run) for run in text.split("\n") for run in _backtick_runs(run)), default=0)
    ticks = "`" * max(3, longest + 1)
    body = "\n".join(indent + line for line in text.splitlines())
    return f"{indent}{ticks}\n{body}\n{indent}{ticks}"


def _backtick_runs(line: str) -> list[str]:
    runs, current = [], ""
    for ch in line:
        if ch == "`":
            current += "`"
        elif current:
            runs.append(current)
            current = ""
    if current:
        runs.append(current)
    return runs


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: .2rem .6rem; }
pre { background: #f6f6f6; padding: .6rem; overflow-x: auto; white-space: pre-wrap; }
.passed { color: #1a7f37; } .failed, .timeout { color: #cf222e; } .error { color: #8250df; }
.skipped, .missing, .hidden { color: #777; }
"""


def render_feedback_html(result: SubmissionResult, *, student: str | None = None) -> str:
    """The same feedback as a self-contained HTML page."""
    e = html.escape
    who = student or result.submission
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>tcplab feedback — {e(who)}</title><style>{STYLE}</style></head><body>",
           f"<h1>tcplab feedback — {e(who)}</h1>",
           f"<p><strong>Total: {fmt(result.score)} / {fmt(result.max_score)} points</strong></p>"]
    if result.problem:
        out.append(f"<blockquote>{e(result.problem)}</blockquote>")
    out.append("<table><tr><th>stage</th><th>status</th><th>points</th></tr>")
    for stage in result.stages:
        out.append(f'<tr><td>{e(stage.stage)} {e(stage.title)}</td><td class="{e(stage.status)}">'
                   f"{MARKS.get(stage.status, '?')} {e(stage.status)}</td>"
                   f"<td>{fmt(stage.score)} / {fmt(stage.max_score)}</td></tr>")
    out.append("</table>")
    for stage in result.stages:
        out.append(f"<h2>{e(stage.stage)} — {e(stage.title)}: {e(stage.status)}, "
                   f"{fmt(stage.score)} / {fmt(stage.max_score)}</h2>")
        if stage.problem:
            out.append(f"<blockquote>{e(stage.problem)}</blockquote>")
        out.append("<ul>")
        for check in stage.checks:
            out.append(check_html(check))
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def check_html(result: CheckResult) -> str:
    e = html.escape
    check = view(result)
    head = (f'<span class="{e(check.status)}">{check.mark}</span> '
            f"<strong>{e(check.title)}</strong> — {e(check.status)}, "
            f"{fmt(check.score)} / {fmt(check.max_score)}")
    if check.hidden:
        return f'<li>{head} <em class="hidden">({check.note})</em></li>'
    parts = [head]
    if check.status != "passed":
        if check.message:
            parts.append(f"<pre>{e(check.message)}</pre>")
        if check.transcript:
            parts.append(f"<p>What crossed the wire:</p><pre>{e(chr(10).join(check.transcript))}</pre>")
        if check.printed:
            parts.append(f"<p>What your code printed:</p><pre>{e(check.printed)}</pre>")
        if check.seed is not None:
            parts.append(f"<p>Short reads and writes were injected with seed {check.seed} "
                         f"(replay: <code>tcplab check --seed {check.seed}</code>).</p>")
        if check.hint:
            parts.append(f"<p><strong>Hint:</strong> {e(check.hint)}</p>")
    return "<li>" + "\n".join(parts) + "</li>"
