"""The in-process subject (graders/engine/inprocess.py) reports what the worker reports.

Each test runs a small module's function the way a notebook's grade cell does and checks
one field of the CallResult against what graders/engine/worker.py would say. The last tests
run every stage's checks in-process on the reference solutions, the stubs and the
fixture corpus, and expect the verdicts `tcplab check` gives.
"""

from __future__ import annotations

import inspect
import multiprocessing
import re
import runpy
import socket
import textwrap
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import pytest

from graders.checking.lab import Lab
from graders.checking.peers import RecvAll
from graders.engine.codec import RemoteError
from graders.engine.inprocess import InProcessSubject
from graders.engine.subject import Subject
from graders.notebook import run_checks, stage_checks
from graders.stages import all_stages
from tests.corpus import EXERCISES, SOLUTIONS, corpus_files, intended_checks

MODULE = textwrap.dedent('''
    import socket, sys, threading, time

    kept = []

    def add(a, b):
        return a + b

    def as_bytearray(data):
        return bytearray(data)

    def fail():
        raise ValueError("bad value")

    def give_exception():
        return KeyError("k")

    def leave():
        sys.exit(3)

    def read(sock, n):
        return sock.recv(n)

    def read_once(sock):
        return sock.recv(1000)

    def close_it(sock):
        sock.close()

    def send_with_sendall(sock, data):
        sock.sendall(data)

    def wait_forever(sock):
        return sock.recv(1)

    def spin():
        while True:
            pass

    def keep_socket():
        kept.append(socket.socket())

    def drop_socket():
        socket.socket()

    def tidy_socket():
        with socket.socket():
            pass

    def make_socket():
        return socket.socket()

    def leak_in_a_thread():
        t = threading.Thread(target=lambda: kept.append(socket.socket()))
        t.start()
        t.join()

    def crash_a_thread():
        def boom():
            raise RuntimeError("a student thread died")
        t = threading.Thread(target=boom)
        t.start()
        t.join()

    def lines():
        yield "one"
        yield "two"
        raise ValueError("torn line")

    def hold(megabytes):
        data = bytearray(megabytes * 1024 * 1024)
        time.sleep(0.05)
        return len(data)
''')


@pytest.fixture
def subject() -> InProcessSubject:
    return InProcessSubject(_namespace(MODULE))


def _namespace(source: str) -> dict:
    namespace: dict = {"__name__": "student"}
    exec(compile(source, "<student cell>", "exec"), namespace)
    return namespace


def test_values_come_back_as_the_codec_would_make_them(subject):
    assert subject.call("add", 2, 3).value == 5
    value = subject.call("as_bytearray", b"abc").value
    assert value == b"abc" and type(value) is bytes
    returned = subject.call("give_exception").value
    assert isinstance(returned, RemoteError) and returned.is_a(KeyError)


def test_an_exception_is_a_remote_error_with_the_students_frames_only(subject):
    result = subject.call("fail")
    assert result.status == "raised"
    assert result.error.is_a(ValueError) and result.error.message == "bad value"
    assert "<student cell>" in result.error.traceback
    assert "inprocess.py" not in result.error.traceback


def test_sys_exit_is_reported_not_obeyed(subject):
    result = subject.call("leave")
    assert result.status == "raised" and result.error.type == "SystemExit"
    assert "sys.exit(3)" in result.error.message


def test_a_missing_function_is_missing(subject):
    result = subject.call("no_such_function")
    assert result.status == "missing"
    assert "no_such_function" in result.message


def test_a_socket_handed_over_is_a_dup_and_its_closing_is_reported(subject):
    a, b = socket.socketpair()
    with a, b:
        result = subject.call("close_it", a)
        assert result.closed_args == [0]
        assert a.fileno() != -1, "the grader's own copy must stay open"
        a.sendall(b"still connected")
        assert b.recv(100) == b"still connected"


def test_the_timeout_of_a_socket_handed_over_is_kept(subject):
    namespace = _namespace("def timeout_of(sock):\n    return sock.gettimeout()\n")
    with socket.socket() as sock:
        sock.settimeout(2.5)
        assert InProcessSubject(namespace).call("timeout_of", sock).value == 2.5


def test_a_blocked_call_times_out_at_its_deadline_and_its_thread_ends(subject):
    a, b = socket.socketpair()
    with a, b:
        started = time.monotonic()
        result = subject.call("wait_forever", a, deadline=0.3)
        assert result.status == "timeout"
        assert "did not return within 0.3 s" in result.message
        assert time.monotonic() - started < 2.0
        assert _ends("wait_forever"), "shutting the socket down should have ended the call's thread"


def test_a_spinning_call_is_stopped_after_its_deadline(subject):
    result = subject.call("spin", deadline=0.2)
    assert result.status == "timeout"
    assert _ends("spin"), "the spinning thread should have been told to stop"


