"""`tcplab gradescope`: the bundle, and its run_autograder run against a root laid out like /autograder.

Each run unpacks the bundle into ROOT/source, puts a student's files into ROOT/submission,
and runs ROOT/source/run_autograder with TCPLAB_AUTOGRADER_ROOT=ROOT, as Gradescope would
run /autograder/run_autograder. A planted hidden check (the canary) proves that the bundle's
own engine grades, that hidden checks are "after_published", and that their words stay hidden.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from graders.gradescope import gather_submission
from graders.stages import COURSE_ROOT, SOLUTIONS, all_stages
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
    assert {"README.md", "pyproject.toml", "requirements-grading.txt", "graders/cli.py"} <= names
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


@pytest.fixture(scope="module")
def graded(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict, Path]]:
    """Five submissions graded side by side: the solutions, nothing, a syntax error, a zip, and
    one that tries to write its own results.json."""
    roots = {}
    for case in ("solutions", "empty", "broken", "zipped", "hostile"):
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
    procs = {case: start(root) for case, root in roots.items()}
    return {case: (finish(proc, roots[case]), roots[case]) for case, proc in procs.items()}


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
        (root / "source" / "graders" / "gradescope.py").write_text("raise RuntimeError('a broken engine')\n")
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
    from graders import gradescope
    from graders.results import CheckResult, StageResult

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
    assert "broken.zip could not be read" in notes and "evil.zip could not be read" in notes
    assert str(sub) not in notes, "notes name files as the student does"
    assert not (tmp_path / FIRST.filename).exists()


def test_gathering_a_missing_submission_folder_finds_nothing(tmp_path):
    gathered = gather_submission(tmp_path / "absent", tmp_path / "tree", tmp_path / "scratch")
    assert gathered.graded == {} and gathered.notes == []

