"""nbgrader's side of the course: the hidden-test markers, and feedback with the hidden tests cut out.

A grade cell of a hidden check holds its call between BEGIN_HIDDEN and END_HIDDEN:
`nbgrader generate_assignment` removes the region from the released notebook, and
notebooks/nbgrader_config.py runs `strip_hidden_tests` (as graders.notebook.strip_hidden_tests)
on every graded notebook before it becomes feedback.
"""

from __future__ import annotations

from typing import Any

BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"


def strip_hidden_tests(nb: Any) -> Any:
    """A graded notebook fit for a student: hidden test regions and their tracebacks removed.

    nbgrader's feedback shows grade cells as they ran, hidden tests included (jupyter/nbgrader
    issue #917). Every region between the hidden-test markers is cut out of every cell,
    and a cell that had one keeps only the last line of any error it raised (the grade cell's
    own one-line summary), never the traceback quoting its source.
    """
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else source
        if BEGIN_HIDDEN not in text:
            continue
        cell["source"] = remove_hidden_regions(text)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
    return nb


def remove_hidden_regions(text: str) -> str:
    """`text` without its lines from a BEGIN_HIDDEN marker to the END_HIDDEN one, markers included."""
    kept, hiding = [], False
    for line in text.splitlines():
        marker = line.strip()
        if marker == BEGIN_HIDDEN:
            hiding = True
        elif marker == END_HIDDEN:
            hiding = False
        elif not hiding:
            kept.append(line)
    return "\n".join(kept)
