"""Writes the notebook course from the stages, so that it never drifts from the checks.

    .venv/bin/python notebooks/build.py            # source notebooks, then the release (nbgrader)
    .venv/bin/python notebooks/build.py --check    # exit 1 if a committed source notebook is stale
    .venv/bin/python notebooks/build.py --source-only

For every stage in graders/stages.toml it writes notebooks/source/<stage>/<stage>.ipynb:
the lesson (the stage README's sections, without its `tcplab` how-to, said the notebook's
way: the answer cell, not a file; the check cells, not a command), the notebook's own
additions and demonstrations (notebooks/lessons/<stage>.md), the task, one answer cell
(the stub, with each function body the reference solution between `### BEGIN SOLUTION`
markers), a cell that runs every check at once, one grade cell per check, found by
importing the check files by path (the points of each cell are the check's, hidden checks
sit between `### BEGIN HIDDEN TESTS` markers), and a hint cell. Then `nbgrader
generate_assignment` runs in a temporary copy of the course and its release/ is copied
here, so that no gradebook is left behind.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from graders.notebook import BEGIN_HIDDEN, END_HIDDEN, NotebookCheck, stage_checks  # noqa: E402
from graders.report.files import write_atomically  # noqa: E402
from graders.stages import EXERCISES, SOLUTIONS, Stage, all_stages  # noqa: E402

LESSONS = HERE / "lessons"
SKIPPED_SECTIONS = ("how to check",)  # the README's `tcplab` commands: the notebook has its own
TASK_SECTIONS = ("the task", "your task")
MISTAKES_SECTIONS = ("common mistakes",)
FENCE = re.compile(r"^(`{3,}|~{3,})")
LANGUAGE_LINE = "English · [简体中文](README.zh-CN.md)"  # the README's link to its translation: a file, not the notebook's
HIDDEN_CHECKS_NOTE = "**Hidden checks.**"  # the README's paragraph on them, under "How to check"

# The README is written for the script course: a file to edit, `tcplab` commands, a terminal.
# In a notebook the same sentences say what to do in the notebook (each pattern matched where
# the READMEs, or the stub's docstring, say it; TERMINAL_WORDS finds what is left over).
NOTEBOOK_WORDS = [
    (re.compile(r"You edit one file: `exercises/\d\d_\w+/\w+\.py`"),
     "You write your code in one cell: the answer cell of this notebook"),
    (re.compile(r"`exercises/\d\d_\w+/\w+\.py`"), "the answer cell of this notebook"),
    (re.compile(r"Read exercises/\d\d_\w+/README\.md first; `tcplab check \d+` checks your work\."),
     "Read the lesson above first; the check cells below check your work."),
    (re.compile(r"`tcplab check` runs this stage's public checks\."),
     "The check cells you can run are this stage's public checks."),
]
# Words that send a notebook's learner out of the notebook; tests/test_notebooks.py looks for them.
TERMINAL_WORDS = re.compile(r"tcplab (check|hint|watch|grade)\b|\bterminal\b|exercises/\d\d_|\bin this folder\b")


# -- the stage README, in sections -----------------------------------------------------------------
def readme_sections(stage: Stage) -> tuple[str, list[tuple[str, str]]]:
    """(the text before the first `## `, [(heading, text)]) of the stage README; headings in
    code blocks don't count."""
    path = EXERCISES / stage.id / "README.md"
    if not path.is_file():
        return "", []
    intro: list[str] = []
    sections: list[tuple[str, list[str]]] = []
    fenced = False
    for line in path.read_text("utf-8").splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            sections.append((line[3:].strip(), [line]))
        elif sections:
            sections[-1][1].append(line)
        elif not line.startswith("# ") and line != LANGUAGE_LINE:
            intro.append(line)
    return (for_the_notebook("\n".join(intro), stage),
            [(h, for_the_notebook("\n".join(body), stage)) for h, body in sections])


def for_the_notebook(text: str, stage: Stage) -> str:
    """The README's words for the script course, as a notebook says them: the answer cell, the check cells."""
    for pattern, words in NOTEBOOK_WORDS:
        text = pattern.sub(words, text)
    # "Fill in the five functions in `send_recv.py`", "Edit `error_handling.py` in this folder"
    text = re.sub(rf"`{re.escape(stage.filename)}`(?: in this folder)?", "the answer cell", text)
    return text.strip()


