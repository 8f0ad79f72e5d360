"""Markdown and plain-text documents split into passages for the knowledge base.

A passage is one section (the text under a heading), cut at paragraph ends when it is longer
than ``max_chars``. Each passage keeps its heading path ("Manual > Billing > Refunds") so that
it can be cited and so that the heading words help matching.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
DOCUMENT_SUFFIXES = (".md", ".markdown", ".txt")


@dataclass(frozen=True, slots=True)
class Passage:
    """A piece of a document: where it is from (``source#n``), its headings and its text."""

    id: str
    title: str
    text: str


def _slug(path: Path) -> str:
    return path.stem.lower().replace(" ", "-")


def _paragraphs(lines: list[str]) -> list[str]:
    text = "\n".join(lines).strip()
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def _pack(paragraphs: list[str], max_chars: int) -> list[str]:
    """Join paragraphs into chunks of at most ``max_chars`` (a longer paragraph stays whole)."""
    chunks: list[str] = []
    current = ""
    for para in paragraphs:
        if current and len(current) + 2 + len(para) > max_chars:
            chunks.append(current)
            current = para
        else:
            current = f"{current}\n\n{para}" if current else para
    if current:
        chunks.append(current)
    return chunks


def split_document(text: str, source: str, max_chars: int = 700) -> list[Passage]:
    """Passages of one Markdown (or plain) document; ``source`` names it in passage ids."""
    sections: list[tuple[list[str], list[str]]] = []
    headings: list[str] = []
    body: list[str] = []
    in_code = False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            in_code = not in_code
        match = None if in_code else _HEADING.match(line)
        if match:
            sections.append((list(headings), body))
            level = len(match.group(1))
            headings = headings[: level - 1] + [match.group(2)]
            body = []
        else:
            body.append(line)
    sections.append((list(headings), body))
    passages: list[Passage] = []
    seen: set[str] = set()
    for heads, lines in sections:
        title = " > ".join(h for h in heads if h)
        anchor = _anchor(heads[-1]) if heads else ""
        for chunk in _pack(_paragraphs(lines), max_chars):
            pid = f"{source}#{anchor or len(passages) + 1}"
            n = 2
            while pid in seen:
                pid, n = f"{source}#{anchor or 'part'}-{n}", n + 1
            seen.add(pid)
            passages.append(Passage(pid, title, chunk))
    return passages


def _anchor(heading: str) -> str:
    """A heading as a URL-fragment-like slug ("Syncing between devices" -> "syncing-between-devices")."""
    return "-".join(re.findall(r"\w+", heading.lower()))


def document_files(paths: list[Path]) -> list[Path]:
    """The documents named by ``paths`` (files, or folders searched for .md/.txt), sorted.

    Raises:
        FileNotFoundError: a path does not exist.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such document or folder: {path}")
    return files


def load_passages(files: list[Path], max_chars: int = 700) -> list[Passage]:
    """Every passage of ``files``."""
    out: list[Passage] = []
    for file in files:
        out.extend(split_document(file.read_text(encoding="utf-8"), _slug(file), max_chars))
    return out
