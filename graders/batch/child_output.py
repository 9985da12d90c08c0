"""A grading child's output read back in the coordinator: the results model, or why it is not one.

Apart from graders/batch/child.py on purpose: the child imports pytest and the checks, and the
coordinator, which only reads what a child printed, has no need to pay for that at start-up.
"""

from __future__ import annotations

import json
from typing import Any

from graders.report.results import SubmissionResult, result_from_json


class ChildOutputError(ValueError):
    pass


def parse_output(text: str) -> tuple[SubmissionResult, dict[str, Any]]:
    """The child's JSON back into the results model; ChildOutputError when it is not that."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ChildOutputError(f"the grading child printed no result ({exc})") from exc
    if not isinstance(document, dict):
        raise ChildOutputError("the grading child printed something else than a result")
    if "error" in document:
        raise ChildOutputError(f"the grader failed: {document['error']}\n{document.get('traceback', '')}")
    try:
        return result_from_json(document["result"]), dict(document.get("sandbox") or {})
    except (KeyError, TypeError, ValueError) as exc:
        raise ChildOutputError(f"the grading child's result is malformed ({exc!r})") from exc
