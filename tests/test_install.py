"""The install: the runtime requirements carry no test-only package; the README's commands are what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST_ONLY = {"pytest", "pytest-asyncio", "pytest-timeout", "playwright"}


def _names(path: Path) -> list[str]:
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(re.split(r"[\s\[<>=!~;]", line, maxsplit=1)[0].lower())
    return names


def _readme_block(heading: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split(f"## {heading}\n", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_test_only_packages_are_in_requirements_dev_not_in_requirements() -> None:
    runtime = _names(ROOT / "requirements.txt")
    dev_lines = (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert "-r requirements.txt" in dev_lines
    assert not TEST_ONLY & set(runtime)
    assert TEST_ONLY <= set(_names(ROOT / "requirements-dev.txt"))
    assert "torch" in runtime and "aiohttp" in runtime  # the runtime list is still the runtime


def test_readme_install_and_test_commands_are_what_ci_runs() -> None:
    install, _run = _readme_block("Two commands")
    (test,) = _readme_block("Tests")
    assert "-r requirements.txt" in install and "-r requirements-dev.txt" in test and "pytest" in test
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [part.strip() for part in test.split("&&")] + [install.split("&&")[1].strip()]
    for command in commands:  # CI adds only quiet flags (-q) and a stderr filter
        words = [w for w in command.split() if w != "-q"]
        assert any(all(w in line.split() for w in words) for line in ci.splitlines()), command
