"""``jobgraph-ssh``: run a command, a script or a file transfer on many hosts at once.

``python -m jobgraph_ssh`` runs it too. See ``jobgraph-ssh --help`` and docs/cli.md.
The modules: ``_targets`` (``-t`` / ``-x`` values), ``_options`` (the command line),
``_run`` (nodes, jobs, the run, Ctrl-C), ``_output`` (output lines, progress, summary,
JSON, marks).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from jobgraph.lowlevel import fixup_module_metadata as _fixup_module_metadata

from ._options import PROG, Options, UsageError, parse
from ._targets import (
    ENV_TARGETS_DIR,
    Host,
    TargetError,
    locate_targets,
    parse_host,
    user_targets_dir,
)

if TYPE_CHECKING:
    from ._run import Session

__all__ = [
    "ENV_TARGETS_DIR",
    "Host",
    "Options",
    "TargetError",
    "UsageError",
    "locate_targets",
    "main",
    "parse_host",
    "user_targets_dir",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_STDOUT_CLOSED = 141  # 128 + SIGPIPE: what a shell shows for `seq 1 100000 | head -1`


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``jobgraph-ssh`` command (the console script and ``python -m jobgraph_ssh``).

    It prints the hosts' output, a progress view and a summary; a usage error is
    printed on stderr, on one line. Host keys are checked strictly unless
    ``--known-hosts`` says otherwise.

    Args:
        argv: the arguments, without the program name; None for ``sys.argv[1:]``.

    Local trouble never fails a host: characters that stdout's encoding cannot hold
    are written as escapes, and when stdout's reader goes away (``| head -1``) the
    output stops quietly while the run goes on to its end, ``--json`` and ``--mark``
    included.

    Returns:
        The exit status, 0 when every host succeeded, 1 when some did not (or timed
        out, or a ``--json``/``--mark`` file could not be written at the end), 2 for
        a usage error (nothing contacted; output paths that cannot be written
        included), 128 + the signal number when interrupted (130 for Ctrl-C, 143 for
        SIGTERM): the remote commands are stopped first, unless a second Ctrl-C asks
        to exit at once. 141 (128 + SIGPIPE, as for a Unix tool) when stdout was
        closed before the end, whatever the hosts did: the summary, ``--json`` and
        ``--mark`` say that.
    """
    from ._output import degrade_encoding_errors, flush_stdout, stdout_closed

    degrade_encoding_errors()
    try:
        status = _main(argv)
    except KeyboardInterrupt:  # before the run started, or after it ended
        sys.stderr.write(f"{PROG}: interrupted\n")
        status = EXIT_INTERRUPTED
    flush_stdout()
    if stdout_closed() and status != EXIT_USAGE:
        return EXIT_STDOUT_CLOSED
    return status


def _main(argv: Sequence[str] | None) -> int:
    from ._output import (
        LineSink,
        check_output_paths,
        make_display,
        write_stdout,
    )
    from ._run import build, execute, plan

    args = sys.argv[1:] if argv is None else list(argv)
    try:
        options = parse(args)
    except UsageError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    for note in options.notes:
        sys.stderr.write(f"{PROG}: note: {note}\n")
    if options.dry_run:
        write_stdout(plan(options))
        return EXIT_OK
    try:  # before connecting: a run's outcome must not be lost for want of a place
        check_output_paths(
            out_dir=options.out_dir, json_file=options.json_file, mark_dir=options.mark_dir
        )
    except UsageError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return EXIT_USAGE
    json_to_stdout = options.json_file == "-"
    display = make_display(
        options.format,
        out_dir=options.out_dir,
        to_stdout=not options.quiet and not json_to_stdout,
        verbose=options.verbose,
    )
    sink = LineSink(display, keep=options.json_file is not None, verbose=options.verbose)
    try:
        run = build(options, sink)
        execute(run)
    finally:
        sink.close()
    return _finish(options, run)


def _finish(options: Options, run: Session) -> int:
    """Write --json and --mark, print the summary; the exit status."""
    from ._output import print_summary, write_json, write_marks

    unwritten: list[str] = []  # said after the summary, which is printed whatever happens
    if options.json_file is not None:
        try:
            write_json(options.json_file, run.outcomes)
        except OSError as exc:
            unwritten.append(f"--json {options.json_file!r}: {exc.strerror or exc}")
    if options.mark_dir is not None:
        problems = write_marks(options.mark_dir, run.outcomes)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            unwritten.append(f"--mark {options.mark_dir!r}: {problems[0]}{more}")
    print_summary(run.outcomes, run.elapsed, title=f"{PROG}: {options.describe_command()}")
    for what in unwritten:
        sys.stderr.write(f"{PROG}: could not write {what}\n")
    if run.interrupted:
        return 128 + int(run.interrupted)
    if unwritten:
        return EXIT_FAILED
    return EXIT_OK if all(outcome.ok for outcome in run.outcomes) else EXIT_FAILED


_fixup_module_metadata(__name__, globals())
