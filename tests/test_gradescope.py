"""`tcplab gradescope`: the bundle, and its run_autograder run against a root laid out like /autograder.

Each run unpacks the bundle into ROOT/source, puts a student's files into ROOT/submission,
and runs ROOT/source/run_autograder with TCPLAB_AUTOGRADER_ROOT=ROOT, as Gradescope would
run /autograder/run_autograder. A planted hidden check (the canary) proves that the bundle's
own engine grades, that hidden checks are "after_published", and that their words stay hidden.
"""

from __future__ import annotations

import ast
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from graders.packaging.gradescope import gather_submission
from graders.stages import COURSE_ROOT, EXERCISES, SOLUTIONS, all_stages
from tests.corpus import tcplab
from tests.test_release import solution_lines

pytestmark = pytest.mark.slow

VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
SECRET = "CANARY-SECRET-7f3a"
CANARY = f'''"""Planted by tests/test_gradescope.py: a hidden check whose words must never reach a student."""
from graders.api import Failure, check


@check(points=1, hint="{SECRET} hint")
def test_canary_planted_hidden(lab):
    """canary: a planted hidden check"""
    try:
        sock = lab.returned(lab.call("create_tcp_socket"))
    except Exception:
        raise Failure("{SECRET} the hidden check's own words", hint="{SECRET} hint") from None
    sock.close()
'''
FIRST = all_stages()[0]


# -- the bundle -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    done = tcplab("gradescope", str(out))
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_the_bundle_has_setup_and_run_autograder_at_its_root_and_the_course_without_solutions(bundle):
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}
        texts = {n: zf.read(n).decode("utf-8", "replace") for n in names}
    for script in ("setup.sh", "run_autograder"):
        assert script in names and modes[script] & 0o111, f"{script} missing or not executable"
    assert {"README.md", "pyproject.toml", "requirements-grading.txt", "graders/cli/main.py"} <= names
    for stage in all_stages():
        assert f"exercises/{stage.id}/{stage.filename}" in names
        for check in stage.check_files(hidden=True):
            assert check.relative_to(COURSE_ROOT).as_posix() in names, check
    for name in names:
        assert not name.startswith(("solutions/", "tests/", "notebooks/", "benchmarks/", ".")), name
        assert "__pycache__" not in name
    needles = set(line for lines in solution_lines().values() for line in lines)
    leaks = [f"{n}: {line!r}" for n, text in texts.items()
             for line in {x.strip() for x in text.splitlines()} & needles]
    assert not leaks, "solution code in the bundle:\n" + "\n".join(leaks)


def test_setup_installs_grading_requirements_with_pip_not_the_notebook_tooling(bundle):
    with zipfile.ZipFile(bundle) as zf:
        setup = zf.read("setup.sh").decode()
        requirements = zf.read("requirements-grading.txt").decode()
    assert subprocess.run(["bash", "-n", "-c", setup]).returncode == 0
    assert 'pip install -q -r "$SOURCE/requirements-grading.txt"' in setup
    assert 'pip install -q --no-deps -e "$SOURCE"' in setup
    wanted = [line.split(">")[0].split(";")[0].strip() for line in requirements.splitlines()
              if line and not line.startswith("#")]
    assert "pytest" in wanted and "pytest-timeout" in wanted and "rich" in wanted
    assert not {"jupyter", "nbgrader", "nbclient"} & set(wanted)


def test_the_same_course_gives_the_same_bundle_and_a_folder_is_refused(bundle, tmp_path):
    again = tmp_path / "again.zip"
    assert tcplab("gradescope", str(again)).returncode == 0
    assert again.read_bytes() == bundle.read_bytes()
    done = tcplab("gradescope", str(tmp_path))
    assert done.returncode == 2 and "is a folder" in done.stderr and "Traceback" not in done.stderr
    done = tcplab("gradescope", str(tmp_path / "quick.zip"), "--budget", "5")
    assert done.returncode == 2 and "at least 10 seconds" in done.stderr and not (tmp_path / "quick.zip").exists()