def terminal_words(text: str, stage: Stage) -> list[str]:
    """What in `text` still sends a notebook's learner to a file, a command or a terminal."""
    found = [m.group(0) for m in TERMINAL_WORDS.finditer(text)]
    return found + re.findall(rf"\b{re.escape(stage.filename)}\b", text)


def hidden_checks_note(sections: list[tuple[str, str]]) -> str:
    """The README's paragraph on the stage's hidden checks (what kinds of cases they add), or ""."""
    for heading, text in sections:
        if heading.lower().startswith(SKIPPED_SECTIONS):
            for paragraph in re.split(r"\n\s*\n", text):
                if paragraph.strip().startswith(HIDDEN_CHECKS_NOTE):
                    return paragraph.strip()
    return ""


def split_markdown(text: str) -> list[str]:
    """Long sections become one cell per `### ` subsection, so a learner can run what's between."""
    cells: list[list[str]] = [[]]
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
        if not fenced and line.startswith("### ") and any(s.strip() for s in cells[-1]):
            cells.append([])
        cells[-1].append(line)
    return ["\n".join(c).strip() for c in cells if "\n".join(c).strip()]


AFTER_ANSWER = "<!-- after the answer cell -->"


def lesson_cells(stage: Stage) -> tuple[list[nbformat.NotebookNode], list[nbformat.NotebookNode]]:
    """notebooks/lessons/<stage>.md as (cells before the task, cells after the answer cell).

    Markdown becomes markdown cells, each ```python block a runnable cell; what follows a
    line `<!-- after the answer cell -->` goes after the answer cell (demonstrations that
    call the learner's own functions)."""
    path = LESSONS / f"{stage.id}.md"
    if not path.is_file():
        return [], []
    before, _, after = path.read_text("utf-8").partition(AFTER_ANSWER)
    return _cells(before), _cells(after)


def _cells(text_in: str) -> list[nbformat.NotebookNode]:
    cells, text, code, in_code = [], [], [], False
    for line in text_in.splitlines():
        if not in_code and line.strip() == "```python":
            cells += [md(t) for t in split_markdown("\n".join(text))]
            text, code, in_code = [], [], True
        elif in_code and line.strip() == "```":
            cells.append(nbformat.v4.new_code_cell("\n".join(code).strip()))
            in_code = False
        elif in_code:
            code.append(line)
        else:
            text.append(line)
    cells += [md(t) for t in split_markdown("\n".join(text))]
    return cells


# -- the answer cell ---------------------------------------------------------------------------------
def answer_source(stage: Stage) -> str:
    """The stub module, each `raise NotImplementedError(...)` body replaced by the solution's body."""
    stub = stage.module_path(EXERCISES).read_text("utf-8")
    solution = stage.module_path(SOLUTIONS).read_text("utf-8")
    solved = {name: body for name, body in _function_bodies(solution)}
    stub_lines = stub.splitlines()
    edits: list[tuple[int, int, list[str]]] = []
    for node, qualname in _functions(ast.parse(stub)):
        body = node.body[1:] if ast.get_docstring(node) is not None else node.body
        if not (len(body) == 1 and _raises_not_implemented(body[0])):
            continue
        if qualname not in solved:
            raise SystemExit(f"{stage.id}: the solution has no {qualname}() to put in the answer cell")
        indent = " " * body[0].col_offset
        pointer = _pointer(body[0])
        lines = ([f"{indent}# To do: {pointer}"] if pointer else []) + [f"{indent}### BEGIN SOLUTION"]
        lines += solved[qualname] + [f"{indent}### END SOLUTION"]
        edits.append((body[0].lineno - 1, body[0].end_lineno or body[0].lineno, lines))
    for start, end, lines in sorted(edits, reverse=True):
        stub_lines[start:end] = lines
    return for_the_notebook("\n".join(stub_lines), stage)


def _functions(tree: ast.Module) -> list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, str]]:
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)  # stage 11's are `async def`
    found = []
    for node in tree.body:
        if isinstance(node, functions):
            found.append((node, node.name))
        elif isinstance(node, ast.ClassDef):
            found += [(n, f"{node.name}.{n.name}") for n in node.body if isinstance(n, functions)]
    return found


def _function_bodies(source: str) -> list[tuple[str, list[str]]]:
    """Each function's body as source lines, after its docstring, comments included."""
    lines = source.splitlines()
    out = []
    for node, qualname in _functions(ast.parse(source)):
        doc = node.body[0] if ast.get_docstring(node) is not None else None
        start = doc.end_lineno if doc is not None and doc.end_lineno else node.body[0].lineno - 1
        body = lines[start:node.end_lineno]
        while body and not body[0].strip():
            body.pop(0)
        out.append((qualname, body))
    return out


