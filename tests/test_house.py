"""The house's rules: graders/ is wings, a wing imports only wings below it, check files use graders.api.

The wings, top to bottom (../shared/DESIGN.md, "The house"): cli, packaging, batch,
notebook, grading, checking, report, engine; graders/api.py and graders/stages.py sit on top.
A check file, or a notebook's set-up cell, that reaches past graders.api ties the course to
the engine's insides; a wing that imports one above it is how a house stops showing its plan.
"""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import pytest

from graders.stages import COURSE_ROOT, EXERCISES, GRADERS, HIDDEN

WINGS = ["engine", "report", "checking", "grading", "notebook", "batch", "packaging", "cli"]  # bottom first
# Modules on top: the public face, the course data, and what released notebooks import.
TOP = {"__init__.py", "api.py", "stages.py", "peers.py", "protocols.py"}


def graders_imports(path: Path) -> list[tuple[int, str]]:
    """Every `graders...` module a file imports (with the line), at any depth of the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "graders" else [f"graders.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found += [(node.lineno, n) for n in names if n == "graders" or n.startswith("graders.")]
    return found


def other_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
    return found


def engine_modules() -> list[Path]:
    return [p for p in sorted(GRADERS.rglob("*.py")) if HIDDEN not in p.parents]


def test_every_module_lives_in_a_wing():
    for path in engine_modules():
        rel = path.relative_to(GRADERS)
        assert (len(rel.parts) == 1 and rel.name in TOP) or rel.parts[0] in WINGS, \
            f"graders/{rel.as_posix()} is in no wing: move it to one of {', '.join(WINGS)}"


def test_a_wing_imports_only_wings_below_it():
    broken = []
    for path in engine_modules():
        rel = path.relative_to(GRADERS)
        if len(rel.parts) == 1:
            continue
        wing = WINGS.index(rel.parts[0])
        for line, name in graders_imports(path):
            parts = name.split(".")
            if len(parts) > 1 and parts[1] in WINGS and WINGS.index(parts[1]) > wing:
                broken.append(f"graders/{rel.as_posix()}:{line} imports {name}")
    assert not broken, "a wing imports one above it:\n" + "\n".join(broken)


def test_engine_imports_neither_pytest_nor_checking_and_report_no_engine():
    for path in (GRADERS / "engine").rglob("*.py"):
        assert "pytest" not in other_imports(path), f"{path.name}: the engine runs without pytest"
        assert not [n for _, n in graders_imports(path) if n.startswith("graders.checking")], path
    for path in (GRADERS / "report").rglob("*.py"):
        assert not [n for _, n in graders_imports(path) if n.startswith("graders.engine")], \
            f"{path.name}: a rendering works from the results model alone"


def check_files() -> list[Path]:
    return sorted(EXERCISES.glob("*/test_*.py")) + sorted(HIDDEN.rglob("*.py"))


@pytest.mark.parametrize("path", check_files(), ids=lambda p: p.relative_to(COURSE_ROOT).as_posix())
def test_check_files_import_only_graders_api(path):
    wrong = [f"line {line}: {name}" for line, name in graders_imports(path) if name != "graders.api"]
    assert not wrong, f"{path.name} imports graders' insides (use graders.api): {wrong}"


def setup_cells() -> list[tuple[str, str]]:
    cells = []
    for nb in sorted((COURSE_ROOT / "notebooks").glob("*/*/*.ipynb")):
        for cell in json.loads(nb.read_text("utf-8"))["cells"]:
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "setup":
                cells.append((nb.relative_to(COURSE_ROOT).as_posix(), "".join(cell["source"])))
    return cells


def test_notebook_setup_cells_import_only_graders_api(tmp_path):
    cells = setup_cells()
    assert cells, "no notebook has a set-up cell (grade_id 'setup')"
    for where, source in cells:
        script = tmp_path / "setup.py"
        script.write_text(source, "utf-8")
        wrong = [name for _, name in graders_imports(script) if name != "graders.api"]
        assert not wrong, f"{where}: the set-up cell imports {wrong}; use graders.api"


def test_what_released_notebooks_import_still_imports():
    # Notebooks already in students' hands run these lines; the names must not move away.
    notebook = importlib.import_module("graders.notebook")
    for name in ("grade", "demo", "wait_for_bytes"):
        assert callable(getattr(notebook, name))
    peers = importlib.import_module("graders.peers")
    for name in ("Close", "Pause", "Recv", "RecvAll", "RecvLine", "Reset", "Send", "ShutWr", "Stall", "dribble",
                 "connected_pair", "unread_bytes"):
        assert getattr(peers, name) is not None
    protocols = importlib.import_module("graders.protocols")
    assert callable(protocols.file_message)  # stage 06's lesson cell, as released
