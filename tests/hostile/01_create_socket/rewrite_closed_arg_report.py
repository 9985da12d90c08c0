"""Hostile: closes the socket it is given, then rewrites what the worker reports about it.

describe_socket closes the socket it describes (tests/submissions'
bug_closes_described_socket.py), and at import the module patches the worker so that
every call reports no closed argument and the timeouts it was given.
Expect: the grader sees from /proc/<worker pid> that no fd refers to the argument any
more: the closed argument is caught all the same.
Must fail: describe_socket_leaves_the_socket_open
"""


# BASED ON: 01_create_socket/bug_closes_described_socket.py
# CHEAT