def _ends(func: str, patience: float = 5.0) -> bool:
    """True once no thread runs `func` any more (polling, with a deadline)."""
    deadline = time.monotonic() + patience
    while any(t.name.startswith(f"student: {func}(") for t in threading.enumerate()):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_faults_shorten_the_students_reads_but_not_the_graders(subject):
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    with a, b, c, d:
        b.sendall(b"x" * 500)
        d.sendall(b"y" * 500)
        pending = subject.start("read_once", a, faults={"seed": 7, "max_recv": 7, "max_send": 7})
        grader_read = c.recv(1000)  # in the grader's thread while the faults are on
        result = pending.wait()
        assert 1 <= len(result.value) <= 7
        assert grader_read == b"y" * 500
    assert "install" not in repr(socket.socket.recv), "the faults must be gone after the call"


def test_no_sendall_switches_sendall_off(subject):
    a, b = socket.socketpair()
    with a, b:
        result = subject.call("send_with_sendall", a, b"data", no_sendall=True)
        assert result.status == "raised" and result.error.is_a(RuntimeError)
        assert "sendall() is switched off" in result.error.message


@pytest.mark.parametrize("func,leaks", [
    ("keep_socket", 1),         # still referenced and open after the call
    ("drop_socket", 1),         # dropped without close(): its ResourceWarning
    ("tidy_socket", 0),
    ("leak_in_a_thread", 1),    # made in a thread the student started
])
def test_sockets_left_open_are_leaks(subject, func, leaks):
    result = subject.call(func)
    assert result.status == "returned"
    assert len(result.leaked) == leaks, result.leaked
    for kept in subject.namespace["kept"]:
        kept.close()


def test_a_returned_socket_is_not_a_leak(subject):
    result = subject.call("make_socket")
    with result.value:
        assert result.leaked == []


def test_sockets_the_grader_makes_during_a_call_are_not_the_students(subject):
    a, b = socket.socketpair()
    with a, b:
        pending = subject.start("wait_forever", a)
        grader_socket = socket.socket()  # made in the grader's thread while the call runs
        b.sendall(b"!")
        result = pending.wait()
        grader_socket.close()
    assert result.value == b"!" and result.leaked == []


def test_consume_collects_items_then_the_error(subject):
    result = subject.call("lines", consume=True)
    assert result.status == "returned"
    assert result.value == ["one", "two"]
    assert result.error_after_items is not None and result.error_after_items.is_a(ValueError)


def test_memory_growth_is_the_students_not_the_graders(subject):
    big = subject.call("hold", 48, fresh=True)
    assert big.value == 48 * 1024 * 1024
    assert big.rss_growth_kb >= 40 * 1024

    # The student streams 48 MiB it was given; the grader's peer, in this process, collects
    # all of it during the call. Only the student's allocations count.
    lab = Lab(subject)
    try:
        peer, sock = lab.connection([RecvAll()])
        data = b"x" * (48 * 1024 * 1024)
        result = lab.call("send_with_sendall", sock, data, fresh=True)
        sock.shutdown(socket.SHUT_WR)
        assert peer.wait(10) and len(peer.received) == len(data)
    finally:
        lab.close()
    assert result.status == "returned"
    assert result.rss_growth_kb < 8 * 1024


def test_a_thread_that_dies_writes_nothing_to_stderr(subject, capfd):
    result = subject.call("crash_a_thread")
    assert result.status == "returned"
    assert capfd.readouterr().err == ""


def test_it_takes_every_option_the_worker_subject_takes():
    worker = set(inspect.signature(Subject.start).parameters)
    in_process = set(inspect.signature(InProcessSubject.start).parameters)
    assert worker == in_process, "an option added to Subject.start needs its in-process twin"


def test_made_up_host_names_resolve_for_the_student_only():
    namespace = _namespace("import socket\ndef resolve(name):\n    return socket.getaddrinfo(name, 80)[0][4][0]\n")
    subject = InProcessSubject(namespace)
    pending = subject.start("resolve", "dual.tcplab.test", hosts={"dual.tcplab.test": ["127.0.0.1"]})
    with pytest.raises(socket.gaierror):  # the grader's thread sees the real resolver meanwhile
        socket.getaddrinfo("dual.tcplab.test", 80)
    assert pending.wait().value == "127.0.0.1"


def test_a_second_call_before_the_first_is_collected_is_a_grader_bug(subject):
    a, b = socket.socketpair()
    with a, b:
        first = subject.start("wait_forever", a)
        with pytest.raises(RuntimeError):
            subject.start("add", 1, 2)
        b.sendall(b"!")
        assert first.wait().value == b"!"


