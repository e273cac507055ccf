"""Drawings of schedulers in graphviz's DOT language, and their rendering by ``dot``.

Writing DOT needs nothing; rendering it (SVG, PNG...) runs graphviz's ``dot`` program
(Debian and Ubuntu: ``apt-get install graphviz``); :func:`pydot_graph` needs ``pydot``.

What the drawing says:

- an edge goes from a requirement to the job that requires it;
- critical jobs have a thick red border, forever jobs a dashed one;
- schedulers have square corners, other jobs rounded ones; a nested scheduler is a
  cluster holding its jobs, and edges to or from it end at the cluster's border (a
  row longer for each border they end at, so that none shrinks to an arrowhead);
- a requirement that :meth:`~jobgraph.Scheduler.run` refuses (on a job that is not in
  the same scheduler, such as a job inside a nested scheduler) is a red dashed edge
  labelled "refused", as :meth:`~jobgraph.Scheduler.list` flags it;
- once a job's scheduler has run, its fill colour tells the outcome
  (:data:`OUTCOME_COLOURS`); before, nodes are white.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

from jobgraph.lowlevel import (
    AbstractJob,
    CycleError,
    InvalidOptionError,
    JobState,
    MissingDependencyError,
    Scheduler,
    owner_of,
    record_of,
    requirements_of,
)

from ._graph import refused_requirements
from ._listing import number_jobs
from ._paths import GRAPHVIZ_SUFFIX, checked_path

__all__ = [
    "NOTEBOOK_MAX_JOBS",
    "NOTEBOOK_TIMEOUT",
    "OUTCOME_COLOURS",
    "dot_format",
    "dot_quote",
    "export_as_dotfile",
    "export_as_graphic",
    "import_pydot",
    "job_dot_style",
    "pydot_graph",
    "render",
    "svg_text",
]

# fill colour by JobRecord.outcome, used once the job's scheduler has run
OUTCOME_COLOURS: dict[str, str] = {
    "ok": "#c8e6c9",  # light green
    "failed": "#ffcdd2",  # light red
    "cancelled": "#ffe0b2",  # light orange
    "skipped": "#e0e0e0",  # grey
    "running": "#bbdefb",  # light blue
    "scheduled": "#fff9c4",  # light yellow
    "idle": "#ffffff",  # never ran
}
NEVER_RAN_FONT = "#757575"

_MISSING_DOT = (
    "graphviz's 'dot' program is not installed (on Debian or Ubuntu: apt-get install graphviz)"
)


def dot_quote(value: object) -> str:
    """``value`` as a double-quoted DOT string: backslashes and quotes escaped,
    line breaks turned into graphviz's centred line breaks."""
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return f'"{text}"'


def _attributes(style: dict[str, Any]) -> str:
    parts = []
    for key, value in style.items():
        text = ",".join(value) if isinstance(value, list) else value
        parts.append(f"{key}={dot_quote(text)}")
    return ", ".join(parts)


def _has_run(job: AbstractJob) -> bool:
    if record_of(job).state is not JobState.IDLE:
        return True
    owner = owner_of(job)
    return owner is not None and record_of(owner).state is not JobState.IDLE


def job_dot_style(job: AbstractJob) -> dict[str, Any]:
    """The DOT attributes of a job's node (for a nested scheduler, of its cluster).

    Args:
        job: any job.

    Returns:
        The attributes by DOT name (``style`` as a list of words): label, shape,
        border, and once its scheduler has run, a fill colour from
        :data:`OUTCOME_COLOURS`.
    """
    style: list[str] = []
    attributes: dict[str, Any] = {}
    label = job.graph_label()
    attributes["label"] = label if label is not None else f"{job.repr_id()}: {job.label}"
    attributes["shape"] = "box"
    if not isinstance(job, Scheduler):
        style.append("rounded")
    if job.forever:
        style.append("dashed")
    if job.critical:
        attributes["color"] = "red"
        attributes["penwidth"] = "2"
    else:
        attributes["penwidth"] = "0.5"
    if _has_run(job):
        outcome = record_of(job).outcome
        style.append("filled")
        colour = OUTCOME_COLOURS.get(outcome, "#ffffff")
        # a nested scheduler's cluster gets a paler tint than the jobs inside it
        attributes["fillcolor"] = colour + "66" if isinstance(job, Scheduler) else colour
        if outcome == "idle":
            attributes["fontcolor"] = NEVER_RAN_FONT
    attributes["style"] = style
    return attributes