# -- running it -----------------------------------------------------------------------------------
def autograder_root(tmp: Path, bundle: Path, *, canary: bool = True) -> Path:
    """A folder laid out like /autograder: source/ (the bundle, unpacked), submission/, results/."""
    root = tmp / "autograder"
    source = root / "source"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(source)
        for info in zf.infolist():  # extractall drops permissions; unzip (and Gradescope) keep them
            os.chmod(source / info.filename, (info.external_attr >> 16) & 0o777)
    if canary:
        folder = source / "graders" / "hidden" / FIRST.id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "test_canary_planted.py").write_text(CANARY)
    (root / "submission").mkdir()
    (root / "tmp").mkdir()
    return root


def course_python(root: Path) -> str:
    """A Python set up as setup.sh leaves Gradescope's: the bundle's course importable, and its
    dependencies (here: the development environment's, by a .pth file, without its tcplab)."""
    venv = root / "python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    [site] = list(venv.glob("lib/python3*/site-packages"))
    ours = [p for p in sys.path if p.endswith("site-packages")]
    (site / "course.pth").write_text("\n".join([str(root / "source"), *ours]) + "\n")
    return str(venv / "bin" / "python")


def start(root: Path, python: str | None = None, **env: str) -> subprocess.Popen:
    python = python or course_python(root)
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environment.update(TCPLAB_AUTOGRADER_ROOT=str(root), TCPLAB_PYTHON=python, TMPDIR=str(root / "tmp"), **env)
    return subprocess.Popen([str(root / "source" / "run_autograder")], cwd=root, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, root: Path) -> dict:
    log, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, log
    results = root / "results" / "results.json"
    assert results.is_file(), f"no results.json; the log:\n{log}"
    data = json.loads(results.read_text("utf-8"))
    assert_gradescope_format(data)
    assert not leftover_processes(root), f"processes left behind: {leftover_processes(root)}"
    return data


def leftover_processes(root: Path) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if str(root) in cmdline:
                found.append(cmdline)
    return found


def assert_gradescope_format(data: dict) -> None:
    """results.json as Gradescope's specification describes it, and scores that add up."""
    assert isinstance(data["score"], (int, float)) and data["score"] >= 0
    assert isinstance(data["execution_time"], (int, float)) and data["execution_time"] >= 0
    assert isinstance(data["output"], str) and data["output"].strip()
    assert data["stdout_visibility"] in VISIBILITIES
    assert isinstance(data["tests"], list)
    for test in data["tests"]:
        assert isinstance(test["name"], str) and test["name"].strip()
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert 0 <= test["score"] <= test["max_score"], test
        assert test["status"] in ("passed", "failed"), test
        # Every check is all or nothing: passed gives its points, failed gives none.
        assert test["score"] == (test["max_score"] if test["status"] == "passed" else 0), test
        assert isinstance(test["output"], str), test
        assert test["visibility"] in VISIBILITIES, test
    assert abs(sum(t["score"] for t in data["tests"]) - data["score"]) < 1e-9


def check_ids(folder: Path, stage_ids: set[str]) -> set[str]:
    ids = set()
    for path in folder.rglob("test_*.py"):
        if path.parent.name in stage_ids:
            for node in ast.parse(path.read_text("utf-8")).body:
                if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                    ids.add(f"{path.parent.name}.{node.name.removeprefix('test_')}")
    return ids


def assert_every_check_with_the_right_visibility(data: dict, root: Path) -> None:
    stage_ids = {s.id for s in all_stages()}
    public = check_ids(root / "source" / "exercises", stage_ids)
    hidden = check_ids(root / "source" / "graders" / "hidden", stage_ids)
    assert f"{FIRST.id}.canary_planted_hidden" in hidden
    by_id = {t["extra_data"]["id"]: t for t in data["tests"]}
    assert set(by_id) == public | hidden, "every check, hidden ones included, is a test"
    for check_id, test in by_id.items():
        if check_id in hidden:
            assert test["visibility"] == "after_published", test
            assert SECRET not in test["output"] + test["name"], "a hidden check's words reached the student"
        else:
            assert test["visibility"] == "visible", test
    assert SECRET not in data["output"]


