"""Where relative paths in config.yaml point: the config file's folder, then the source checkout, then the
copy of ``models/`` and ``examples/`` an installed package carries (``bots/shipped``)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The source checkout (or site-packages, when installed)."""

SHIPPED = Path(__file__).resolve().parent / "shipped"
"""``models/`` and ``examples/`` as package data of an installed (non-editable) package."""


def resolve(path: str, base: Path) -> Path:
    """A path to create: absolute as given, relative to the config file's folder otherwise."""
    p = Path(path)
    return p if p.is_absolute() else base / p


def resolve_existing(path: str, base: Path) -> Path:
    """A path to read: relative to the config file's folder, else to the repository root (where the
    shipped model and examples live), else to the installed package's copy of them, so ``--config``
    from another folder and ``pip install .`` still find them."""
    p = Path(path)
    if p.is_absolute():
        return p
    for candidate in (base / p, REPO_ROOT / p, SHIPPED / p):
        if candidate.exists():
            return candidate
    return base / p
