"""The layout docs/architecture.md describes is the one on disk, and the library stays streamlit-free."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

LIBRARY = ROOT / "msmix_core"


def _tree_block() -> str:
    """The library part of the tree in docs/architecture.md (up to the app's part)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    return re.search(r"```\nmsmix_core/\n(.*?)# The app", text, re.S).group(1)


def _modules() -> list[Path]:
    return sorted(p for p in LIBRARY.rglob("*.py") if p.name not in ("__init__.py", "__main__.py"))


def test_every_library_module_is_in_the_architecture_tree():
    block = _tree_block()
    missing = [str(p.relative_to(ROOT)) for p in _modules() if not re.search(rf"\b{re.escape(p.name)}\b", block)]
    packages = {p.parent.name for p in _modules() if p.parent != LIBRARY}
    missing += [f"{name}/" for name in sorted(packages) if f"{name}/" not in block]
    assert not missing, f"docs/architecture.md does not list {missing}"


def test_the_architecture_tree_names_no_module_that_is_gone():
    block = _tree_block()
    on_disk = {p.name for p in _modules()}
    listed = set(re.findall(r"\b([a-z_]+\.py)\b", block)) - {"__init__.py"}
    assert listed <= on_disk, f"docs/architecture.md lists modules that do not exist: {sorted(listed - on_disk)}"


def _app_block() -> str:
    """The app part of the tree in docs/architecture.md (ui/, pages/, bench/)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    return re.search(r"# The app \(streamlit\)\n(.*?)```", text, re.S).group(1)


def test_every_ui_module_and_package_is_in_the_app_block_and_none_that_is_gone():
    block, ui = _app_block(), ROOT / "ui"
    modules = [p for p in ui.rglob("*.py") if p.name != "__init__.py"]
    missing = [str(p.relative_to(ROOT)) for p in modules if not re.search(rf"\b{re.escape(p.name)}\b", block)]
    packages = [p.name for p in sorted(ui.iterdir()) if (p / "__init__.py").exists()]
    missing += [f"{name}/" for name in packages if f"{name}/" not in block]
    assert not missing, f"docs/architecture.md's app block does not list {missing}"
    gone = set(re.findall(r"\b([a-z_]+\.py)\b", block)) - {p.name for p in modules} - {"app.py", "findings.py"}
    assert not gone, f"docs/architecture.md's app block lists modules that do not exist: {sorted(gone)}"


def test_the_library_never_imports_streamlit():
    offenders = []
    for path in LIBRARY.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n.split(".")[0] == "streamlit" for n in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"streamlit imported from the library: {offenders}"


@pytest.mark.slow
def test_a_training_process_imports_no_statistics_or_plotting_library():
    """A training job's child imports the trainer only: scipy.stats and sklearn alone are seconds of its start-up."""
    heavy = {"scipy", "sklearn", "plotly", "umap", "numba", "streamlit"}
    probe = f"import sys, msmix_core.jobs.worker; print(sorted({{m.split('.')[0] for m in sys.modules}} & {heavy}))"
    imported = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert imported.strip() == "[]"


def test_lint_sees_every_library_module():
    """An exclude pattern like "runs" also matches msmix_core/runs/: ruff must list every library file."""
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip(f"ruff is not installed next to {sys.executable}")
    listed = subprocess.run([ruff, "check", "--show-files", "."], cwd=ROOT, capture_output=True, text=True).stdout
    seen = {Path(line.strip()).resolve() for line in listed.splitlines() if line.strip().endswith(".py")}
    unseen = [str(p.relative_to(ROOT)) for p in LIBRARY.rglob("*.py") if p.resolve() not in seen]
    assert not unseen, f"ruff does not check {unseen} (see extend-exclude in pyproject.toml)"
