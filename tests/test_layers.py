"""The house's plan: layers that only import downwards, and a core on the standard library alone."""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "perfsettle"
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
        "sys.exit(lint_imports_command())"]


def _lint(root: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(root / "src"))
    return subprocess.run(LINT, cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_the_layers_contract_is_kept():
    proc = _lint(REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "broken" not in proc.stdout.split("Contracts:")[-1].replace("0 broken", "")


def test_the_layers_contract_fails_on_an_import_that_runs_upwards(tmp_path):
    shutil.copytree(SRC, tmp_path / "src" / "perfsettle", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    months = tmp_path / "src" / "perfsettle" / "core" / "months.py"
    months.write_text(months.read_text() + "\nfrom perfsettle.outputs import exports  # wrong way\n")
    proc = _lint(tmp_path)
    assert proc.returncode != 0
    assert "perfsettle.core.months -> perfsettle.outputs.exports" in proc.stdout


# The modules the core may import: the standard library's pure parts, nothing that touches
# files, processes, the network or a database.
CORE_ALLOWED = {"__future__", "collections", "dataclasses", "decimal", "email", "enum", "fractions", "functools",
                "itertools", "math", "operator", "re", "string", "sys", "typing", "unicodedata", "datetime",
                "calendar", "hashlib", "bisect", "heapq", "types", "abc"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def test_the_core_imports_only_pure_standard_modules():
    found = {}
    for path in sorted((SRC / "core").glob("*.py")):
        extra = {m for m in _imports(path) if m not in CORE_ALLOWED and m != "perfsettle"}
        if extra:
            found[path.name] = sorted(extra)
    assert not found, found


def test_the_core_imports_nothing_of_perfsettle_outside_it():
    for path in sorted((SRC / "core").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("perfsettle"):
                assert node.module.startswith("perfsettle.core"), (path.name, node.module)


def test_the_readmes_architecture_table_names_every_module():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| layer | package |"):readme.index("Why this cut")]
    missing = [str(p.relative_to(SRC)) for p in sorted(SRC.rglob("*.py"))
               if p.name not in ("__init__.py", "__main__.py") and f"`{p.name}`" not in table]
    assert not missing, missing
