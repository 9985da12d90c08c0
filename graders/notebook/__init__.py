"""The notebook course: grade cells that run a stage's checks on the kernel's own functions.

Released notebooks already in students' hands run `from graders.notebook import grade`
(and demo, wait_for_bytes): these names stay here.
"""

from graders.notebook.cells import (
    BEGIN_HIDDEN,
    END_HIDDEN,
    NotebookCheck,
    demo,
    grade,
    run_checks,
    stage_checks,
    strip_hidden_tests,
    wait_for_bytes,
)

__all__ = ["BEGIN_HIDDEN", "END_HIDDEN", "NotebookCheck", "demo", "grade", "run_checks", "stage_checks",
           "strip_hidden_tests", "wait_for_bytes"]
