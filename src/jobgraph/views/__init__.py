"""Views of the engine: listings, reports, drawings, timelines, graph queries, live progress.

Views sit beside the engine, not inside it: each is a function (or, for
:class:`Progress`, a class) that takes a scheduler and reads it through its public
accessors (``jobs``, ``record``, a job's ``requirements``...) and the events of
:meth:`~jobgraph.Scheduler.subscribe`. The methods of :class:`~jobgraph.Scheduler` that
show it (``s.list()``, ``s.debrief()``, ``s.dot_format()``, ``s.topological_order()``...)
are one-line delegates to the functions here.

To add a view, write a module here (or anywhere: a view needs nothing private) and
export its functions below; nothing in the engine changes.
"""

from jobgraph.lowlevel import fixup_module_metadata as _fixup_module_metadata

from ._dot import (
    OUTCOME_COLOURS,
    dot_format,
    export_as_dotfile,
    export_as_graphic,
    job_dot_style,
    pydot_graph,
    svg_text,
)
from ._graph import (
    bypass_and_remove,
    check_cycles,
    entry_jobs,
    exit_jobs,
    iterate_jobs,
    keep_only,
    keep_only_between,
    predecessors,
    predecessors_upstream,
    refused_requirements,
    sanitize,
    successors,
    successors_downstream,
    topological_order,
)
from ._listing import (
    Symbols,
    counts,
    debrief_text,
    entries_repr,
    exits_repr,
    job_number,
    list_safe_text,
    list_text,
    main_repr,
    number_jobs,
    number_jobs_safe,
    requires_repr,
    result_repr,
    stats,
    status_columns,
    symbols,
    text_label,
)
from ._output import print_text
from ._progress import Progress
from ._report import export_report, report
from ._timeline import TIMELINE_MAX_JOBS, export_timeline_svg, timeline_svg

__all__ = [
    "OUTCOME_COLOURS",
    "TIMELINE_MAX_JOBS",
    "Progress",
    "Symbols",
    "bypass_and_remove",
    "check_cycles",
    "counts",
    "debrief_text",
    "dot_format",
    "entries_repr",
    "entry_jobs",
    "exit_jobs",
    "exits_repr",
    "export_as_dotfile",
    "export_as_graphic",
    "export_report",
    "export_timeline_svg",
    "iterate_jobs",
    "job_dot_style",
    "job_number",
    "keep_only",
    "keep_only_between",
    "list_safe_text",
    "list_text",
    "main_repr",
    "number_jobs",
    "number_jobs_safe",
    "predecessors",
    "predecessors_upstream",
    "print_text",
    "pydot_graph",
    "refused_requirements",
    "report",
    "requires_repr",
    "result_repr",
    "sanitize",
    "stats",
    "status_columns",
    "successors",
    "successors_downstream",
    "svg_text",
    "symbols",
    "text_label",
    "timeline_svg",
    "topological_order",
]

_fixup_module_metadata(__name__, globals())
