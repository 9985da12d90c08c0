"""Kept for the notebooks already in students' hands, whose set-up cells run
`from graders.peers import Close, Recv, ...`: the peers live in graders/checking/peers.py,
and new code reaches them through graders.api."""

from graders.checking.peers import *  # noqa: F403
from graders.checking.peers import connected_pair, unread_at_other_end, unread_bytes  # noqa: F401
