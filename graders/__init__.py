"""tcplab's grading engine: runs a student's TCP code in a sandboxed worker and checks it.

Check authors import from `graders.api`; everything else here is the engine's own.
"""

__version__ = "0.1.0"