# The cases of issue 10 need only the first two stages: they are graded alone (quicker).
FIRST_TWO = all_stages()[:2]


@pytest.fixture(scope="module")
def graded(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict, Path]]:
    """Nine submissions graded side by side: the solutions, nothing, a syntax error, a zip, one
    that tries to write its own results.json, and (stages 01 and 02 only) links to the
    solutions, loose files beside a corrupt zip, and names that are not UTF-8; (stage 06 only)
    the stub, whose failing checks show the scratch folders they passed it."""
    roots = {}
    for case in ("solutions", "empty", "broken", "zipped", "hostile", "linked", "corrupt_zip", "non_utf8", "stub"):
        roots[case] = autograder_root(tmp_path_factory.mktemp(case), bundle)
    # (a) the solutions, in stage folders at the top level
    for stage in all_stages():
        (roots["solutions"] / "submission" / stage.id).mkdir()
        shutil.copy(SOLUTIONS / stage.id / stage.filename, roots["solutions"] / "submission" / stage.id)
    # (c) loose files, the first one with a syntax error
    for stage in all_stages():
        shutil.copy(SOLUTIONS / stage.id / stage.filename, roots["broken"] / "submission")
    (roots["broken"] / "submission" / FIRST.filename).write_text("def create_tcp_socket(:\n    pass\n")
    # (d) a zip of a folder holding exercises/
    with zipfile.ZipFile(roots["zipped"] / "submission" / "work.zip", "w") as zf:
        for stage in all_stages():
            zf.write(SOLUTIONS / stage.id / stage.filename, f"tcplab/exercises/{stage.id}/{stage.filename}")
    # (e) the solutions, but the first module writes "999 points" into results.json at import
    # and from a daemon that outlives its worker
    for stage in all_stages():
        shutil.copy(SOLUTIONS / stage.id / stage.filename, roots["hostile"] / "submission")
    fake = roots["hostile"] / "results" / "results.json"
    (roots["hostile"] / "submission" / FIRST.filename).write_text(FAKE_RESULTS.format(path=str(fake)))
    # (f) nothing but links to the solutions: exercises/ (absolute), a stage folder (relative),
    # a module (absolute), a sub-folder (relative)
    linked = roots["linked"] / "submission"
    for name, target in (("exercises", SOLUTIONS), (FIRST.id, SOLUTIONS / FIRST.id),
                         (FIRST_TWO[1].filename, SOLUTIONS / FIRST_TWO[1].id / FIRST_TWO[1].filename),
                         ("work", SOLUTIONS)):
        relative = name in (FIRST.id, "work")
        (linked / name).symlink_to(os.path.relpath(target, linked) if relative else target)
    # (g) the solutions as loose files, beside an old attempt whose zip is damaged
    for stage in FIRST_TWO:
        shutil.copy(SOLUTIONS / stage.id / stage.filename, roots["corrupt_zip"] / "submission")
    (roots["corrupt_zip"] / "submission" / "old-attempt.zip").write_bytes(damaged_zip())
    # (h) the first module (a solution) under a folder whose name is not UTF-8, the second (a
    # syntax error) under another, and a stray file whose name is not UTF-8 either
    sub = os.fsencode(roots["non_utf8"] / "submission")
    os.makedirs(sub + b"/\xffattempt/" + FIRST.id.encode())
    shutil.copy(SOLUTIONS / FIRST.id / FIRST.filename, os.fsdecode(sub + b"/\xffattempt/" + FIRST.id.encode()))
    os.makedirs(sub + b"/r\xe9sum\xe9")
    Path(os.fsdecode(sub + b"/r\xe9sum\xe9/" + FIRST_TWO[1].filename.encode())).write_text("def bind_and_listen(:\n")
    Path(os.fsdecode(sub + b"/notes-\xfe.txt")).write_text("scratch\n")

    # (i) stage 06's stub
    transfer = next(s for s in all_stages() if s.module == "file_transfer")
    (roots["stub"] / "submission" / transfer.id).mkdir()
    shutil.copy(EXERCISES / transfer.id / transfer.filename, roots["stub"] / "submission" / transfer.id)

    two = ",".join(s.id for s in FIRST_TWO)
    only = {**dict.fromkeys(("linked", "corrupt_zip", "non_utf8"), two), "stub": transfer.id}
    procs = {case: start(root, **({"TCPLAB_AUTOGRADER_STAGES": only[case]} if case in only else {}))
             for case, root in roots.items()}
    return {case: (finish(proc, roots[case]), roots[case]) for case, proc in procs.items()}


