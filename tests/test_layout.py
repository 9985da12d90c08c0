"""The course's shape: every stage has its lesson, stub and solution, and they mirror each other.

As in rustlings' `dev check`: a stray file, a stub that already works, or a solution whose
interface drifted from the stub fails here, before a student ever sees it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from graders.stages import EXERCISES, HIDDEN, SOLUTIONS, all_stages

STAGES = list(all_stages())
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)  # stage 11's functions are `async def`
# Data a stage's folder ships beside its module (exercises/NN_slug/<folder>/): stage 10's
# certificates, copies of the graders' own (graders/checking/certs/make_certs.py writes both).
STAGE_DATA = {"10_tls": {"certs": {"ca.pem", "server-chain.pem", "server.key"}}}
GRADER_CERTS = Path(__file__).resolve().parents[1] / "graders" / "checking" / "certs"


def interface(path: Path) -> dict:
    """Module docstring, imports, top-level names, and each function's signature and docstring."""
    tree = ast.parse(path.read_text("utf-8"))
    shape: dict = {"doc": ast.get_docstring(tree), "imports": [], "defs": {}}
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            shape["imports"].append(ast.unparse(node))
        elif isinstance(node, (*FUNCTIONS, ast.ClassDef)):
            args = ast.unparse(node.args) if isinstance(node, FUNCTIONS) else ""
            args = ("async " if isinstance(node, ast.AsyncFunctionDef) else "") + args
            returns = ast.unparse(node.returns) if getattr(node, "returns", None) else ""
            shape["defs"][node.name] = (args, returns, ast.get_docstring(node))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and not node.__class__.__name__.startswith("Expr"):
            shape["defs"][ast.unparse(node).split("=")[0].strip()] = "constant"
    return shape


def stub_bodies(path: Path) -> dict[str, list[str]]:
    tree = ast.parse(path.read_text("utf-8"))
    return {
        node.name: [type(s).__name__ for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        for node in tree.body if isinstance(node, FUNCTIONS)
    }


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.id)
def test_stage_has_lesson_stub_solution(stage):
    folder = EXERCISES / stage.id
    assert (folder / "README.md").is_file()
    assert (folder / stage.filename).is_file()
    assert (SOLUTIONS / stage.id / stage.filename).is_file()
    assert len((folder / "README.md").read_text("utf-8").splitlines()) > 80, "a README that teaches"


def outline(text: str) -> list[str]:
    """A lesson's shape: its section levels and code fences, in order."""
    return [line.split(" ", 1)[0] if line.startswith("#") else "```" for line in text.splitlines()
            if line.startswith(("## ", "### ", "```"))]


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.id)
def test_stage_has_its_lesson_in_chinese(stage):
    """README.zh-CN.md: the same lesson (its sections and code blocks, in the English order),
    linked to the English, and it tells how to get the feedback in Chinese."""
    folder = EXERCISES / stage.id
    chinese = folder / "README.zh-CN.md"
    assert chinese.is_file(), f"{stage.id} has no README.zh-CN.md"
    text = chinese.read_text("utf-8")
    english = (folder / "README.md").read_text("utf-8")
    assert outline(text) == outline(english), "the Chinese lesson's sections and code blocks differ from the English"
    assert "[English](README.md) · 简体中文" in text.splitlines()[:4]
    assert "English · [简体中文](README.zh-CN.md)" in english.splitlines()[:4]
    assert "--lang zh-CN" in text
    assert sum(1 for c in text if "\u4e00" <= c <= "\u9fff") > len(text) // 5, "a lesson in Chinese, not a copy"


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.id)
def test_stub_and_solution_have_the_same_interface(stage):
    assert interface(EXERCISES / stage.id / stage.filename) == interface(SOLUTIONS / stage.id / stage.filename)


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.id)
def test_every_stub_function_only_raises_not_implemented(stage):
    for name, body in stub_bodies(EXERCISES / stage.id / stage.filename).items():
        assert body == ["Raise"], f"{name} in the stub should be one `raise NotImplementedError(...)`"


def test_no_stray_files_in_exercises_solutions_or_hidden():
    stage_ids = {s.id for s in STAGES}
    for tree, allowed in ((EXERCISES, {"README.md", "README.zh-CN.md"}), (SOLUTIONS, set()), (HIDDEN, set())):
        for path in tree.iterdir():
            if path.name in ("__pycache__",) or path.name.startswith("."):
                continue
            assert path.is_dir() and path.name in stage_ids, f"stray {path}"
            stage = next(s for s in STAGES if s.id == path.name)
            for item in path.iterdir():
                if item.name == "__pycache__":
                    continue
                ok = item.name in allowed | {stage.filename} or (item.name.startswith("test_") and item.suffix == ".py")
                if tree is EXERCISES and item.name in STAGE_DATA.get(stage.id, {}):
                    ok = {f.name for f in item.iterdir()} == STAGE_DATA[stage.id][item.name]
                if tree is SOLUTIONS:
                    ok = item.name == stage.filename
                assert ok, f"stray {item}"


def test_the_students_certificates_are_the_graders():
    """Stage 10's certs/ ship what the graders verify against: the same root, chain and key."""
    for name in STAGE_DATA["10_tls"]["certs"]:
        assert (EXERCISES / "10_tls" / "certs" / name).read_bytes() == (GRADER_CERTS / name).read_bytes(), name
