"""Hostile: allocates whatever a peer announces, then rewrites the worker's memory report.

recv_frame makes bytearray(length) before comparing length with MAX_FRAME (a 4-byte
header costs 128 MiB), and at import the module patches the worker's RSS readers and the
message it sends back, so that every call reports no memory growth.
Expect: the grader reads the worker's peak memory itself, from /proc/<worker pid>/status:
the allocation is caught all the same.
Must fail: recv_frame_does_not_allocate_announced_length
"""

# BASED ON: 05_framing/bug_allocates_before_check.py
# CHEAT
