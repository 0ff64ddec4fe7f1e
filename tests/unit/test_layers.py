"""The package tree's import rule: cli → debug → run → targets → project →
{compile, link, orc} → errors, elf → records. A module may import its own package and any package
below it, never one above it or a sibling of the same rank."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "crossjit"
RANK = {"records": -1, "errors": 0, "elf": 0, "compile": 1, "link": 1, "orc": 1, "project": 2,
        "targets": 3, "run": 4, "debug": 5, "cli": 6}
# Besides __init__ and __main__: the leaves every stage imports (at most four).
LOOSE = {"errors", "elf", "records"}


def _unit(module: str) -> str | None:
    """``crossjit.run.session`` → ``run``; None for the package itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "crossjit" else None


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "crossjit":
                found |= {f"crossjit.{a.name}" for a in node.names}
            else:
                found.add(node.module)
    return {m for m in found if m.startswith("crossjit.")}


def test_top_level_is_packages_and_at_most_four_modules() -> None:
    loose = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert loose == LOOSE and len(loose) <= 4
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(RANK) - LOOSE


def test_every_package_says_what_it_is_for_and_may_import() -> None:
    for name in set(RANK) - LOOSE:
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text()))
        assert doc and "import" in doc.lower(), name


def test_imports_flow_downwards() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if here in ("__init__", "__main__"):
            continue
        for target in sorted(_imports(path)):
            there = _unit(target)
            if there is None or there == here or there not in RANK:  # __version__
                continue
            if RANK[there] >= RANK[here]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {target}")
    assert not wrong, "\n".join(wrong)
