"""Every python block of docs/services.md is a complete script: each runs, and prints
what the text block after it shows."""

from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.anyio

PAGE = Path(__file__).resolve().parents[2] / "docs" / "services.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Example:
    line: int
    code: str
    output: str | None  # the text block that follows, before the next python block


def examples() -> list[Example]:
    page = PAGE.read_text(encoding="utf-8")
    found: list[Example] = []
    for match in FENCE.finditer(page):
        language, body = match.group(1), match.group(2)
        if language == "python":
            line = page.count("\n", 0, match.start()) + 1
            found.append(Example(line, body, None))
        elif language == "text":
            assert found, "a text block before any python block"
            assert found[-1].output is None, f"two outputs for the example at line {found[-1].line}"
            last = found[-1]
            found[-1] = Example(last.line, last.code, body)
    return found


EXAMPLES = examples()


def run(example: Example) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", example.code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=PAGE.parent,
    )


@pytest.fixture(scope="module")
def outcomes() -> dict[int, subprocess.CompletedProcess[str]]:
    """Run every example once, all at the same time (each starts a fresh interpreter)."""
    with ThreadPoolExecutor(max_workers=len(EXAMPLES)) as executor:
        return dict(zip((e.line for e in EXAMPLES), executor.map(run, EXAMPLES), strict=True))


def test_the_page_has_examples_with_outputs() -> None:
    assert len(EXAMPLES) >= 8
    assert sum(example.output is not None for example in EXAMPLES) >= 8


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"line{e.line}" for e in EXAMPLES])
def test_example_runs_and_prints_what_the_page_shows(
    example: Example, outcomes: dict[int, subprocess.CompletedProcess[str]]
) -> None:
    outcome = outcomes[example.line]
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.stderr == ""
    if example.output is not None:
        assert outcome.stdout == example.output
