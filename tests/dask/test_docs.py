"""Every python block of docs/executors.md is a complete script: each runs (from a file,
so that worker processes can import it), and prints what the text block after it shows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "executors.md"
SRC = Path(__file__).resolve().parents[2] / "src"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Example:
    line: int
    code: str
    output: str | None


def examples() -> list[Example]:
    page = PAGE.read_text(encoding="utf-8")
    found: list[Example] = []
    for match in FENCE.finditer(page):
        language, body = match.group(1), match.group(2)
        if language == "python":
            found.append(Example(page.count("\n", 0, match.start()) + 1, body, None))
        elif language == "text":
            assert found and found[-1].output is None
            found[-1] = Example(found[-1].line, found[-1].code, body)
    return found


EXAMPLES = examples()


def run(example: Example, directory: Path) -> subprocess.CompletedProcess[str]:
    script = directory / f"example_{example.line}.py"
    script.write_text(example.code, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), *sys.path])}
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        cwd=directory,
        env=env,
    )


@pytest.fixture(scope="module")
def outcomes(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[int, subprocess.CompletedProcess[str]]:
    directory = tmp_path_factory.mktemp("executors_docs")
    with ThreadPoolExecutor(max_workers=3) as pool:
        done = pool.map(lambda example: run(example, directory), EXAMPLES)
        return {example.line: outcome for example, outcome in zip(EXAMPLES, done, strict=True)}


def test_the_page_has_examples_with_outputs() -> None:
    assert len(EXAMPLES) >= 5
    assert all(example.output is not None for example in EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"line{e.line}" for e in EXAMPLES])
def test_example_prints_what_the_page_shows(
    example: Example, outcomes: dict[int, subprocess.CompletedProcess[str]]
) -> None:
    outcome = outcomes[example.line]
    assert outcome.returncode == 0, outcome.stderr[-3000:]
    assert outcome.stdout == example.output
