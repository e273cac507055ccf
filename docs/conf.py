"""Sphinx configuration of jobgraph's documentation site.

Build (from the repository root)::

    .venv/bin/python -m sphinx -W -b html docs docs/_build/html

or ``nox -s docs``. The build works offline; ``JOBGRAPH_DOCS_ONLINE=1`` also links names
of Python, anyio, trio, asyncssh, hypothesis and rich to their own documentation
(intersphinx), which needs the network. See ``contributing.md``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

project = "jobgraph"
author = "jobgraph developers"
copyright = "2026, jobgraph developers"

try:
    from jobgraph import __version__ as release
except ImportError:  # pragma: no cover - the docs are built with jobgraph installed
    release = "unknown"
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.intersphinx",
    "sphinx.ext.graphviz",
    "jobgraph_docs",  # _ext/jobgraph_docs.py: the API reference, references, gallery
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_generated/**/*.md", "README.md", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

# Every cross-reference must resolve: a broken one is a warning, and -W makes it an error.
# References to other projects' names that cannot resolve offline are handled in
# _ext/jobgraph_docs.py, narrowly (see contributing.md), not by ignoring warnings here.
nitpicky = True

# MyST: today's pages are plain Markdown; headings get anchors for [text](#anchor) links.
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# Code blocks without a language (listings, transcripts, pseudo-code) are not Python.
highlight_language = "text"
pygments_style = "sphinx"

# autodoc + napoleon: Google-style docstrings, documented where users import them.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_default_options = {"show-inheritance": True}
autodoc_class_signature = "mixed"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True
python_use_unqualified_type_names = True

# intersphinx: the inventories come from the network, so they are used only when asked for:
# JOBGRAPH_DOCS_ONLINE=1 downloads them; JOBGRAPH_DOCS_INVENTORIES=DIR reads DIR/<name>.inv
# instead where present (inventories saved earlier, for a build with links but no network).
# Otherwise (the default, and CI) names of these projects show as code text, without a link.
INTERSPHINX = {
    "python": "https://docs.python.org/3",
    "anyio": "https://anyio.readthedocs.io/en/stable",
    "trio": "https://trio.readthedocs.io/en/stable",
    "asyncssh": "https://asyncssh.readthedocs.io/en/stable",
    "hypothesis": "https://hypothesis.readthedocs.io/en/latest",
    "rich": "https://rich.readthedocs.io/en/stable",
}
ONLINE = os.environ.get("JOBGRAPH_DOCS_ONLINE") == "1"
SAVED = Path(os.environ.get("JOBGRAPH_DOCS_INVENTORIES") or DOCS / "_no_saved_inventories")
intersphinx_mapping = {
    name: (url, str(SAVED / f"{name}.inv") if (SAVED / f"{name}.inv").is_file() else None)
    for name, url in INTERSPHINX.items()
    if ONLINE or (SAVED / f"{name}.inv").is_file()
}

graphviz_output_format = "svg"

html_theme = "furo"
html_title = f"jobgraph {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
