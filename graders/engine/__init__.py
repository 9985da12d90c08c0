"""Student code, run: in a worker process (subject, worker, wire, codec) or in-process (notebooks).

The engine knows nothing of checks or pytest: it calls a student's function with arguments,
under limits and injected faults, and returns what happened as data.
"""