def _raises_not_implemented(stmt: ast.stmt) -> bool:
    if not isinstance(stmt, ast.Raise) or stmt.exc is None:
        return False
    exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def _pointer(stmt: ast.stmt) -> str:
    """The stub's one-line pointer: the message of its NotImplementedError."""
    exc = getattr(stmt, "exc", None)
    if isinstance(exc, ast.Call) and exc.args and isinstance(exc.args[0], ast.Constant):
        return str(exc.args[0].value)
    return ""


# -- cells ---------------------------------------------------------------------------------------------
def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text)


def nbgrader_cell(source: str, grade_id: str, *, grade: bool = False, solution: bool = False,
                  locked: bool = False, points: float | None = None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution}
    if points is not None:
        meta["points"] = int(points) if float(points).is_integer() else points
    cell.metadata["nbgrader"] = meta
    return cell


def grade_cell(check: NotebookCheck, hidden_index: int) -> nbformat.NotebookNode:
    points = check.spec.points
    plural = "" if points == 1 else "s"
    call = f'from graders.notebook import grade\ngrade("{check.stage.id}", "{check.spec.name}")'
    if check.hidden:
        source = (f"# A hidden check ({points:g} point{plural}): it runs when your notebook is graded.\n"
                  f"{BEGIN_HIDDEN}\n{call}\n{END_HIDDEN}")
        grade_id = f"hidden-check-{hidden_index}"
    else:
        source = f"# Check ({points:g} point{plural}): {check.spec.title}\n{call}"
        grade_id = f"check-{check.spec.name}"
    return nbgrader_cell(source, grade_id, grade=True, locked=True, points=points)


# The set-up cell imports from graders only graders.api, the course's public face (a test
# pins it): a notebook in a student's hands must not break when graders' insides move.
# Each check cell imports its own `grade`.
SETUP = '''\
# Run this cell first. It loads what the demonstrations use: the course's grading library
# (installed with tcplab) and the reference peers' script actions.
import socket

from graders.api import demo, wait_for_bytes
from graders.api import Close, Pause, Recv, RecvAll, RecvLine, Reset, Send, ShutWr, Stall, dribble'''


def how_it_works(stage: Stage, checks: list[NotebookCheck]) -> str:
    public = [c for c in checks if not c.hidden]
    hidden = [c for c in checks if c.hidden]
    total = sum(c.spec.points for c in checks)
    return f"""# Stage {stage.number:02d} — {stage.title}

**How this notebook works.** Read top to bottom and run each cell (Shift+Enter).

- *Demonstrations* talk to a reference peer over loopback and show what crossed the wire.
  Change them and run them again: that is what they are for.
- The *answer cell* holds this stage's functions, with their contracts. Replace each
  `raise NotImplementedError()` with your code, then run the cell.
- Under *Check your work*, one cell runs every check at once, and each *check cell* after it
  runs one check against the functions this notebook defines. A failure shows what was
  expected, what happened, the bytes that crossed the wire, and a hint. After changing your
  code, run the answer cell again, then the check.
- This stage has {len(public)} check{'' if len(public) == 1 else 's'} you can run and
  {len(hidden)} hidden one{'' if len(hidden) == 1 else 's'} that run{'s' if len(hidden) == 1 else ''} when your notebook is graded:
  {total:g} points in all.

Stuck? The *hint cell* at the end of the notebook gives the stage's hints, one at a time."""


# Cells that use graders.notebook, as the check cells do (the set-up cell keeps to graders.api).
RUN_EVERY_CHECK = """\
# Every check you can run, at once: how many pass, the first failure in full, the rest one
# line each. Worth no points itself (the check cells below are graded); it skips while grading.
from graders.notebook import run_every_check
run_every_check("{stage}")"""

HINT = """\
# One hint per run of this cell, gentlest first; hint("{stage}", every=True) shows them all.
from graders.notebook import hint
hint("{stage}")"""


def check_your_work(stage: Stage, sections: list[tuple[str, str]]) -> list[nbformat.NotebookNode]:
    """The heading of the checks, what the hidden ones add, and the cell that runs every check."""
    text = ("## Check your work\n\nRun the answer cell first, then the cells below. The first one runs "
            "every check you can run at once. Each check cell after it runs one check and is worth its "
            "points: a check that fails shows why, and its hint names the idea it needs. After changing "
            "your code, run the answer cell again, then the check cell again.")
    cells = [md(text)]
    note = hidden_checks_note(sections)
    if note:
        cells.append(md(note))
    cells.append(nbgrader_cell(RUN_EVERY_CHECK.format(stage=stage.id), "run-every-check", locked=True))
    return cells