def _node(job: AbstractJob) -> str:
    return dot_quote(job.repr_id())


def _cluster(job: AbstractJob) -> str:
    return dot_quote(f"cluster_{job.repr_id()}")


def _empty_node(job: AbstractJob) -> str:
    return dot_quote(f"{job.repr_id()}-empty")


def _edge(tail: str, head: str, attributes: list[str]) -> str:
    """An edge statement. One that ends (``lhead``) or starts (``ltail``) at a cluster's
    border is clipped there: it gets a row more for each border (``minlen``), or
    graphviz leaves it a bare arrowhead against the cluster's label."""
    clipped = sum(attribute.startswith(("lhead=", "ltail=")) for attribute in attributes)
    if clipped:
        attributes = [f"minlen={1 + clipped}", *attributes]
    return f"{tail} -> {head} [{', '.join(attributes)}];" if attributes else f"{tail} -> {head};"


def _middle(jobs: list[AbstractJob]) -> AbstractJob:
    return jobs[(len(jobs) - 1) // 2]


def _anchor(job: AbstractJob, *, entry: bool) -> str:
    """A plain node inside a nested scheduler, where edges to (or from) it attach."""
    while isinstance(job, Scheduler):
        nested = job
        candidates = list(nested.entry_jobs() if entry else nested.exit_jobs())
        if not candidates and not entry:
            candidates = list(nested.exit_jobs(discard_forever=False))
        if not candidates:
            candidates = list(nested.jobs)
        if not candidates:
            return _empty_node(job)
        job = _middle(candidates)
    return _node(job)


def _ranks(scheduler: Scheduler, heights: dict[AbstractJob, int]) -> dict[AbstractJob, int]:
    """The row where graphviz puts each job of the scheduler, counted from the
    scheduler's first row: below all its requirements, a nested scheduler taking as
    many rows as its jobs do (``heights`` caches those)."""
    members = dict.fromkeys(scheduler.jobs)
    ranks: dict[AbstractJob, int] = {}
    for job in scheduler.topological_order():
        ranks[job] = max(
            (ranks[r] + _height(r, heights) for r in requirements_of(job) if r in members),
            default=0,
        )
    return ranks


def _height(job: AbstractJob, heights: dict[AbstractJob, int]) -> int:
    """How many rows a job takes: 1, or the rows of a nested scheduler's jobs."""
    if not isinstance(job, Scheduler):
        return 1
    height = heights.get(job)
    if height is None:
        ranks = _ranks(job, heights)
        height = heights[job] = max(
            (rank + _height(inner, heights) for inner, rank in ranks.items()), default=1
        )
    return height


def _body(
    scheduler: Scheduler,
    lines: list[str],
    anchors: dict[AbstractJob, str],
    drawn: set[AbstractJob],
    heights: dict[AbstractJob, int],
) -> None:
    """Append the DOT statements of a scheduler's jobs; ``anchors`` caches the exit
    anchors of nested schedulers, which may be required by many jobs (and the
    placeholder nodes of required jobs outside the drawing), ``heights`` the rows
    nested schedulers take; ``drawn`` is every job of the drawing."""

    def exit_anchor(job: AbstractJob) -> str:
        anchor = anchors.get(job)
        if anchor is None:
            anchor = anchors[job] = _anchor(job, entry=False)
        return anchor

    def draw_refused(job: AbstractJob, head: str, lhead: str | None) -> None:
        """Red dashed edges for the requirements that run() refuses (see list())."""
        for requirement, holder in refused_requirements(job):
            label = (
                f"refused: require {holder.repr_id()}"
                if holder is not None
                else "refused: not in this scheduler"
            )
            attributes = [] if lhead is None else [f"lhead={lhead}"]
            if requirement in drawn:
                tail = exit_anchor(requirement)
                if isinstance(requirement, Scheduler):
                    attributes.append(f"ltail={_cluster(requirement)}")
            else:
                tail = anchors.get(requirement, "")
                if not tail:
                    tail = anchors[requirement] = dot_quote(f"outside-{len(anchors)}")
                    lines.append(
                        f"{tail} [label={dot_quote(repr(requirement.label))}, "
                        'shape="plaintext", fontcolor="red"];'
                    )
            attributes += ['color="red"', 'fontcolor="red"', 'style="dashed"']
            attributes.append(f"label={dot_quote(label)}")
            lines.append(_edge(tail, head, attributes))

    members = dict.fromkeys(scheduler.jobs)
    ranks = _ranks(scheduler, heights)
    by_rank: dict[int, list[AbstractJob]] = {}
    for job in scheduler.topological_order():
        # requirements on jobs of other schedulers are drawn apart, as refused
        all_requirements = requirements_of(job)
        requirements = [r for r in all_requirements if r in members]
        if not isinstance(job, Scheduler):
            by_rank.setdefault(ranks[job], []).append(job)
        if isinstance(job, Scheduler):
            nested = job
            lines.append(f"subgraph {_cluster(job)} {{")
            style = {key: value for key, value in job.dot_style().items() if key != "shape"}
            lines.append(f"graph [{_attributes(style)}];")
            if not nested.jobs:
                lines.append(f'{_empty_node(job)} [label="(empty)", shape="plaintext"];')
            _body(nested, lines, anchors, drawn, heights)
            lines.append("}")
            head = _anchor(job, entry=True)
            if len(requirements) < len(all_requirements):
                draw_refused(job, head, _cluster(job))
            for requirement in requirements:
                attributes = [f"lhead={_cluster(job)}"]
                if isinstance(requirement, Scheduler):
                    attributes.append(f"ltail={_cluster(requirement)}")
                lines.append(_edge(exit_anchor(requirement), head, attributes))
        else:
            lines.append(f"{_node(job)} [{_attributes(job.dot_style())}];")
            for requirement in requirements:
                if isinstance(requirement, Scheduler):
                    tail, attributes = exit_anchor(requirement), [f"ltail={_cluster(requirement)}"]
                else:
                    tail, attributes = _node(requirement), []
                lines.append(_edge(tail, _node(job), attributes))
            if len(requirements) < len(all_requirements):
                draw_refused(job, _node(job), None)
    # the jobs of a row side by side in the order of their numbers: graphviz would
    # otherwise shuffle them (reversing a cluster's first row, say)
    for row in by_rank.values():
        if len(row) > 1:
            chain = " -> ".join(_node(job) for job in row)
            lines.append(f"{{rank=same; {chain} [style=invis];}}")


def dot_format(scheduler: Scheduler) -> str:
    """The scheduler's graph in the DOT language (no graphviz needed).

    Jobs are numbered as listings number them (see :func:`number_jobs`).

    Args:
        scheduler: the scheduler to draw.

    Returns:
        The DOT source text.

    Raises:
        CycleError: the jobs form a cycle.
    """
    number_jobs(scheduler)
    # compound: edges may end at a cluster's border; no second crossing minimization
    # over the whole graph, which would undo the order of rows inside clusters
    lines = ["digraph jobgraph {", "compound=true;", "remincross=false;"]
    label = scheduler.explicit_label
    if label is not None:
        lines.append(f'graph [label={dot_quote(label)}, labelloc="t"];')
    lines.append('graph [fontname="Helvetica"];')
    lines.append('node [fontname="Helvetica"];')
    _body(scheduler, lines, {}, set(scheduler.iterate_jobs(scan_schedulers=True)), {})
    lines.append("}")
    return "\n".join(lines) + "\n"


def import_pydot() -> Any:
    """Import pydot and its DOT parser, which trips deprecation warnings of newer
    pyparsing releases when it loads; those are not the user's business."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import pydot
            import pydot.dot_parser
        except ImportError:
            raise MissingDependencyError("Scheduler.graph()", "pydot", "graph") from None
    return pydot


def pydot_graph(scheduler: Scheduler) -> Any:
    """The scheduler's graph as a ``pydot.Dot``.

    Args:
        scheduler: the scheduler to draw.

    Returns:
        A ``pydot.Dot`` parsed from :func:`dot_format`.

    Raises:
        MissingDependencyError: ``pydot`` is not installed (``pip install
            'jobgraph[graph]'``).
        CycleError: the jobs form a cycle.
    """
    pydot = import_pydot()
    graphs = pydot.graph_from_dot_data(dot_format(scheduler))
    assert graphs
    return graphs[0]


def _dot_program() -> str:
    program = shutil.which("dot")
    if program is None:
        raise FileNotFoundError(_MISSING_DOT)
    return program


def render(
    scheduler: Scheduler,
    filename: str | os.PathLike[str],
    suffix: str,
    *,
    keep_dot: bool = False,
) -> str:
    """Render the scheduler's DOT text into ``<filename>.<suffix>`` with ``dot``.

    ``filename`` may already end with ``.<suffix>``. The DOT text goes to ``dot``
    through a pipe; ``keep_dot=True`` also writes it to ``<filename>.dot``. Returns
    the rendered file's name.
    """
    suffix = suffix.lstrip(".")
    base = os.fspath(filename)
    if base.endswith(f".{suffix}"):
        base = base[: -len(suffix) - 1]
    output = f"{base}.{suffix}"
    source = dot_format(scheduler)
    program = _dot_program()
    if keep_dot:
        Path(f"{base}.dot").write_text(source, encoding="utf-8")
    completed = subprocess.run(  # noqa: S603 - a fixed program fed our own text
        [program, f"-T{suffix}", "-o", output],
        input=source.encode("utf-8"),
        capture_output=True,
        check=False,
    )
    if completed.returncode != 0:
        error = completed.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"dot failed to render {output}: {error}")
    return output


# notebooks draw schedulers up to this many jobs (nested ones included); beyond, graphviz
# would take minutes and the drawing would be unreadable anyway
NOTEBOOK_MAX_JOBS = 500
NOTEBOOK_TIMEOUT = 20.0  # seconds given to dot before a notebook falls back to text


def svg_text(scheduler: Scheduler) -> str | None:
    """The scheduler's graph rendered as SVG text, for notebooks.

    Args:
        scheduler: the scheduler to draw.

    Returns:
        The SVG text; None (so that notebooks show the text ``repr``) if ``dot`` is
        missing, fails or takes longer than ``NOTEBOOK_TIMEOUT`` (20 s), if the graph
        has a cycle, or if it has more than ``NOTEBOOK_MAX_JOBS`` (500) jobs.
    """
    program = shutil.which("dot")
    if program is None:
        return None
    jobs = scheduler.iterate_jobs(scan_schedulers=True)
    if any(True for _ in itertools.islice(jobs, NOTEBOOK_MAX_JOBS, None)):
        return None
    try:
        source = dot_format(scheduler)
    except CycleError:
        return None
    try:
        completed = subprocess.run(  # noqa: S603 - a fixed program fed our own text
            [program, "-Tsvg"],
            input=source.encode("utf-8"),
            capture_output=True,
            check=False,
            timeout=NOTEBOOK_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return None
    if completed.returncode != 0:
        return None
    return completed.stdout.decode("utf-8")


def export_as_dotfile(scheduler: Scheduler, filename: str | os.PathLike[str]) -> str:
    """Write the scheduler's :meth:`~jobgraph.Scheduler.dot_format` to ``filename``.

    Args:
        scheduler: the scheduler to draw.
        filename: the file to (over)write.

    Returns:
        A message saying which file was (over)written.

    Raises:
        JobDefinitionError: ``filename`` is not a str or path-like.
        InvalidOptionError: ``filename`` is empty.
        CycleError: the jobs form a cycle.
    """
    checked_path("export_as_dotfile", filename).write_text(scheduler.dot_format(), encoding="utf-8")
    return f"(Over)wrote {filename}"


def export_as_graphic(
    scheduler: Scheduler,
    filename: str | os.PathLike[str],
    suffix: str,
    *,
    keep_dot: bool = False,
) -> str:
    """Render the graph with graphviz's ``dot`` into ``<filename>.<suffix>``.

    Nothing else is written, unless ``keep_dot`` asks for the DOT source next to it,
    in ``<filename>.dot`` (as asynciojobs does).

    Args:
        scheduler: the scheduler to draw.
        filename: the file to write, with or without its suffix.
        suffix: a graphviz output format: ``svg``, ``png``, ``pdf``...
        keep_dot: also write the DOT source to ``<filename>.dot``.

    Returns:
        The rendered file's name.

    Raises:
        JobDefinitionError: ``filename`` is not a str or path-like.
        InvalidOptionError: ``filename`` is empty, or ``suffix`` names no format.
        FileNotFoundError: graphviz's ``dot`` is not installed (Debian and Ubuntu:
            ``apt-get install graphviz``).
        RuntimeError: ``dot`` failed.
    """
    checked_path("export_as_graphic", filename)
    if not isinstance(suffix, str) or not GRAPHVIZ_SUFFIX.fullmatch(suffix.lstrip(".")):
        raise InvalidOptionError(
            f"export_as_graphic(): suffix must name a graphviz format such as 'svg' or "
            f"'png', not {suffix!r}"
        )
    return render(scheduler, filename, suffix, keep_dot=keep_dot)
