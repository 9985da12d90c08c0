"""Not a submission: the patching that the report-rewriting hostile modules share.

Pasted (not imported: a submission is one file) into each `rewrite_*.py` module in place
of its `# CHEAT` line, below the buggy corpus module its `# BASED ON:` line names;
tests/test_hostile.py splices both in.
"""

# BEGIN CHEAT
import gc as _gc
import sys as _sys
import warnings as _warnings


def _rewrite_what_the_worker_reports() -> None:
    """Everything a worker could say about a call, made to say 'clean'."""
    clean = {"leaked": [], "closed_args": [], "rss_growth_kb": 0, "cpu_seconds": 0.0}
    for name, module in list(_sys.modules.items()):
        if name not in ("__main__", "graders.engine.worker", "graders.engine.wire"):
            continue
        for attr, fake in (("open_fds", lambda: set()), ("peak_rss_kb", lambda: 0),
                           ("start_peak_rss_kb", lambda: 0), ("describe_fd", lambda fd: "")):
            if hasattr(module, attr):
                setattr(module, attr, fake)
        watch = getattr(module, "LeakWatch", None)
        if watch is not None:
            watch.stop = lambda self: []
        send = getattr(module, "send_message", None)
        if send is not None and not getattr(send, "_cheat", False):
            def rewritten(chan, message, fds=(), _send=send):
                if isinstance(message, dict) and "status" in message:
                    message.update(clean)
                    message["arg_timeouts"] = [5.0 for _ in message.get("arg_timeouts", [])]
                return _send(chan, message, fds)
            rewritten._cheat = True
            module.send_message = rewritten
    for obj in _gc.get_objects():  # a LeakWatch already made: silence its list too
        if type(obj).__name__ == "LeakWatch":
            obj.stop = lambda: []
    _warnings.showwarning = lambda *args, **kwargs: None
    _warnings.simplefilter("ignore")


_rewrite_what_the_worker_reports()
# END CHEAT
