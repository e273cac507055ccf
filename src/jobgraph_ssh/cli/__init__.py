"""``jobgraph-ssh``: run a command, a script or a file transfer on many hosts at once.

``python -m jobgraph_ssh`` runs it too. See ``jobgraph-ssh --help`` and docs/cli.md.
The modules: ``_targets`` (``-t`` / ``-x`` values), ``_options`` (the command line),
``_run`` (nodes, jobs, the run, Ctrl-C), ``_output`` (output lines, progress, summary,
JSON, marks).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ._options import PROG, Options, UsageError, parse
from ._targets import Host, TargetError, parse_host, user_targets_dir

__all__ = [
    "Host",
    "Options",
    "TargetError",
    "UsageError",
    "main",
    "parse_host",
    "user_targets_dir",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``jobgraph-ssh`` command (the console script and ``python -m jobgraph_ssh``).

    It prints the hosts' output, a progress view and a summary; a usage error is
    printed on stderr, on one line. Host keys are checked strictly unless
    ``--known-hosts`` says otherwise.

    Args:
        argv: the arguments, without the program name; None for ``sys.argv[1:]``.

    Returns:
        The exit status, 0 when every host succeeded, 1 when some did not (or timed
        out), 2 for a usage error (nothing contacted), 128 + the signal number when
        interrupted (130 for Ctrl-C, 143 for SIGTERM): the remote commands are
        stopped first, unless a second Ctrl-C asks to exit at once.
    """
    try:
        return _main(argv)
    except KeyboardInterrupt:  # before the run started, or after it ended
        sys.stderr.write(f"{PROG}: interrupted\n")
        return EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    from ._output import LineSink, make_display, print_summary, write_json, write_marks
    from ._run import build, execute, plan

    args = sys.argv[1:] if argv is None else list(argv)
    try:
        options = parse(args)
    except UsageError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    if options.dry_run:
        sys.stdout.write(plan(options))
        return EXIT_OK
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
    if options.json_file is not None:
        write_json(options.json_file, run.outcomes)
    if options.mark_dir is not None:
        write_marks(options.mark_dir, run.outcomes)
    print_summary(run.outcomes, run.elapsed, title=f"{PROG}: {options.describe_command()}")
    if run.interrupted:
        return 128 + int(run.interrupted)
    return EXIT_OK if all(outcome.ok for outcome in run.outcomes) else EXIT_FAILED
