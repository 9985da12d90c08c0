"""`tcplab release OUT`: the student copy holds no solution and no hidden check, and works on its own.

The secrets are found the way a reviewer would look for them: by grepping OUT for the lines
only the solutions contain and for the names only the hidden checks carry. A copy of the
course with planted canaries (a hidden check, instructor notes, nbgrader's sources and
configuration, a solution pasted into exercises/) checks the rules that the real course
gives no chance to break.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from graders.packaging.common import grading_requirements
from graders.stages import COURSE_ROOT, EXERCISES, HIDDEN, SOLUTIONS, all_stages
from tests.corpus import tcplab

pytestmark = pytest.mark.slow

# Why 20: shorter lines ("return sock", "finally:") are common to any socket code.
DISTINCTIVE = 20


# -- what must never ship, computed from the course ------------------------------------------------
def readable_text(path: Path) -> str:
    """A file's text; for a notebook also its cells' sources, as a person reading it would see them."""
    text = path.read_bytes().decode("utf-8", "replace")
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(text).get("cells", [])
            text += "\n" + "\n".join("".join(c.get("source", "")) for c in cells)
        except ValueError:
            pass
    return text


def lines_of(path: Path) -> set[str]:
    return {line.strip() for line in readable_text(path).splitlines()} - {""}


@cache
def solution_lines() -> dict[str, list[str]]:
    """Per solution file, its lines found nowhere else in the course (stubs, lessons, the notebooks'
    demonstrations, checks, engine): a line a lesson shows on purpose is no secret.

    Lines, not substrings: a lesson may quote `data = conn.recv(CHUNK_SIZE)` in a longer line.
    """
    elsewhere: set[str] = set()
    for top in (EXERCISES, COURSE_ROOT / "notebooks" / "lessons", COURSE_ROOT / "graders"):
        for path in top.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                elsewhere |= lines_of(path)
    found = {}
    for path in sorted(SOLUTIONS.rglob("*.py")):
        found[str(path.relative_to(COURSE_ROOT))] = sorted(
            line for line in lines_of(path) - elsewhere if len(line) >= DISTINCTIVE)
    return found


def check_functions(folder: Path) -> dict[str, str]:
    """test function name -> its docstring's first line, for every check file under `folder`."""
    found = {}
    for path in sorted(folder.rglob("test_*.py")):
        for node in ast.parse(path.read_text("utf-8")).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                found[node.name] = (ast.get_docstring(node) or "").strip().splitlines()[0:1]
    return {name: (doc[0] if doc else "") for name, doc in found.items()}


@cache
def hidden_marks() -> list[str]:
    """Names and titles only the hidden checks carry (not shared with a public check)."""
    hidden = check_functions(HIDDEN) if HIDDEN.is_dir() else {}
    public = check_functions(EXERCISES)
    public_titles = set(public.values())
    marks = [name for name in hidden if name not in public]
    marks += [title for title in hidden.values() if len(title) >= DISTINCTIVE and title not in public_titles]
    marks += [p.name for p in HIDDEN.rglob("test_*.py")] if HIDDEN.is_dir() else []
    return marks


def grep(out: Path, needles: list[str], *, whole_lines: bool = False) -> list[str]:
    """Where the needles occur in OUT's files: as substrings, or (whole_lines) as whole lines."""
    hits = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        if whole_lines:
            found = lines_of(path) & set(needles)
        else:
            text = readable_text(path)
            found = {needle for needle in needles if needle in text}
        hits += [f"{path.relative_to(out)}: {needle!r}" for needle in sorted(found)]
    return hits


