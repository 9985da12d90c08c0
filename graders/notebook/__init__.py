"""The notebook course: grade cells that run a stage's checks on the kernel's own functions.

    cells.py           grade cells: grade, run_every_check, run_checks, stage_checks, CheckFailed
    hints.py           the hint cell: hint, a stage's hints one at a time
    quiet.py           keeping a grade cell's stderr clean (nbgrader scores stderr as 0)
    demo.py            the lessons' demonstrations: demo, wait_for_bytes
    nbgrader_hooks.py  the hidden-test markers, and feedback without hidden tests

Released notebooks already in students' hands run `from graders.notebook import grade`
(and demo, wait_for_bytes, hint, run_every_check), and notebooks/nbgrader_config.py names
`graders.notebook.strip_hidden_tests`: these names stay here.
"""

from graders.notebook.cells import (
           CheckFailed,
           NotebookCheck,
           grade,
           run_checks,
           run_every_check,
           stage_checks,
)
from graders.notebook.demo import demo, wait_for_bytes
from graders.notebook.hints import hint
from graders.notebook.nbgrader_hooks import BEGIN_HIDDEN, END_HIDDEN, strip_hidden_tests

__all__ = ["BEGIN_HIDDEN", "END_HIDDEN", "CheckFailed", "NotebookCheck", "demo", "grade", "hint", "run_checks",
           "run_every_check", "stage_checks", "strip_hidden_tests", "wait_for_bytes"]
