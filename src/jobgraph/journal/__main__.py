"""``python -m jobgraph.journal FILE [show RUN | diff RUN1 RUN2] [--json]``: read a journal."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from jobgraph.journal import Journal, JournalError, RunInfo

__all__ = ["main"]


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def _run_line(info: RunInfo) -> str:
    duration = "-" if info.duration is None else f"{info.duration:.3f}s"
    counts = ", ".join(f"{number} {name}" for name, number in sorted(info.counts.items()))
    outcome = info.outcome or "unfinished"
    resumed = "" if info.resumed_from is None else f" (resumed {info.resumed_from})"
    return (
        f"{info.id:>4}  {_when(info.started)}  {outcome:<11} {duration:>10}  "
        f"{info.label}{resumed}: {counts or 'no jobs'}"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jobgraph.journal",
        description="List the runs of a jobgraph journal, show one, or compare two.",
    )
    parser.add_argument("journal", help="the journal file (runs.db)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    sub = parser.add_subparsers(dest="command")
    show = sub.add_parser("show", help="the debrief of one run")
    show.add_argument("run", nargs="?", default="latest", help="run id (default: latest)")
    # SUPPRESS: a subcommand's own default would undo a --json given before it
    show.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    diff = sub.add_parser("diff", help="jobs whose outcome or duration changed")
    diff.add_argument("run1")
    diff.add_argument("run2", nargs="?", default="latest")
    diff.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        help="a duration change counts beyond this fraction (default 0.5)",
    )
    diff.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0, or 1 when the journal cannot be read (the message says
        why), or 2 for a usage error.
    """
    args = _parser().parse_args(argv)
    journal = Journal(args.journal)
    try:
        if args.command == "show":
            info = journal.run(args.run)
            if args.json:
                data = info.as_dict()
                data["jobs"] = [job.as_dict() for job in journal.jobs(info.id)]
                _say(json.dumps(data, indent=2))
            else:
                _say(journal.debrief(info.id))
        elif args.command == "diff":
            changes = journal.diff(args.run1, args.run2, threshold=args.threshold)
            if args.json:
                _say(json.dumps(changes, indent=2))
            elif not changes:
                _say("no job changed")
            else:
                for change in changes:
                    before = _state(change["before"], change["duration_before"])
                    after = _state(change["after"], change["duration_after"])
                    _say(f"{change['change']:<9} {change['key']}: {before} -> {after}")
        else:
            runs = journal.runs()
            if args.json:
                _say(json.dumps([info.as_dict() for info in runs], indent=2))
            elif not runs:
                _say(f"no run in {args.journal}")
            else:
                for info in runs:
                    _say(_run_line(info))
    except JournalError as exc:
        _say(f"python -m jobgraph.journal: {exc}", err=True)
        return 1
    return 0


def _say(text: str, *, err: bool = False) -> None:
    (sys.stderr if err else sys.stdout).write(text + "\n")


def _state(outcome: str | None, duration: float | None) -> str:
    if outcome is None:
        return "absent"
    return outcome if duration is None else f"{outcome} {duration:.3f}s"


if __name__ == "__main__":
    sys.exit(main())