def release(out: Path, *extra: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    if cwd is None:
        return tcplab("release", str(out), *extra)
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([sys.executable, "-m", "graders.cli", "release", str(out), *extra],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def no_traceback(done: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr


# -- the real course ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("release") / "student"
    done = release(out)
    no_traceback(done)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_every_solution_file_has_lines_to_look_for():
    assert solution_lines(), "no solutions found"
    for name, lines in solution_lines().items():
        assert len(lines) >= 3, f"{name}: too few distinctive lines to grep for: {lines}"


def test_the_release_holds_no_solution_code(out):
    needles = [line for lines in solution_lines().values() for line in lines]
    hits = grep(out, needles, whole_lines=True)
    assert not hits, "solution code in the release:\n" + "\n".join(hits)
    assert not (out / "solutions").exists()


def test_the_release_holds_no_hidden_check(out):
    assert not (out / "graders" / "hidden").exists()
    assert not [p for p in out.rglob("*") if p.name == "hidden"]
    marks = hidden_marks()
    assert not grep(out, marks), "hidden checks in the release:\n" + "\n".join(grep(out, marks))


def test_the_release_holds_what_a_student_needs_and_nothing_for_instructors(out):
    for stage in all_stages():
        assert (out / "exercises" / stage.id / stage.filename).read_bytes() == \
            (EXERCISES / stage.id / stage.filename).read_bytes(), f"{stage.id}: not the stub"
        for check in stage.check_files(hidden=False):
            assert (out / "exercises" / stage.id / check.name).is_file(), check
    assert (out / "graders" / "cli" / "main.py").is_file() and (out / "graders" / "stages.toml").is_file()
    assert (out / "pyproject.toml").read_bytes() == (COURSE_ROOT / "pyproject.toml").read_bytes()
    for absent in ("tests", "solutions", "benchmarks", ".ci", "notebooks/source", "gradebook.db"):
        assert not (out / absent).exists(), absent
    assert not list(out.rglob("nbgrader_config.py"))
    assert not list(out.rglob("__pycache__"))
    released = COURSE_ROOT / "notebooks" / "release"
    if released.is_dir():
        for notebook in released.rglob("*.ipynb"):
            assert (out / "notebooks" / notebook.relative_to(released)).is_file(), notebook


def test_the_student_readme_covers_every_stage_and_no_instructor_command(out):
    readme = (out / "README.md").read_text("utf-8")
    for stage in all_stages():
        assert stage.id in readme and stage.filename in readme
    for command in ("tcplab check", "tcplab watch", "tcplab hint", "tcplab list"):
        assert command in readme
    for instructor in ("tcplab grade", "tcplab export", "tcplab gradescope", "tcplab release", "--hidden",
                       "solutions/", "gradebook"):
        assert instructor not in readme, instructor
    assert "{{" not in readme


@pytest.fixture(scope="module")
def public_checks_run() -> dict:
    """`tcplab check --path solutions --format json`: every public check, passed, with its points."""
    done = tcplab("check", "--path", "solutions", "--format", "json")
    no_traceback(done)
    assert done.returncode == 0, done.stdout + done.stderr
    [submission] = json.loads(done.stdout)["submissions"]
    return submission


def classroom_graders(out: Path) -> tuple[dict, list[dict], dict]:
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((out / ".github" / "workflows" / "classroom.yml").read_text("utf-8"))
    steps = workflow["jobs"]["run-autograding-tests"]["steps"]
    graders = {s["id"]: s for s in steps if s.get("uses", "").startswith("classroom-resources/autograding-command-grader")}
    return workflow, steps, graders


def judged_by(command: str, checks: dict[str, dict]) -> set[str]:
    """The check ids a runner's command judges: `tcplab check N [N ...] [--only ID,ID]`."""
    words = command.split()
    assert words[:2] == ["tcplab", "check"], command
    only = words[words.index("--only") + 1].split(",") if "--only" in words else None
    numbers = [int(w) for w in words[2:words.index("--only") if only else None]]
    ids = {check_id for check_id in checks if int(check_id[:2]) in numbers}
    if only is None:
        return ids
    assert set(only) <= ids, f"{command}: checks of stages it does not run"
    return set(only)


def test_the_classroom_workflow_runs_tcplab_check_for_each_stage_with_its_public_points(out, public_checks_run):
    """GitHub Classroom reads max-score as a whole number: every runner is worth whole points, and
    together exactly what `tcplab check` counts (release.classroom_runners)."""
    workflow, steps, graders = classroom_graders(out)
    # GitHub Classroom's reporter reads the results only from this workflow and job name.
    assert workflow["name"] == "Autograding Tests"
    reporter = next(s for s in steps if s.get("uses", "").startswith("classroom-resources/autograding-grading-reporter"))
    assert reporter["with"]["runners"].split(",") == list(graders)
    assert set(reporter["env"]) == {f"{runner.upper()}_RESULTS" for runner in graders}
    for runner in graders:
        assert f"steps.{runner}.outputs.result" in reporter["env"][f"{runner.upper()}_RESULTS"]
    scores = {runner: step["with"]["max-score"] for runner, step in graders.items()}
    assert all(type(score) is int and score > 0 for score in scores.values()), scores
    total = public_checks_run["max_score"]
    assert sum(scores.values()) == total == sum(public_points_of(out).values())
    checks = {c["id"]: c for stage in public_checks_run["stages"] for c in stage["checks"]}
    judged: list[str] = []
    for runner, step in graders.items():
        ids = judged_by(step["with"]["command"], checks)
        assert step["with"]["max-score"] == sum(checks[i]["max_score"] for i in ids), runner
        judged += ids
    assert sorted(judged) == sorted(checks), "every public check is judged by exactly one runner"
    points = public_points_of(out)
    for stage in all_stages():
        runner = f"stage{stage.number:02d}"
        if points[stage.id] == int(points[stage.id]) and points[stage.id]:
            assert graders[runner]["with"]["command"] == f"tcplab check {stage.number}"  # a whole stage: as before
        elif not points[stage.id]:
            assert runner not in graders  # a stage without public checks could only ever fail
    install = next(s for s in steps if s.get("name") == "Install tcplab")["run"]
    assert ".github/requirements-grading.txt" in install and "--no-deps -e ." in install
    requirements = (out / ".github" / "requirements-grading.txt").read_text("utf-8")
    assert "pytest" in requirements and "nbgrader" not in requirements and "jupyter" not in requirements
    assert [r for r in requirements.splitlines() if not r.startswith("#")] == grading_requirements()


def test_the_classroom_runners_of_some_checks_pass_on_the_solutions_and_fail_on_the_stubs(out, public_checks_run):
    """Each runner with --only, run as the workflow writes it: exit 0 on the solutions with its
    max-score in points, 1 on the stubs (tcplab check --only)."""
    _, _, graders = classroom_graders(out)
    partial = {runner: step["with"] for runner, step in graders.items() if "--only" in step["with"]["command"]}
    if not partial:
        pytest.skip("every stage of this course is worth whole points: no runner needs --only")
    for runner, step in partial.items():
        args = step["command"].split()[2:]
        done = tcplab("check", *args, "--path", "solutions", "--format", "json")
        no_traceback(done)
        assert done.returncode == 0, f"{runner}: {done.stdout}{done.stderr}"
        [submission] = json.loads(done.stdout)["submissions"]
        assert submission["score"] == submission["max_score"] == step["max-score"], runner
        judged = {c["id"] for stage in submission["stages"] for c in stage["checks"]}
        assert judged == set(step["command"].split("--only ")[1].split(",")), runner
    first = next(iter(partial.values()))
    stubs = tcplab("check", *first["command"].split()[2:])
    no_traceback(stubs)
    assert stubs.returncode == 1, stubs.stdout


def test_only_names_that_match_no_check_are_a_usage_error():
    for only in ("no_such_check", ",", "01_create_socket.no_such_check"):
        done = tcplab("check", "1", "--path", "solutions", "--only", only)
        no_traceback(done)
        assert done.returncode == 2 and "tcplab:" in done.stderr, (only, done.stdout, done.stderr)
    done = tcplab("check", "--help")
    assert "--only" in done.stdout


def test_classroom_runners_are_whole_and_add_up_to_the_public_total():
    """release.classroom_runners on made-up courses: fractions carried across stages, a check
    worth nothing left out, and a total that is not whole refused."""
    from graders.packaging.common import PackagingError
    from graders.packaging.release import classroom_runners

    ids = [s.id for s in all_stages()]
    course = {ids[0]: [("a", 2.0), ("b", 0.25)], ids[1]: [("c", 1.0), ("d", 0.25), ("e", 1.0)],
              ids[2]: [("f", 1.5), ("g", 0.0), ("h", 3.0)], ids[3]: [("i", 4.0)]}
    runners = classroom_runners(course)
    assert all(isinstance(r.points, int) for r in runners)
    assert sum(r.points for r in runners) == 13
    by_id = {r.id: r for r in runners}
    assert by_id["stage04"].command == "tcplab check 4"
    assert by_id["stage01"].only == [f"{ids[0]}.a"] and by_id["stage01"].points == 2
    assert by_id["stage03"].only == [f"{ids[2]}.h"], "the check worth nothing is in no runner"
    pooled = [r for r in runners if r.id.startswith("stages")]
    assert [(r.stages, r.only, r.points) for r in pooled] == [
        ([1, 2, 3], [f"{ids[0]}.b", f"{ids[1]}.d", f"{ids[2]}.f"], 2)]
    with pytest.raises(PackagingError, match="whole points only"):
        classroom_runners({ids[0]: [("a", 1.5)]})


def public_points_of(out: Path) -> dict[str, float]:
    """Public points per stage as the release's check files declare them (points=... on @check)."""
    points = {}
    for stage in all_stages():
        total = 0.0
        for path in (out / "exercises" / stage.id).glob("test_*.py"):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                    for deco in node.decorator_list:
                        if isinstance(deco, ast.Call) and getattr(deco.func, "id", "") == "check":
                            given = [k.value for k in deco.keywords if k.arg == "points"] + deco.args[:1]
                            total += float(ast.literal_eval(given[0])) if given else 1.0
        points[stage.id] = total
    return points


def test_a_non_empty_out_is_refused_unless_forced(out, tmp_path):
    target = tmp_path / "student"
    target.mkdir()
    (target / "mine.txt").write_text("an instructor's file")
    done = release(target)
    no_traceback(done)
    assert done.returncode == 2 and "not empty" in done.stderr and "--force" in done.stderr
    assert (target / "mine.txt").is_file() and len(list(target.iterdir())) == 1
    done = release(target, "--force")
    assert done.returncode == 0, done.stderr
    assert not (target / "mine.txt").exists() and (target / "README.md").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student"], "a temporary folder was left behind"


@pytest.mark.parametrize("where", ["a file", "inside exercises/"])
def test_a_bad_out_is_a_clear_usage_error(tmp_path, where):
    if where == "a file":
        target = tmp_path / "release.txt"
        target.write_text("x")
    else:
        target = EXERCISES / "release-here"
    done = release(target)
    no_traceback(done)
    assert done.returncode == 2 and "tcplab:" in done.stderr
    assert not (EXERCISES / "release-here").exists()


def test_templates_sit_flat_in_graders_packaging_templates_so_that_package_data_ships_them():
    # pyproject.toml's package-data says "packaging/templates/*": files in subfolders would not ship.
    templates = COURSE_ROOT / "graders" / "packaging" / "templates"
    assert templates.is_dir() and not [p for p in templates.iterdir() if p.is_dir()]


# -- a copy of the course with canaries planted ---------------------------------------------------
CANARY_HIDDEN = '''"""Planted by tests/test_release.py."""
from graders.api import check


@check(points=1, hint="CANARY-HIDDEN-HINT")
def test_canary_planted_hidden_release(lab):
    """CANARY-HIDDEN-TITLE a planted hidden check"""
'''


def planted_course(tmp: Path) -> Path:
    course = tmp / "course"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    for name in ("exercises", "graders", "solutions", "notebooks"):
        if (COURSE_ROOT / name).is_dir():
            shutil.copytree(COURSE_ROOT / name, course / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "conftest.py"):
        shutil.copy(COURSE_ROOT / name, course / name)
    stage = all_stages()[0]
    (course / "graders" / "hidden" / stage.id).mkdir(parents=True, exist_ok=True)
    (course / "graders" / "hidden" / stage.id / "test_canary_hidden.py").write_text(CANARY_HIDDEN)
    (course / "exercises" / stage.id / "INSTRUCTOR_NOTES.md").write_text("CANARY-INSTRUCTOR-NOTES\n")
    (course / "graders" / "instructor").mkdir()
    (course / "graders" / "instructor" / "grading.md").write_text("CANARY-INSTRUCTOR-FOLDER\n")
    (course / "notebooks" / "source" / stage.id).mkdir(parents=True, exist_ok=True)
    (course / "notebooks" / "source" / stage.id / "draft.ipynb").write_text('{"cells": [], "x": "CANARY-SOURCE"}')
    (course / "notebooks" / "nbgrader_config.py").write_text("# CANARY-NBGRADER-CONFIG\n")
    (course / "notebooks" / "release" / stage.id).mkdir(parents=True, exist_ok=True)
    (course / "notebooks" / "release" / stage.id / "canary.ipynb").write_text('{"cells": [], "x": "RELEASED-OK"}')
    (course / "notebooks" / "release" / "nbgrader_config.py").write_text("# CANARY-NBGRADER-CONFIG\n")
    (course / "tests").mkdir()
    (course / "tests" / "test_x.py").write_text("# CANARY-TESTS\n")
    return course


def test_planted_canaries_stay_out_and_a_pasted_solution_stops_the_release(tmp_path):
    course = planted_course(tmp_path)
    engine = subprocess.run([sys.executable, "-c", "import graders; print(graders.__file__)"], cwd=course,
                            env={**os.environ, "PYTHONPATH": str(course)}, capture_output=True, text=True)
    assert engine.stdout.strip().startswith(str(course)), engine.stdout + engine.stderr

    stage = all_stages()[0]
    pasted = course / "exercises" / stage.id / "helper.py"
    shutil.copy(SOLUTIONS / stage.id / stage.filename, pasted)
    out = tmp_path / "out" / "student"
    done = release(out, cwd=course)
    no_traceback(done)
    assert done.returncode == 2 and "helper.py" in done.stderr and "solutions/" in done.stderr, done.stderr
    assert not out.exists() and not list((tmp_path / "out").iterdir()), "a refused release left files"

    pasted.unlink()
    done = release(out, cwd=course)
    no_traceback(done)
    assert done.returncode == 0, done.stdout + done.stderr
    canaries = ["CANARY-HIDDEN", "canary_planted_hidden", "test_canary_hidden", "CANARY-INSTRUCTOR",
                "CANARY-SOURCE", "CANARY-NBGRADER-CONFIG", "CANARY-TESTS"]
    assert not grep(out, canaries), grep(out, canaries)
    assert (out / "notebooks" / stage.id / "canary.ipynb").read_text() == '{"cells": [], "x": "RELEASED-OK"}'


# -- the release on its own -----------------------------------------------------------------------
def test_the_release_installs_into_a_fresh_environment_and_its_own_check_runs(out, tmp_path):
    """Fresh venv, then the two install lines of the release's Classroom workflow, then `tcplab check`.

    The grading requirements come from PyPI (seconds); the full `pip install -e OUT` would also
    fetch jupyter and nbgrader (minutes) and test nothing more about the release.
    """
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["COLUMNS"] = "200"
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    for args in (["-r", ".github/requirements-grading.txt"], ["--no-deps", "-e", "."]):
        done = subprocess.run(pip + args, cwd=out, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import graders.stages as s; print(s.COURSE_ROOT)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True)
    assert where.stdout.strip() == str(out), where.stdout + where.stderr

    done = subprocess.run([str(venv / "bin" / "tcplab"), "check"], cwd=out, env=env, capture_output=True,
                          text=True, timeout=600)
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert done.returncode == 1
    assert "not implemented yet" in done.stdout
    for stage in all_stages():
        # A stage's line says "not started" when every check that ran met a stub.
        line = next((x for x in done.stdout.splitlines() if f" {stage.id} " in x), None)
        assert line is not None, f"{stage.id} is not shown:\n{done.stdout}"
        assert "not started" in line, line
