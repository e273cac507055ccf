"""Every python block of the pages that run job bodies on worker processes and Dask
clusters (docs/executors.md, docs/howto/cluster.md) is a complete script: each runs (from a
file, so that worker processes can import it), and prints what the text block after it
shows. The docs runner of tests/docs leaves these pages to this test (its RUN_ELSEWHERE)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = [DOCS / "executors.md", DOCS / "howto" / "cluster.md"]
SRC = Path(__file__).resolve().parents[2] / "src"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Example:
    page: str
    line: int
    code: str
    output: str | None

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}"


def examples(path: Path) -> list[Example]:
    page = path.read_text(encoding="utf-8")
    name = path.relative_to(DOCS).as_posix()
    found: list[Example] = []
    for match in FENCE.finditer(page):
        language, body = match.group(1), match.group(2)
        if language == "python":
            found.append(Example(name, page.count("\n", 0, match.start()) + 1, body, None))
        elif language == "text":
            assert found and found[-1].output is None
            last = found[-1]
            found[-1] = Example(last.page, last.line, last.code, body)
    return found


EXAMPLES = [example for page in PAGES for example in examples(page)]


def run(example: Example, directory: Path) -> subprocess.CompletedProcess[str]:
    script = directory / f"example_{example.page.replace('/', '_')[:-3]}_{example.line}.py"
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
) -> dict[str, subprocess.CompletedProcess[str]]:
    directory = tmp_path_factory.mktemp("executors_docs")
    with ThreadPoolExecutor(max_workers=3) as pool:
        done = pool.map(lambda example: run(example, directory), EXAMPLES)
        return {example.name: outcome for example, outcome in zip(EXAMPLES, done, strict=True)}


def test_the_pages_have_examples_with_outputs() -> None:
    by_page = {page.relative_to(DOCS).as_posix(): examples(page) for page in PAGES}
    assert len(by_page["executors.md"]) >= 5
    assert any("DaskExecutor(" in example.code for example in by_page["howto/cluster.md"])
    assert all(example.output is not None for example in EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_prints_what_the_page_shows(
    example: Example, outcomes: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    outcome = outcomes[example.name]
    assert outcome.returncode == 0, outcome.stderr[-3000:]
    assert outcome.stdout == example.output
