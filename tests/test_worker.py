"""The worker and its subject: calls, fd passing, deadlines, crashes, limits."""

from __future__ import annotations

import os
import socket
import textwrap
import time

import pytest

from graders.checking.stage_helpers.concurrency import POLL_RUN
from graders.engine import worker_view
from graders.engine.limits import ALLOWED_ENV, Limits
from graders.engine.subject import Subject, kernel_checked_timeouts

MODULE = textwrap.dedent('''
    import os, socket, sys, time

    def add(a, b):
        return a + b

    def read(sock, n):
        return sock.recv(n)

    def close_it(sock):
        sock.close()

    def hang():
        while True:
            time.sleep(1)

    def spin():
        while True:
            pass

    def die():
        os._exit(3)

    def leave():
        sys.exit(2)

    def many_files():
        return [socket.socket() for _ in range(1000)]

    def hog():
        return len(bytearray(3 * 1024 ** 3))

    def big_file(path):
        with open(path, "wb") as f:
            f.write(b"x" * (2 * 1024 * 1024))

    def keep(port):
        global kept
        kept = socket.create_connection(("127.0.0.1", port))

    def child():
        pid = os.fork()
        if pid == 0:
            time.sleep(600)
            os._exit(0)
        return pid
''')


@pytest.fixture
def subject(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(MODULE)
    s = Subject(path, "m", Limits(open_files=64, address_space=1024**3, file_size=1024 * 1024))
    yield s
    s.close()


def test_a_call_returns_its_value(subject):
    assert subject.call("add", 2, 3).value == 5


def test_a_socket_passed_in_is_the_same_connection(subject):
    a, b = socket.socketpair()
    with a, b:
        b.sendall(b"hello")
        result = subject.call("read", a, 5)
        assert result.value == b"hello"
        assert result.closed_args == []


def test_closing_a_socket_argument_is_reported(subject):
    a, b = socket.socketpair()
    with a, b:
        assert subject.call("close_it", a).closed_args == [0]


def test_a_hung_call_is_killed_at_its_deadline_and_the_next_call_gets_a_fresh_worker(subject):
    started = time.monotonic()
    result = subject.call("hang", deadline=0.5)
    assert result.status == "timeout"
    assert time.monotonic() - started < 5
    assert subject.call("add", 1, 1).value == 2


def test_os_exit_is_a_crash_and_the_worker_is_replaced(subject):
    result = subject.call("die")
    assert result.status == "crashed" and "exit status 3" in result.message
    assert subject.call("add", 1, 2).value == 3


def test_sys_exit_is_reported_not_obeyed(subject):
    result = subject.call("leave")
    assert result.status == "raised" and result.error.type == "SystemExit"
    assert subject.call("add", 1, 2).value == 3


def test_open_files_are_limited(subject):
    result = subject.call("many_files")
    assert result.status == "raised" and result.error.is_a(OSError)


def test_memory_is_limited(subject):
    result = subject.call("hog")
    assert result.status == "raised" and result.error.is_a(MemoryError)


def test_file_size_is_limited(subject, tmp_path):
    result = subject.call("big_file", str(tmp_path / "big"))
    assert result.status in ("raised", "crashed")


def test_a_socket_left_open_is_reported(subject):
    with socket.create_server(("127.0.0.1", 0)) as server:
        result = subject.call("keep", server.getsockname()[1])
        assert len(result.leaked) == 1 and "socket" in result.leaked[0]


def test_a_child_process_dies_with_its_worker(subject):
    pid = subject.call("child").value
    subject.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split()[2] == "Z":
                    break
        except FileNotFoundError:
            break
    else:
        pytest.fail(f"child {pid} outlived its worker")


def test_a_module_that_hangs_at_import_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr("graders.engine.worker_process.IMPORT_DEADLINE", 0.5)
    path = tmp_path / "slow.py"
    path.write_text("while True:\n    pass\n")
    s = Subject(path, "slow")
    try:
        report = s.import_report
        assert report["import"] == "error" and "import time" in report["message"]
    finally:
        s.close()


def test_a_syntax_error_is_reported_with_file_and_line(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("def f(:\n    pass\n")
    s = Subject(path, "bad")
    try:
        report = s.import_report
        assert report["import"] == "syntax" and report["line"] == 1 and report["file"].endswith("bad.py")
    finally:
        s.close()


def test_made_up_host_names_resolve_in_the_given_order(tmp_path):
    path = tmp_path / "r.py"
    path.write_text("import socket\ndef resolve(name):\n    return [ai[4][0] for ai in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)]\n")
    s = Subject(path, "r")
    try:
        result = s.call("resolve", "dual.tcplab.test", hosts={"dual.tcplab.test": ["::1", "127.0.0.1"]})
        assert result.value == ["::1", "127.0.0.1"]
        assert s.call("resolve", "127.0.0.1").value == ["127.0.0.1"]  # the table is gone after the call
    finally:
        s.close()


def test_memory_growth_is_measured_from_the_call_not_inherited(tmp_path):
    path = tmp_path / "mem.py"
    path.write_text("def small():\n    return 1\n\ndef big():\n    return len(bytearray(64 * 1024 * 1024))\n")
    s = Subject(path, "mem")
    try:
        assert s.call("small").rss_growth_kb < 4 * 1024
        assert s.call("big").rss_growth_kb > 60 * 1024
        assert s.call("small").rss_growth_kb < 4 * 1024  # the peak of the last call is forgotten
    finally:
        s.close()


def test_a_check_that_ends_before_collecting_its_call_leaves_a_usable_subject(subject):
    from graders.checking.lab import Lab

    lab = Lab(subject)
    lab.start("hang", deadline=30)
    lab.close()  # the check failed before it collected the call
    assert Lab(subject).call("add", 1, 2).value == 3


def test_the_timeout_a_call_leaves_on_a_socket_argument_is_reported(tmp_path):
    path = tmp_path / "t.py"
    path.write_text("def change(sock):\n    sock.settimeout(0.2)\n")
    s = Subject(path, "t")
    a, b = socket.socketpair()
    try:
        a.settimeout(3.0)
        assert s.call("change", a).arg_timeouts == [0.2]
    finally:
        a.close(), b.close(), s.close()


# -- what the grader sees from outside the worker (graders/engine/worker_view.py) ----------------------
needs_proc = pytest.mark.skipif(not worker_view.available(), reason="needs /proc (the grader reads the worker there)")

PATCHER = textwrap.dedent('''
    import socket, sys

    def _patch():
        for name in ("__main__", "graders.engine.worker"):
            module = sys.modules.get(name)
            if module is not None and hasattr(module, "open_fds"):
                module.open_fds = lambda: set()
                module.LeakWatch.stop = lambda self: []
                module.peak_rss_kb = lambda: 0

    _patch()
    kept = []

    def keep(port):
        kept.append(socket.create_connection(("127.0.0.1", port)))

    def close_it(sock):
        sock.close()

    def big():
        return len(bytearray(64 * 1024 * 1024))
''')


@needs_proc
def test_a_patched_worker_cannot_hide_a_leak_a_closed_argument_or_memory(tmp_path):
    path = tmp_path / "p.py"
    path.write_text(PATCHER)
    s = Subject(path, "p")
    a, b = socket.socketpair()
    try:
        with socket.create_server(("127.0.0.1", 0)) as server:
            leaked = s.call("keep", server.getsockname()[1]).leaked
            assert len(leaked) == 1 and f"peer ('127.0.0.1', {server.getsockname()[1]})" in leaked[0], leaked
        assert s.call("close_it", a).closed_args == [0]
        assert s.call("big", fresh=True).rss_growth_kb > 60 * 1024
    finally:
        a.close(), b.close(), s.close()


@needs_proc
def test_cpu_time_is_measured_for_every_thread(tmp_path):
    path = tmp_path / "c.py"
    path.write_text("import threading, time\n\ndef burn(seconds):\n    def spin():\n        end = time.process_time()"
                    " + seconds\n        while time.process_time() < end:\n            pass\n    t = threading.Thread("
                    "target=spin)\n    t.start()\n    t.join()\n\ndef idle():\n    time.sleep(0.3)\n")
    s = Subject(path, "c")
    try:
        assert s.call("burn", 0.3).cpu_seconds >= 0.25  # process time, so load cannot shorten it
        assert s.call("idle").cpu_seconds < 0.25
    finally:
        s.close()


def test_a_worker_made_unreadable_is_a_failure_never_a_clean_call(tmp_path):
    path = tmp_path / "u.py"
    path.write_text("import ctypes\n\ndef hide():\n    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0\n")
    s = Subject(path, "u")
    try:
        result = s.call("hide")
        if os.geteuid() == 0:  # root reads any /proc entry: nothing is hidden from it
            assert result.unseen == ""
        elif worker_view.available():
            assert "could not look into" in result.unseen
    finally:
        s.close()


def test_a_timeout_the_worker_reports_is_held_against_the_kernel():
    a, b = socket.socketpair()
    with a, b:
        assert kernel_checked_timeouts([5.0], [a]) == [None]  # blocking in the kernel: None
        a.settimeout(2.0)
        assert kernel_checked_timeouts([None], [a]) == [0.0]  # O_NONBLOCK: not None, whatever it says
        assert kernel_checked_timeouts([2.0], [a]) == [2.0]


def test_scratch_files_named_like_standard_modules_are_not_imported(tmp_path):
    (tmp_path / "m.py").write_text("import json, socket\n\ndef dumps():\n    return json.dumps([1])\n")
    for name in ("socket", "json", "struct", "select"):
        (tmp_path / f"{name}.py").write_text("raise SystemExit('scratch file imported')\n")
    s = Subject(tmp_path / "m.py", "m")
    try:
        assert s.call("dumps").value == "[1]"
    finally:
        s.close()


def test_a_module_that_imports_its_own_file_named_like_a_standard_module_is_told_so(tmp_path):
    (tmp_path / "struct.py").write_text("def frame(payload):\n    return payload\n")
    (tmp_path / "m.py").write_text("import struct\n\ndef frame(payload):\n    return struct.frame(payload)\n")
    s = Subject(tmp_path / "m.py", "m")
    try:
        result = s.call("frame", b"x")
        assert result.status == "raised" and "your folder holds struct.py" in result.error.traceback
    finally:
        s.close()


def test_student_code_sees_only_an_allow_listed_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_worker_test_secret")
    monkeypatch.setenv("LANG", "C.UTF-8")
    (tmp_path / "e.py").write_text("import os\n\ndef env():\n    return dict(os.environ)\n")
    s = Subject(tmp_path / "e.py", "e")
    try:
        env = s.call("env").value
        assert "GITHUB_TOKEN" not in env and env.get("LANG") == "C.UTF-8"
        assert set(env) <= set(ALLOWED_ENV) | {"PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED",
                                               "MALLOC_ARENA_MAX", "LC_CTYPE"}
    finally:
        s.close()


GIVE_BACK = textwrap.dedent('''
    import socket

    def closed_socket():
        s = socket.socket()
        s.close()
        return s

    def deep():
        value = []
        for _ in range(100000):
            value = [value]
        return value

    def add(a, b):
        return a + b
''')


@pytest.fixture
def giver(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(GIVE_BACK)
    s = Subject(path, "m")
    yield s
    s.close()


def test_a_closed_socket_returned_is_a_value_that_says_so_not_a_crash(giver):
    r = giver.call("closed_socket")
    assert r.status == "returned", r.message
    assert r.value.type == "closed socket" and "already closed" in r.value.repr
    assert giver.call("add", 1, 2).value == 3  # the same worker goes on


def test_a_value_too_deep_to_pass_back_is_a_value_that_says_so(giver):
    r = giver.call("deep")
    assert r.status == "returned", r.message
    assert "could not be passed back" in r.value.repr
    assert giver.call("add", 1, 2).value == 3


def corrupt_requests(subject: Subject) -> None:
    """A grader bug, planted: every request names a socket it does not carry."""
    worker = subject._live_worker()
    worker.ready()
    real_send = worker.send
    worker.send = lambda request, socks: real_send(dict(request, args={"$tuple": [{"$sock": 7}]}), socks)


def test_a_fault_of_the_worker_itself_is_a_grader_error_never_the_students_crash(giver):
    from graders.checking.lab import GraderFault, Lab

    corrupt_requests(giver)
    r = giver.call("add", 1, 2)
    assert r.status == "grader-error", (r.status, r.message)
    assert "grader's worker failed" in r.message and "os._exit" not in r.message
    assert giver.call("add", 1, 2).value == 3  # a fresh worker for the next call
    corrupt_requests(giver)
    lab = Lab(giver, check="t")
    with pytest.raises(GraderFault):
        lab.call("add", 1, 2)
    lab.close()


def test_what_a_call_printed_is_its_own_and_kept_apart_from_the_explanation(tmp_path):
    from graders.api import CodeError
    from graders.checking.lab import Lab, printed_text

    path = tmp_path / "m.py"
    path.write_text(textwrap.dedent('''
        import os

        def chatty():
            print("from the first call")
            return 1

        def loud():
            for i in range(100000):
                print("line", i)
            return 2

        def crash():
            print("from the crashing call")
            os._exit(3)
    '''))
    s = Subject(path, "m")
    try:
        lab = Lab(s, check="t")
        assert lab.call("chatty").output == "from the first call\n"  # a value returned keeps its prints
        loud = lab.call("loud")
        with pytest.raises(CodeError) as caught:
            lab.call("crash")
        lab.close()
    finally:
        s.close()
    assert "from the crashing call" not in caught.value.message  # the explanation is the grader's own text
    assert [p.func for p in lab.printed] == ["chatty", "loud", "crash"]
    assert lab.printed[2].text == "from the crashing call\n"
    # A print in a loop is cut to its last bytes, and the cut is counted.
    assert loud.output.endswith("line 99999\n") and loud.output_cut > 0
    assert len(loud.output) + loud.output_cut == sum(len(f"line {i}\n") for i in range(100000))
    assert "loud() printed (its first" in printed_text(lab.printed)


THREADS = textwrap.dedent('''
    import socket, threading, time

    def leave_a_reader():
        a, b = socket.socketpair()
        kept.append((a, b))
        threading.Thread(target=lambda: a.recv(10), name="reader", daemon=True).start()

    def join_them():
        t = threading.Thread(target=time.sleep, args=(0.01,))
        t.start()
        t.join()

    def wait_then_spin(idle, busy):
        time.sleep(idle)
        end = time.monotonic() + busy
        while time.monotonic() < end:
            pass

    def poll(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(0.001)

    kept = []
''')


def test_threads_a_call_left_alive_are_reported_with_where_they_are(tmp_path):
    path = tmp_path / "t.py"
    path.write_text(THREADS)
    s = Subject(path, "t")
    try:
        left = s.call("leave_a_reader").threads_left
        assert len(left) == 1 and left[0].startswith("reader (daemon), at t.py:7"), left
        assert s.call("join_them").threads_left == []  # the reader of the last call is not this call's
    finally:
        s.close()


def test_runnable_time_tells_a_sleeping_call_from_a_spinning_one(tmp_path):
    path = tmp_path / "t.py"
    path.write_text(THREADS)
    s = Subject(path, "t")
    try:
        pending = s.start("wait_then_spin", 0.3, 2.0)
        first = pending.runnable()
        if first is None:
            pytest.skip("this kernel keeps no schedstat")
        time.sleep(0.1)  # inside the call's 0.3 s sleep: the window measured is asleep
        asleep, _ = worker_view.runnable_between(first, pending.runnable())
        spun = 0.0
        while not pending.done() and spun < 0.5:
            time.sleep(0.01)  # spinning now: runnable time grows with the wall clock, whatever the load
            spun, _ = worker_view.runnable_between(first, pending.runnable() or {})
        assert asleep < 0.05
        assert spun >= 0.5
        pending.wait()
    finally:
        s.close()


def test_time_on_a_cpu_per_wake_up_tells_a_poll_from_a_spin(tmp_path):
    """What stage 08's idle check says when a server is runnable much of the time: a poller on a
    loaded machine runs microseconds per wake-up, a spinner until it is taken off the CPU."""
    path = tmp_path / "t.py"
    path.write_text(THREADS)
    s = Subject(path, "t")
    try:
        runs = {}
        for name, args in (("poll", (0.3,)), ("wait_then_spin", (0.0, 0.3))):
            pending = s.start(name, *args)
            first = pending.runnable()
            if first is None:
                pytest.skip("this kernel keeps no schedstat")
            last = first
            while not pending.done():
                last = pending.runnable() or last
                time.sleep(0.01)
            runs[name] = worker_view.mean_run_between(first, last)
            pending.wait()
        assert runs["poll"] < POLL_RUN < runs["wait_then_spin"], runs
    finally:
        s.close()


def test_a_call_can_run_without_socket_constants_a_platform_lacks(tmp_path):
    path = tmp_path / "k.py"
    path.write_text("import socket\n\ndef has(name):\n    return hasattr(socket, name)\n")
    s = Subject(path, "k")
    try:
        assert s.call("has", "TCP_KEEPIDLE", hide=["TCP_KEEPIDLE"]).value is False
        assert s.call("has", "TCP_KEEPIDLE").value is True  # back for the next call
        assert s.call("has", "socket", hide=["socket"]).value is True  # only constants can be hidden
    finally:
        s.close()