def damaged_zip() -> bytes:
    """A zip whose directory is sound but whose deflated data is not: zlib.error on reading."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(FIRST.filename, "x = 1\n" * 2000)
    data = bytearray(buffer.getvalue())
    start = 30 + len(FIRST.filename)  # the local header, then the deflated data
    data[start:start + 40] = b"\xff" * 40
    return bytes(data)


FAKE_RESULTS = """
import json, os, time
def _fake():
    try:
        os.makedirs(os.path.dirname({path!r}), exist_ok=True)
        with open({path!r}, "w") as out:
            out.write(json.dumps({{"score": 999.0, "tests": [], "output": "FAKE"}}))
    except OSError:
        pass
_fake()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for _ in range(50):
            _fake()
            time.sleep(0.1)
    os._exit(0)
def create_tcp_socket(family=None):
    raise NotImplementedError
"""


def test_a_submission_cannot_write_its_own_results(graded):
    data, root = graded["hostile"]
    assert data["score"] < 999 and "FAKE" not in data["output"]
    first = [t for t in data["tests"] if t["extra_data"]["id"].startswith(FIRST.id + ".")]
    assert first and all(t["score"] == 0 for t in first)
    for _ in range(10):  # a daemon still alive would write again within 0.1 s
        assert json.loads((root / "results" / "results.json").read_text())["score"] == data["score"]
        time.sleep(0.2)


def test_the_solutions_get_full_marks_on_every_check(graded):
    data, root = graded["solutions"]
    assert_every_check_with_the_right_visibility(data, root)
    assert data["tests"] and all(t["status"] == "passed" for t in data["tests"]), \
        [t["name"] for t in data["tests"] if t["status"] != "passed"]
    assert data["score"] == sum(t["max_score"] for t in data["tests"])
    for stage in all_stages():
        assert f"{stage.id}: {stage.id}/{stage.filename}" in data["output"]


def test_an_empty_submission_scores_zero_and_says_what_to_upload(graded):
    data, root = graded["empty"]
    assert_every_check_with_the_right_visibility(data, root)
    assert data["score"] == 0 and all(t["status"] == "failed" for t in data["tests"])
    assert "No stage module was found" in data["output"]
    for stage in all_stages():
        assert f"no {stage.filename} found" in data["output"]


def test_a_syntax_error_costs_its_stage_only_and_names_the_file_and_line(graded):
    data, root = graded["broken"]
    solutions, _ = graded["solutions"]
    assert_every_check_with_the_right_visibility(data, root)
    first = [t for t in data["tests"] if t["extra_data"]["id"].startswith(FIRST.id + ".")]
    assert first and all(t["score"] == 0 for t in first)
    assert f"syntax error in {FIRST.filename}, line 1" in data["output"]
    shown = [t for t in first if t["visibility"] == "visible" and t["extra_data"]["status"] != "skipped"]
    assert shown and all(f"{FIRST.filename}, line 1" in t["output"] for t in shown)
    assert all("tcplab-gradescope-" not in t["output"] for t in data["tests"]), "a temporary path leaked"
    others = sum(t["max_score"] for t in solutions["tests"] if not t["extra_data"]["id"].startswith(FIRST.id + "."))
    assert data["score"] == others


def test_a_zip_of_the_course_folder_is_graded_like_the_folder(graded):
    data, root = graded["zipped"]
    assert_every_check_with_the_right_visibility(data, root)
    assert all(t["status"] == "passed" for t in data["tests"])
    assert f"work.zip: tcplab/exercises/{FIRST.id}/{FIRST.filename}" in data["output"]


def checks_of(data: dict, stage_id: str) -> list[dict]:
    return [t for t in data["tests"] if t["extra_data"]["id"].startswith(stage_id + ".")]


def test_links_to_the_solutions_grade_as_nothing_and_are_named_in_the_output(graded):
    """Protection: gathering looks at every entry with lstat and never enters or reads a link
    (gradescope.walk_submission), whatever the link is named and wherever it points."""
    data, root = graded["linked"]
    linked = root / "submission"
    # Followed, these links would give the reference solutions: the test can only pass by not following them.
    assert (linked / "exercises" / FIRST.id / FIRST.filename).is_file()
    assert (linked / "work" / FIRST_TWO[1].id / FIRST_TWO[1].filename).is_file()
    assert (linked / FIRST_TWO[1].filename).is_file() and (linked / FIRST.id / FIRST.filename).is_file()
    assert {t["tags"][0] for t in data["tests"]} == {s.id for s in FIRST_TWO}, "only the stages asked for"
    assert data["score"] == 0 and all(t["status"] == "failed" for t in data["tests"])
    output = data["output"]
    assert "ignored 4 symbolic links" in output and "links are never followed" in output
    for name in (FIRST.id, FIRST_TWO[1].filename, "exercises", "work"):
        assert name in output.split("symbolic links (", 1)[1].split(")", 1)[0], name
    for stage in FIRST_TWO:
        assert f"{stage.id}: no {stage.filename} found" in output
    assert "not a judgement of your code" not in output, "links are the student's, not an autograder error"


def test_loose_files_beside_a_damaged_zip_get_full_marks_and_the_zip_is_ignored_with_a_note(graded):
    """Protection: each extra archive is unpacked under its own catch-all (gather_submission):
    SubmissionError, zlib.error or anything else costs that archive only, never the run."""
    data, root = graded["corrupt_zip"]
    with pytest.raises((zlib.error, zipfile.BadZipFile)), zipfile.ZipFile(root / "submission" / "old-attempt.zip") as zf:
        zf.read(FIRST.filename)  # really damaged: reading its member fails
    assert data["tests"] and all(t["status"] == "passed" for t in data["tests"]), \
        [t["name"] for t in data["tests"] if t["status"] != "passed"]
    assert data["score"] == sum(t["max_score"] for t in data["tests"]) > 0
    note = next(line for line in data["output"].splitlines() if "old-attempt.zip" in line)
    assert "old-attempt.zip cannot be unpacked: " in note and note.endswith("— ignored"), note
    for stage in FIRST_TWO:
        assert f"{stage.id}: {stage.filename}" in data["output"]


def test_names_that_are_not_utf8_give_a_valid_results_json_that_shows_them_escaped(graded):
    """Protection: every string of results.json goes through results.safe_text (the bytes
    that are not UTF-8 become \\xNN) before it is written; finish() read the file as strict UTF-8."""
    data, root = graded["non_utf8"]
    raw = (root / "results" / "results.json").read_bytes()
    assert json.loads(raw.decode("utf-8")) == data  # strict: one lone surrogate would fail here
    assert data["tests"] and all(t["status"] == "passed" for t in checks_of(data, FIRST.id))
    assert all(t["score"] == 0 for t in checks_of(data, FIRST_TWO[1].id))
    assert f"{FIRST.id}: \\xffattempt/{FIRST.id}/{FIRST.filename}" in data["output"]
    assert f"{FIRST_TWO[1].id}: r\\xe9sum\\xe9/{FIRST_TWO[1].filename}" in data["output"]
    shown = [t for t in checks_of(data, FIRST_TWO[1].id) if t["visibility"] == "visible"
             and t["extra_data"]["status"] != "skipped"]
    assert shown and all(f"r\\xe9sum\\xe9/{FIRST_TWO[1].filename}, line 1" in t["output"] for t in shown)


def test_outputs_name_files_relative_to_the_submission_never_the_graders_temporary_paths(graded):
    """Protection: gradescope_json.tidier rewrites the private copies' paths (this run's, and those
    of graders.batch.coordinator's job folders, the checks' scratch folders among them) in every output."""
    for case, (data, root) in graded.items():
        texts = [data["output"]] + [t["output"] for t in data["tests"]]
        for text in texts:
            for private in (str(root), "tcplab-batch-", "tcplab-gradescope-", "/job-"):
                assert private not in text, f"{case}: {private} in {text!r}"
    stub, _ = graded["stub"]
    stage = next(s for s in all_stages() if s.module == "file_transfer")
    # Stage 06's checks pass the student's code a scratch folder, which their transcripts show:
    # the private paths were there to leak.
    assert any("called receive_file(sock, " in t["output"] for t in checks_of(stub, stage.id))


def test_the_tidier_rewrites_private_paths_whatever_form_they_come_in():
    """gradescope_json.tidier on its own: graders.batch.coordinator may already have rewritten some of them."""
    from graders.report.gradescope_json import Gathered, tidier

    stage = all_stages()[1]
    tidy = tidier(Gathered(graded={stage.id: f"work/{stage.filename}"}))
    job = "/x/autograder/tmp/tcplab-batch-12-ab_c/job-3f"
    assert tidy(f"syntax error in {job}/submission/{stage.id}/{stage.filename}, line 2") == \
        f"syntax error in work/{stage.filename}, line 2"
    assert tidy(f"syntax error in {stage.id}/{stage.filename}, line 2") == f"syntax error in work/{stage.filename}, line 2"
    assert tidy(f"open {job}/submission/{stage.id}/helper.py") == f"open {stage.id}/helper.py"
    assert tidy(f"send_file(sock, '{job}/scratch/a.bin')") == "send_file(sock, '<temporary folder>/scratch/a.bin')"
    assert tidy("receive_file(sock, '/tmp/tcplab-batch-9104-ujm...)") == "receive_file(sock, '<temporary folder>...)"
    assert tidy("/tmp/tcplab-gradescope-k2j/submission/01_x/y.py") == "01_x/y.py"


def test_a_submission_that_outlasts_the_budget_still_gets_a_results_json(bundle, tmp_path):
    root = autograder_root(tmp_path, bundle)
    # Importing this never finishes; the engine would give up after its import deadline (10 s),
    # so a 3 s budget always runs out first.
    (root / "submission" / FIRST.filename).write_text("while True:\n    pass\n")
    data = finish(start(root, TCPLAB_AUTOGRADER_BUDGET="3"), root)
    assert data["score"] == 0
    assert "did not finish" in data["output"].lower()


@pytest.mark.parametrize("breakage", ["engine does not import", "stages.toml corrupt", "setup.sh not run"])
def test_when_the_grader_itself_fails_results_json_says_so_with_score_zero(bundle, tmp_path, breakage):
    root = autograder_root(tmp_path, bundle, canary=False)
    python = None
    if breakage == "engine does not import":
        (root / "source" / "graders" / "packaging" / "gradescope.py").write_text("raise RuntimeError('a broken engine')\n")
    elif breakage == "stages.toml corrupt":
        (root / "source" / "graders" / "stages.toml").write_text("[[stage]\nthis is not TOML\n")
    else:  # this Python imports another tcplab (the development one): grading would use its checks
        python = sys.executable
    shutil.copy(SOLUTIONS / FIRST.id / FIRST.filename, root / "submission")
    data = finish(start(root, python), root)
    assert data["score"] == 0 and data["tests"] == []
    assert "not a judgement of your code" in data["output"] and "instructor" in data["output"]


def test_setup_sh_provisions_a_fresh_python_for_grading(bundle, tmp_path):
    """setup.sh into a fresh virtual environment (pip from PyPI, seconds); then that Python finds
    the bundle's engine by itself, as grading children must, and grades a stage with it."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    root = autograder_root(tmp_path, bundle, canary=False)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(["bash", str(root / "source" / "setup.sh")], capture_output=True, text=True,
                          env={**env, "TCPLAB_AUTOGRADER_ROOT": str(root), "TCPLAB_PYTHON": python}, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    hidden = root / "source" / "graders" / "hidden"
    assert os.stat(hidden).st_mode & 0o077 == 0, "the hidden checks stay readable by student code's uid"
    shown = subprocess.run([python, "-m", "pip", "show", "nbgrader"], capture_output=True, text=True)
    assert shown.returncode != 0, "setup.sh installed the notebook tooling"
    found = subprocess.run([python, "-c", "import graders; print(graders.__file__)"], cwd="/", env=env,
                           capture_output=True, text=True)
    assert found.stdout.strip() == str(root / "source" / "graders" / "__init__.py"), found.stdout + found.stderr
    (tmp_path / "sub" / FIRST.id).mkdir(parents=True)
    shutil.copy(SOLUTIONS / FIRST.id / FIRST.filename, tmp_path / "sub" / FIRST.id)
    check = subprocess.run([python, "-m", "graders.cli", "check", "1", "--hidden", "--path", str(tmp_path / "sub")],
                           cwd="/", env=env, capture_output=True, text=True, timeout=300)
    assert check.returncode == 0 and "Traceback" not in check.stdout + check.stderr, check.stdout + check.stderr


