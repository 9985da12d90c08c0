"""The course's stages, read from stages.toml, and where each stage's files are."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# The engine: this folder, with its wings (engine/, checking/, grading/, report/, batch/, ...).
GRADERS = Path(__file__).resolve().parent
COURSE_ROOT = GRADERS.parent
EXERCISES = COURSE_ROOT / "exercises"
SOLUTIONS = COURSE_ROOT / "solutions"
HIDDEN = GRADERS / "hidden"


@dataclass(frozen=True)
class Stage:
    id: str  # "05_framing"
    title: str
    module: str  # "framing"
    hints: tuple[str, ...]

    @property
    def number(self) -> int:
        return int(self.id.split("_", 1)[0])

    @property
    def filename(self) -> str:
        return f"{self.module}.py"

    def module_path(self, root: Path) -> Path:
        """Where this stage's module is in a submission laid out like exercises/."""
        return root / self.id / self.filename

    def check_files(self, hidden: bool) -> list[Path]:
        files = sorted((EXERCISES / self.id).glob("test_*.py"))
        if hidden:
            files += sorted((HIDDEN / self.id).glob("test_*.py"))
        return files


@cache
def all_stages() -> tuple[Stage, ...]:
    data = tomllib.loads((Path(__file__).parent / "stages.toml").read_text("utf-8"))
    return tuple(
        Stage(s["id"], s["title"], s["module"], tuple(s.get("hints", ()))) for s in data["stage"]
    )


class UnknownStage(LookupError):
    pass


def find_stage(name: str) -> Stage:
    """A stage by number ("3", "03"), id ("03_connect") or module name ("connect")."""
    key = name.strip().lower().removesuffix("/")
    for stage in all_stages():
        if key in (stage.id, stage.module, stage.id.split("_", 1)[1]) or (
            key.isdigit() and int(key) == stage.number
        ):
            return stage
    known = ", ".join(f"{s.number} ({s.id})" for s in all_stages())
    raise UnknownStage(f"there is no stage {name!r}; the stages are {known}")


def select_stages(names: list[str] | None) -> list[Stage]:
    return [find_stage(n) for n in names] if names else list(all_stages())
