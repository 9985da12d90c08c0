"""nbgrader's settings for the tcplab notebook course. Run nbgrader from this folder:

    nbgrader generate_assignment 01_create_socket     # source/ -> release/ (notebooks/build.py does all)
    nbgrader autograde 01_create_socket               # submitted/<student>/... -> autograded/
    nbgrader generate_feedback 01_create_socket       # autograded/ -> feedback/ (hidden tests removed)
    nbgrader export                                   # grades.csv

See README.md beside this file.
"""

import os

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import GetGrades, NbGraderPreprocessor

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

c.CourseDirectory.course_id = "tcplab"
# The course is this folder, wherever it is copied to (and whichever folder nbgrader is run from).
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))

# A grade cell runs one check; a check bounds itself (its calls have deadlines, the check a
# 60 s backstop), so this limit is only a last resort against a kernel that stopped answering.
c.Execute.timeout = 180
# Why 60 s: after a cell's reply, nbgrader waits this long for the kernel's last output and
# its "idle" message and otherwise gives up on the whole notebook ("There was an error
# processing assignment"). nbclient's 4 s default was exceeded on a 2-core machine running
# two test suites under stress-ng; a grading machine busy with a class can be as slow.
c.Execute.iopub_timeout = 60


class HideHiddenTests(NbGraderPreprocessor):  # nbgrader's base: enabled by default, as GetGrades is
    """Feedback without hidden tests: nbgrader's own feedback shows them (jupyter/nbgrader#917).

    Cuts every `### BEGIN HIDDEN TESTS` region out of the graded notebook before it becomes
    feedback HTML, and leaves a failed hidden check's error as its one-line summary, never
    a traceback that quotes the cell (graders.notebook.strip_hidden_tests).
    """

    def preprocess(self, nb, resources):  # noqa: ANN001, ANN201 - nbconvert's interface
        from graders.notebook import strip_hidden_tests

        return strip_hidden_tests(nb), resources


c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