def test_a_stage_that_never_ends_loses_its_share_of_the_budget_not_the_later_stages(tmp_path, monkeypatch):
    """run() in process, with the grading of a stage faked: the first stage uses up its share."""
    from graders.packaging import gradescope
    from graders.report.results import CheckResult, StageResult

    shares = []

    def fake_grade_stage(tree, stage, root, timeout):
        shares.append(timeout)
        check = CheckResult(f"{stage.id}.works", "works", "passed", 1.0, 1.0, hidden=False)
        if stage == FIRST:
            return StageResult(stage.id, stage.title, "error", [], "timed out"), True
        return StageResult(stage.id, stage.title, "passed", [check]), False

    monkeypatch.setattr(gradescope, "grade_stage", fake_grade_stage)
    monkeypatch.setenv("TCPLAB_AUTOGRADER_BUDGET", "140")
    (tmp_path / "submission").mkdir()
    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert gradescope.run(tmp_path) == 0
    finally:
        signal.signal(signal.SIGTERM, previous)
    data = json.loads((tmp_path / "results" / "results.json").read_text())
    assert_gradescope_format(data)
    stages = all_stages()
    assert len(shares) == len(stages)
    assert shares[0] == pytest.approx(130 / len(stages), abs=1.0)  # 140 s less the 10 s kept to finish
    assert data["score"] == len(stages) - 1
    assert f"{FIRST.id}: grading this stage did not finish within" in data["output"]
    assert "did not finish: it" not in data["output"], "the later stages were graded: grading finished"


