"""The documentation points at things that exist: every relative link of README.md and
docs/*.md resolves (file and heading), every repository path written in backquotes exists, and
the README stays a first-hour read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

README_MAX_LINES = 300

#: the top-level folders whose paths the docs write in backquotes
REPO_DIRS = ("eir", "sim", "tests", "conf", "docs")

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")
CODE = re.compile(r"`([^`\n]+)`")
REPO_PATH = re.compile(rf"(?:{'|'.join(REPO_DIRS)})/[A-Za-z0-9_.*{{}},/-]*")
BRACES = re.compile(r"\{([^{}]*)\}")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def checked_lines(text: str) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks (numbered from 1)."""
    prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    return list(enumerate(prose.splitlines(), 1))


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    seen: dict[str, int] = {}
    found: set[str] = set()
    for match in HEADING.finditer(text):
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def expand(path: str) -> list[str]:
    """`tests/unit/{core,store}/` -> both paths (one level of braces at a time)."""
    match = BRACES.search(path)
    if match is None:
        return [path]
    head, tail = path[: match.start()], path[match.end() :]
    return [p for choice in match.group(1).split(",") for p in expand(head + choice + tail)]


def exists(path: str) -> bool:
    relative = path.rstrip("/")
    if any(c in relative for c in "*?["):
        return any(ROOT.glob(relative))
    return (ROOT / relative).exists()


def link_problems(doc: Path) -> list[str]:
    problems: list[str] = []
    for number, line in checked_lines(doc.read_text()):
        for target in LINK.findall(line):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                continue
            where, _, anchor = target.partition("#")
            file = (doc.parent / where).resolve() if where else doc
            if not file.exists():
                problems.append(f"{doc.name}:{number}: {target}: no such file")
            elif anchor and file.suffix == ".md" and anchor not in anchors(file):
                problems.append(f"{doc.name}:{number}: {target}: no such heading")
    return problems


def path_problems(doc: Path) -> list[str]:
    problems: list[str] = []
    for number, line in checked_lines(doc.read_text()):
        for code in CODE.findall(line):
            if REPO_PATH.fullmatch(code) is None:
                continue
            problems.extend(
                f"{doc.name}:{number}: `{code}`: {path} does not exist"
                for path in expand(code)
                if not exists(path)
            )
    return problems


@pytest.mark.parametrize("doc", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    assert link_problems(doc) == []


@pytest.mark.parametrize("doc", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_repository_paths_exist(doc: Path) -> None:
    assert path_problems(doc) == []


def test_readme_is_a_first_hour_read() -> None:
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines < README_MAX_LINES, f"README.md has {lines} lines"


def test_the_readme_starts_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    first_block = FENCE.search(text)
    assert first_block is not None
    assert text.index(first_block.group(0)) < text.index("\n## ")
    assert "make run" in first_block.group(0)
    assert "make test" in first_block.group(0)


def test_the_checks_catch_what_they_should(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# Title here\n"
        "[ok](#title-here) [bad](#nowhere) [gone](missing.md) [web](https://example.org)\n"
        "`eir/policy.py` `eir/nowhere.py` `tests/unit/{core,nowhere}/` `not a path`\n"
        "```\n[in code](missing.md) `eir/in_code.py`\n```\n"
    )
    assert link_problems(doc) == [
        "doc.md:2: #nowhere: no such heading",
        "doc.md:2: missing.md: no such file",
    ]
    assert path_problems(doc) == [
        "doc.md:3: `eir/nowhere.py`: eir/nowhere.py does not exist",
        "doc.md:3: `tests/unit/{core,nowhere}/`: tests/unit/nowhere/ does not exist",
    ]
    assert slug("SCTP: how it is used and tested") == "sctp-how-it-is-used-and-tested"
