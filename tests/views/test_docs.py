"""docs/views.md shows real outputs: its pictures exist, and the committed listings are
what docs/make_images.py produces with the current code."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def make_images() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_images", DOCS / "make_images.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_images"] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["make_images"]
    return module


def test_every_picture_of_the_views_page_is_committed() -> None:
    page = (DOCS / "views.md").read_text(encoding="utf-8")
    pictures = re.findall(r"\]\((images/[^)]+)\)", page)
    assert len(pictures) >= 5
    for picture in pictures:
        assert (DOCS / picture).is_file(), picture


def test_committed_listings_match_the_current_code(make_images: ModuleType) -> None:
    scheduler = make_images.pipeline()
    before = (DOCS / "images" / "pipeline-before.txt").read_text(encoding="utf-8")
    assert scheduler.list_text(ascii=False) == before
    make_images.run(scheduler)
    after = (DOCS / "images" / "pipeline-after.txt").read_text(encoding="utf-8")
    assert scheduler.list_text(ascii=False) == after
    page = (DOCS / "views.md").read_text(encoding="utf-8")
    assert after in page.replace("```\n", "")  # the page quotes the real listing
    timeline = (DOCS / "images" / "pipeline-timeline.svg").read_text(encoding="utf-8")
    assert scheduler.timeline_svg() == timeline