# -- gathering a submission, in process -----------------------------------------------------------
def test_gathering_prefers_the_stage_folder_and_ignores_litter_and_says_so(tmp_path):
    sub = tmp_path / "sub"
    stage = all_stages()[-1]
    (sub / "exercises" / stage.id).mkdir(parents=True)
    (sub / "exercises" / stage.id / stage.filename).write_text("# the stage folder's\n")
    (sub / stage.filename).write_text("# loose\n")
    (sub / "__MACOSX" / FIRST.id).mkdir(parents=True)
    (sub / "__MACOSX" / FIRST.id / FIRST.filename).write_text("# resource fork\n")
    (sub / "broken.zip").write_bytes(b"PK\x03\x04 not really a zip")
    evil = sub / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr(f"../{FIRST.filename}", "# outside\n")
    tree = tmp_path / "tree"
    gathered = gather_submission(sub, tree, tmp_path / "scratch")
    assert (tree / stage.id / stage.filename).read_text() == "# the stage folder's\n"
    assert gathered.graded == {stage.id: f"exercises/{stage.id}/{stage.filename}"}
    notes = "\n".join(gathered.notes)
    assert f"2 copies of {stage.filename}" in notes and f"not {stage.filename}" in notes
    assert "broken.zip cannot be unpacked: " in notes and "evil.zip cannot be unpacked: " in notes
    assert notes.count("— ignored") == 2
    assert str(sub) not in notes, "notes name files as the student does"
    assert not (tmp_path / FIRST.filename).exists()


