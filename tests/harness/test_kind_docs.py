"""The reports that docs/testing.md shows for its ``Shell`` job kind are the ones
``check_job_kind`` prints: the page's code is run, and its output compared with the
page's text blocks (durations, which vary from run to run, aside)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

import jobgraph as jg
from jobgraph.testing import check_job_kind

PAGE = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
SECTION = "## Testing a custom job kind"
DURATION = re.compile(r"\b\d+\.\d{3}s\b")

pytestmark = pytest.mark.skipif(shutil.which("sleep") is None, reason="needs the sleep command")


def blocks() -> list[tuple[str, str]]:
    """(language, body) of the fenced blocks of the section on custom job kinds."""
    page = PAGE.read_text(encoding="utf-8")
    start = page.index(SECTION)
    section = page[start : page.index("\n## ", start + len(SECTION))]
    return [(match.group(1), match.group(2)) for match in FENCE.finditer(section)]


def shell_kinds() -> tuple[type[jg.AbstractJob], type[jg.AbstractJob]]:
    """The page's ``Shell``, and the same with the page's broken ``run()``."""
    python = [body for language, body in blocks() if language == "python"]
    kind_source = next(body for body in python if "class Shell" in body)
    broken_run = next(body for body in python if body.startswith("    async def run"))
    good: dict[str, Any] = {}
    exec(compile(kind_source, str(PAGE), "exec"), good)
    head = kind_source[: kind_source.index("    async def run")]
    bad: dict[str, Any] = {}
    exec(compile(head + broken_run, str(PAGE), "exec"), bad)
    return good["Shell"], bad["Shell"]


def texts() -> list[str]:
    return [body for language, body in blocks() if language == ""]


def test_the_section_shows_two_reports() -> None:
    reports = [text for text in texts() if text.startswith("job kind Shell")]
    assert len(reports) == 2


def test_report_of_a_kind_swallowing_cancellation_is_the_one_shown() -> None:
    _, broken = shell_kinds()
    shown = next(text for text in texts() if "violations:" in text)
    report = check_job_kind(broken, "sleep 1")
    assert not report.ok
    assert DURATION.sub("<t>", str(report) + "\n") == DURATION.sub("<t>", shown)


def test_report_of_a_quick_command_starts_as_shown() -> None:
    good, _ = shell_kinds()
    shown = next(text for text in texts() if "no violation" in text)
    lines = shown.splitlines()
    assert lines[-1].strip() == "..."
    report = check_job_kind(good, "sleep 0")
    assert report.ok
    assert str(report).splitlines()[: len(lines) - 1] == lines[:-1]


def test_well_behaved_shell_passes() -> None:
    good, _ = shell_kinds()
    report = check_job_kind(good, "sleep 0.2")
    assert report.ok, str(report)
    assert not report.notes, str(report)