# -- every stage's checks, in-process ------------------------------------------------------------------
STAGES = [s for s in all_stages() if stage_checks(s)]
# What the in-process subject has to mirror, as check code uses it: a bug caught by such a
# check tests the mirroring (the rest of the corpus is tcplab check's business: test_corpus).
MIRRORED = re.compile(r"expect_no_leaks|\.leaked|expect_args_open|closed_args|rss_growth_kb|"
                      r"faults=True|no_sendall=True|consume=True|hosts=")


def _tests_mirroring(stage, path) -> bool:
    checks = {c.spec.name: c for c in stage_checks(stage)}
    return any(name in checks and MIRRORED.search(inspect.getsource(checks[name].func))
               for name in intended_checks(path))


# Every correct alternative (a false failure in a notebook is the worst outcome), and every bug
# caught by a check that relies on what the in-process subject mirrors.
CORPUS = [(stage, path) for stage, path in corpus_files("ok") if stage in STAGES] + [
    (stage, path) for stage, path in corpus_files("bug") if stage in STAGES and _tests_mirroring(stage, path)]
# Why 4: a corpus module with a hang waits out its check's deadline doing nothing; four
# processes overlap those waits (in-process checks share global patches, so one process
# runs one module at a time).
WORKERS = 4


def verdicts(job: tuple[str, str]) -> dict[str, str]:
    """{check name: status} for one module run in-process (in a pool process: importable, picklable)."""
    stage_id, module_path = job
    namespace = runpy.run_path(module_path)
    results = run_checks(stage_id, namespace=namespace, hidden=True, depends=True)  # as tcplab check skips
    return {r.id.split(".", 1)[1]: r.status for r in results}


@pytest.fixture(scope="module")
def corpus_verdicts() -> dict[str, dict[str, str]]:
    """Corpus modules' verdicts by module path, computed a stage at a time (when its first module
    is asked for) in parallel processes: one stage's corpus fits in one test's timeout, the whole
    course's would not."""

    class ByStage(dict):
        def __missing__(self, path: str) -> dict[str, str]:
            stage_id = next(stage.id for stage, module in CORPUS if str(module) == path)
            jobs = [(stage.id, str(module)) for stage, module in CORPUS if stage.id == stage_id]
            with ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn")) as pool:
                for (_, module), verdict in zip(jobs, pool.map(verdicts, jobs), strict=True):
                    self[module] = verdict
            return self[path]

    return ByStage()


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.id)
def test_the_reference_solution_passes_every_check_in_process(stage):
    namespace = runpy.run_path(str(stage.module_path(SOLUTIONS)))
    found = {r.id: r.status for r in run_checks(stage, namespace=namespace, hidden=True)}
    assert found and all(v == "passed" for v in found.values()), found


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.id)
def test_the_stub_fails_every_check_in_process(stage):
    namespace = runpy.run_path(str(stage.module_path(EXERCISES)))
    for result in run_checks(stage, namespace=namespace, hidden=True):
        assert result.status == "failed", result
        assert result.message.startswith("not implemented yet"), result.message


@pytest.mark.slow
@pytest.mark.parametrize("stage,path", CORPUS, ids=lambda v: getattr(v, "stem", None) or v.id)
def test_the_corpus_is_judged_in_process_as_tcplab_check_judges_it(corpus_verdicts, stage, path):
    found = corpus_verdicts[str(path)]
    if path.name.startswith("ok_"):
        assert all(v == "passed" for v in found.values()), found
    else:
        wanted = intended_checks(path)
        if any(found.get(name) not in ("failed", "timeout") for name in wanted):
            # Once more, alone: a few checks race their peer against the student's code (a reset
            # that lands inside connect() instead of after it), which one thread's GIL makes likelier
            # here. A real mirroring gap misses the bug every time; a race does not.
            found = verdicts((stage.id, str(path)))
        for name in wanted:
            assert found.get(name) in ("failed", "timeout"), (name, found)
        assert not all(v == "passed" for v in found.values())


def test_threads_a_call_left_alive_are_reported(subject):
    namespace = _namespace(
        "import socket, threading\nkept = []\n"
        "def leave_a_reader():\n"
        "    a, b = socket.socketpair()\n"
        "    kept.append((a, b))\n"
        "    threading.Thread(target=lambda: a.recv(10), name='reader', daemon=True).start()\n")
    left = InProcessSubject(namespace).call("leave_a_reader").threads_left
    assert len(left) == 1 and left[0].startswith("reader (daemon), at <student cell>:6"), left
    for a, b in namespace["kept"]:
        b.close()
        a.close()


def test_a_call_can_run_without_socket_constants_a_platform_lacks():
    import socket as real_socket

    namespace = _namespace("import socket\ndef has(name):\n    return hasattr(socket, name)\n")
    subject = InProcessSubject(namespace)
    assert subject.call("has", "TCP_KEEPIDLE", hide=["TCP_KEEPIDLE"]).value is False
    assert hasattr(real_socket, "TCP_KEEPIDLE") and subject.call("has", "TCP_KEEPIDLE").value is True
