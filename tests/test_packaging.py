"""``pip install .`` ships what the framework needs: the four packages and every subpackage, the web
chat's static files, the shipped model, the examples (and their plugins), and the ``voicebots`` command."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _subpackages() -> list[str]:
    found = []
    for top in ("core", "adapters", "voice", "bots"):
        for init in sorted((ROOT / top).rglob("__init__.py")):
            if "__pycache__" not in init.parts:
                found.append(".".join(init.parent.relative_to(ROOT).parts))
    return found


def test_every_package_is_listed_in_pyproject() -> None:
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    missing = sorted(set(_subpackages()) - set(listed))
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"


def _requirements(text: str) -> set[str]:
    return {line.split("#")[0].strip().replace("'", '"') for line in text.splitlines() if line.split("#")[0].strip()}


def test_dependencies_match_requirements_txt() -> None:
    """Every runtime line of requirements.txt is a dependency, and every dependency is in requirements.txt."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    text = (ROOT / "requirements.txt").read_text()
    dependencies = _requirements("\n".join(project["dependencies"]))
    assert _requirements(text.split("# Tests")[0]) <= dependencies <= _requirements(text)


@pytest.mark.slow
def test_the_wheel_carries_packages_static_files_model_examples_and_the_command(tmp_path: Path) -> None:
    source = tmp_path / "src"
    ignore = shutil.ignore_patterns(".git", ".venv", "build", "dist", "data", "__pycache__", "*.egg-info", "tests", "bench")
    shutil.copytree(ROOT, source, ignore=ignore)
    out = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("voicebots-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    for package in _subpackages():
        assert f"{package.replace('.', '/')}/__init__.py" in names, package
    assert {"adapters/web/static/index.html", "adapters/web/static/app.js", "adapters/web/static/style.css"} <= names
    assert "bots/shipped/models/chitchat/model.pt" in names
    assert "bots/shipped/examples/support_faq.yaml" in names
    for plugin in ("dice", "reminders", "autoresponder", "rest_engine"):
        assert f"bots/shipped/examples/plugins/{plugin}.py" in names
    assert not any(n.startswith(("tests/", "bench/")) for n in names)
    assert "[console_scripts]\nvoicebots = bots.cli:main" in entry_points


def test_installed_layout_finds_the_shipped_model_and_example_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside a checkout, relative paths fall back to ``bots/shipped`` (what the wheel installs)."""
    from bots import paths

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "models").symlink_to(ROOT / "models")
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path / "not-a-checkout")
    monkeypatch.setattr(paths, "SHIPPED", shipped)
    elsewhere = tmp_path / "cwd"
    assert paths.resolve_existing("models/chitchat", elsewhere) == shipped / "models" / "chitchat"
    assert paths.resolve_existing("nothing/here", elsewhere) == elsewhere / "nothing" / "here"
