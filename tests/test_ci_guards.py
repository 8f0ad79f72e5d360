"""Under CI=true nothing may skip: a missing redis-server fails its tests, and any skip fails the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_pytest(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=240,
    )


def test_redis_tests_fail_instead_of_skipping_without_redis_server_under_ci() -> None:
    env = {**os.environ, "CI": "true", "PATH": "/nonexistent"}  # no redis-server to be found
    test = "tests/core/distributed/test_redis_stores.py::test_dedupe_claim_is_won_once_across_workers_and_expires"
    result = run_pytest([test], ROOT, env)
    assert result.returncode != 0, result.stdout
    assert "redis-server is not installed: required when CI=true" in result.stdout


def test_any_skip_fails_the_run_under_ci_and_is_listed_at_the_end(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_runtest_logreport, pytest_sessionfinish, pytest_terminal_summary  # noqa: F401\n"
    )
    (tmp_path / "test_skips.py").write_text(
        "import pytest\n\ndef test_one():\n    pytest.skip('no such tool')\n\ndef test_two():\n    pass\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    local = run_pytest(["-c", os.devnull, str(tmp_path)], tmp_path, {**env, "CI": "false"})
    assert local.returncode == 0, local.stdout
    assert "skipped tests: 1" in local.stdout and "test_one: Skipped: no such tool" in local.stdout
    under_ci = run_pytest(["-c", os.devnull, str(tmp_path)], tmp_path, {**env, "CI": "true"})
    assert under_ci.returncode == 1, under_ci.stdout
    assert "CI=true: each one fails the run" in under_ci.stdout