def hint_cells(stage: Stage) -> list[nbformat.NotebookNode]:
    text = ("## Stuck? One hint at a time\n\nRun the cell below for the stage's first hint, the gentlest; "
            "run it again for the next one. (Each check that fails also ends with a hint of its own.)")
    return [md(text), nbgrader_cell(HINT.format(stage=stage.id), "hints", locked=True)]


def build_notebook(stage: Stage) -> nbformat.NotebookNode:
    checks = stage_checks(stage)
    intro, sections = readme_sections(stage)
    cells = [md(how_it_works(stage, checks)), nbgrader_cell(SETUP, "setup", locked=True)]
    if intro:
        cells.append(md(intro))
    for heading, text in sections:
        name = heading.lower()
        if name.startswith(SKIPPED_SECTIONS + TASK_SECTIONS + MISTAKES_SECTIONS):
            continue
        cells += [md(t) for t in split_markdown(text)]
    lesson, lesson_after = lesson_cells(stage)
    cells += lesson
    task = [text for heading, text in sections if heading.lower().startswith(TASK_SECTIONS)]
    cells += [md(t) for t in split_markdown(task[0])] if task else [md("## The task")]
    cells.append(md("Write the functions below: each body is yours. Run the cell when you are done."))
    cells.append(nbgrader_cell(answer_source(stage), f"answer-{stage.module}", solution=True))
    cells += lesson_after
    if checks:
        cells += check_your_work(stage, sections)
    else:
        cells += [md("## Check your work"), md("*This stage's checks are not written yet.*")]
    hidden_index = 0
    for check in checks:
        hidden_index += check.hidden
        cells.append(grade_cell(check, hidden_index))
    for heading, text in sections:
        if heading.lower().startswith(MISTAKES_SECTIONS):
            cells += [md(t) for t in split_markdown(text)]
    cells += hint_cells(stage)
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for index, cell in enumerate(nb.cells):  # stable ids: a rebuild must not change the files
        cell["id"] = f"{stage.id[:2]}-{index:03d}"
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def source_path(root: Path, stage: Stage) -> Path:
    return root / "source" / stage.id / f"{stage.id}.ipynb"


# -- writing ---------------------------------------------------------------------------------------------
def write_sources(root: Path) -> list[Path]:
    written = []
    for stage in all_stages():
        path = source_path(root, stage)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, render(build_notebook(stage)))
        written.append(path)
    return written


def stale_sources(root: Path) -> list[str]:
    stale = []
    for stage in all_stages():
        path = source_path(root, stage)
        if not path.is_file() or path.read_text("utf-8") != render(build_notebook(stage)):
            stale.append(str(path.relative_to(root)))
    return stale


def nbgrader_env() -> dict[str, str]:
    """The environment for running nbgrader: it calls `alembic` by name, so the venv's bin/ must be on PATH."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def release(root: Path) -> None:
    """Runs `nbgrader generate_assignment` for every stage in a temporary copy; copies release/ back."""
    with tempfile.TemporaryDirectory(prefix="tcplab-release-") as tmp:
        course = Path(tmp) / "course"
        course.mkdir()
        shutil.copy(root / "nbgrader_config.py", course)
        shutil.copytree(root / "source", course / "source")
        # "*" releases every assignment in source/ in one run (nbgrader globs the name).
        done = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "*", "--force"],
                              cwd=course, capture_output=True, text=True, env=nbgrader_env())
        if done.returncode != 0:
            raise SystemExit(f"nbgrader generate_assignment failed:\n{done.stdout}{done.stderr}")
        staging = root / "release.new"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(course / "release", staging)
    old = root / "release.old"
    shutil.rmtree(old, ignore_errors=True)
    if (root / "release").exists():
        (root / "release").rename(old)
    staging.rename(root / "release")
    shutil.rmtree(old, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether the source notebooks are stale")
    parser.add_argument("--source-only", action="store_true", help="write the source notebooks, skip the release")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_sources(HERE)
        for path in stale:
            print(f"stale: {path} (run: python notebooks/build.py)")
        return 1 if stale else 0
    for path in write_sources(HERE):
        print(f"wrote {path.relative_to(HERE)}")
    if not args.source_only:
        release(HERE)
        print("released every stage into release/ (nbgrader generate_assignment)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
