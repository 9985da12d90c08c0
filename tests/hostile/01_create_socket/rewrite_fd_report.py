"""Hostile: leaks a socket, then rewrites what the worker reports about it.

create_tcp_socket makes the socket before checking the family (a rejected family leaks
it: tests/submissions' bug_leak_on_bad_family.py), and at import the module patches the
worker (`import __main__`, graders.engine.worker: its fd counter, LeakWatch.stop, the message it
sends back) so that every call reports no leak.
Expect: the grader counts the worker's fds itself, from /proc/<worker pid>: the leak is
caught all the same.
Must fail: rejects_other_families
"""


# BASED ON: 01_create_socket/bug_leak_on_bad_family.py
# CHEAT