def test_gathering_a_missing_submission_folder_finds_nothing(tmp_path):
    gathered = gather_submission(tmp_path / "absent", tmp_path / "tree", tmp_path / "scratch")
    assert gathered.graded == {} and gathered.notes == []



def test_a_submission_folder_that_is_a_link_is_not_followed(tmp_path):
    """Protection: gather_submission looks at the top itself with lstat before walking it."""
    (tmp_path / "real" / FIRST.id).mkdir(parents=True)
    shutil.copy(SOLUTIONS / FIRST.id / FIRST.filename, tmp_path / "real" / FIRST.id)
    (tmp_path / "submission").symlink_to(tmp_path / "real")
    gathered = gather_submission(tmp_path / "submission", tmp_path / "tree", tmp_path / "scratch")
    assert gathered.graded == {} and not (tmp_path / "tree").exists()
    assert any("submission folder is a symbolic link" in note for note in gathered.notes)


@pytest.mark.parametrize("failure", [zlib.error("Error -3 while decompressing data"), RuntimeError("surprise")])
def test_an_archive_that_fails_in_any_way_costs_only_itself(tmp_path, monkeypatch, failure):
    """Protection: the catch-all around each archive in gather_submission, for failures that
    unpack_zip does not turn into SubmissionError (as zlib.error once escaped it)."""
    from graders.packaging import gradescope

    def unpack(archive, dest):
        (dest / "half").mkdir(parents=True)  # what a failure half-way leaves behind
        (dest / "half" / FIRST.filename).write_text("# half unpacked\n")
        raise failure

    monkeypatch.setattr(gradescope, "unpack_zip", unpack)
    sub = tmp_path / "sub"
    sub.mkdir()
    stage = all_stages()[1]
    (sub / stage.filename).write_text("# loose\n")
    with zipfile.ZipFile(sub / "old-attempt.zip", "w") as zf:
        zf.writestr(FIRST.filename, "# zipped\n")
    gathered = gather_submission(sub, tmp_path / "tree", tmp_path / "scratch")
    assert gathered.graded == {stage.id: stage.filename}, "the half-unpacked archive was graded"
    [note] = gathered.notes
    assert note.startswith("old-attempt.zip cannot be unpacked: it is damaged") and note.endswith("— ignored")
    assert type(failure).__name__ in note and str(tmp_path) not in note


def test_results_json_is_valid_utf8_whatever_the_names_hold(tmp_path):
    """Protection: write_results passes every string (keys too) through results.safe_text."""
    from graders.report.gradescope_json import write_results

    name = os.fsdecode(b"r\xe9sum\xe9/create_socket.py")
    assert "\udce9" in name  # how Python hands over a name that is not UTF-8
    write_results(tmp_path / "results.json", {"output": f"graded {name}", "tests": [{name: "\ud800 from JSON"}]})
    data = json.loads((tmp_path / "results.json").read_bytes().decode("utf-8"))
    assert data["output"] == "graded r\\xe9sum\\xe9/create_socket.py"
    assert data["tests"] == [{"r\\xe9sum\\xe9/create_socket.py": "\\ud800 from JSON"}]
