"""The command line: parsing ``argv`` into checked :class:`Options`.

Everything that can be checked without connecting is checked here (targets, key
files, local files to push or run); a problem is one :class:`UsageError` naming the
culprit, which the command prints on one line before exiting with status 2.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jobgraph
from jobgraph_ssh import SshOptions
from jobgraph_ssh.lowlevel import (
    DEFAULT_CONNECT_TIMEOUT,
    HOST_KEY_POLICIES,
    KeyImportFailed,
    import_private_key,
)

from ._targets import Host, TargetError, exclude, expand, parse_host, user_targets_dir

__all__ = ["FORMATS", "Options", "UsageError", "build_parser", "parse"]

PROG = "jobgraph-ssh"
FORMATS = ("host", "raw", "time")
BACKENDS = ("asyncio", "trio")
DEFAULT_WINDOW = 100
_HOST_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # a bare name: no user, port or path

EXAMPLES = """\
examples:
  jobgraph-ssh -t node1 -t node2 uname -r
  jobgraph-ssh -t 'root@db1 root@db2:2222' -- df -h /
  jobgraph-ssh -t ./hosts.txt -x ./broken.txt -w 20 --command-timeout 60 'apt-get -y upgrade'
  jobgraph-ssh -t lab -g ops@bastion.example.org -u root -s setup.sh --verbose -i lib.sh
  jobgraph-ssh -t ./hosts.txt --mark marks uptime      # then: -t marks/ok, or retry -t marks/ko
  jobgraph-ssh -t ./hosts.txt --push app.conf lib/ /etc/app/
  jobgraph-ssh -t ./hosts.txt --pull /var/log/syslog logs/   # logs/<host>/syslog
  jobgraph-ssh -t ./hosts.txt -q --json - hostname | jq '.[] | .stdout'
  jobgraph-ssh -t ./hosts.txt --dry-run -s deploy.sh

targets: a -t/-x value is a file of host names (# comments), a directory whose file
names are host names (as --mark writes), or a string of host names. A path (with a
'/', or starting with '.' or '~') is a file or directory, also looked up in
{targets_dir} ($JOBGRAPH_SSH_TARGETS overrides it);
a bare name is a file of that directory, else a host name: it is never read from the
current directory (write ./NAME for that). A host is [user@]host[:port].

exit status: 0 when every host succeeded, 1 when some failed (or timed out, or a
--json/--mark file could not be written at the end), 2 for a usage error (nothing was
contacted), 130 when interrupted (Ctrl-C), 141 when stdout was closed early (| head).
"""


class UsageError(Exception):
    """A command line that cannot run; the message names the culprit."""


@dataclass
class Options:
    """What a run does, checked (what :func:`parse` makes of a command line).

    Attributes:
        hosts: the hosts to run on, without repeats and exclusions (``-t``, ``-x``).
        ssh: how to connect, every host and gateway (a
            :class:`~jobgraph_ssh.SshOptions`): ``username`` (``-u``, for hosts that
            do not name one; None for the local user), ``port`` (``-p``, for hosts
            that do not give one; gateways use 22 unless they give one), ``keys``
            (``-k``; None for the SSH agent, then ``~/.ssh/id_*``),
            ``connect_timeout`` (``--connect-timeout``, per host, default 30),
            ``host_key_policy`` (``--known-hosts``: ``"strict"`` by default,
            ``"accept-new"`` or ``"ignore"``) and ``known_hosts``, the file
            (``--known-hosts-file``; None for ``~/.ssh/known_hosts``).
        gateways: hosts to go through, nearest first (``-g``).
        mode: ``"command"`` (default), ``"script"``, ``"push"`` or ``"pull"``.
        command: the command line's words (mode command), or the script's arguments.
        script: the local script (mode script), else None.
        includes: files copied next to the script (``-i``).
        paths: what to push (local) or pull (remote).
        destination: the directory to push to (remote) or pull to (local, one
            subdirectory per host).
        window: hosts at once (``-w``, default 100); None for all.
        handshakes: SSH handshakes in flight at once (``--handshakes``); None for
            the library's default (8).
        timeout: the whole run's limit in seconds (``--timeout``); None for none.
        command_timeout: each host's limit in seconds for its command or transfer;
            None for none.
        format: how output lines look: ``"host"`` (default), ``"raw"`` or ``"time"``.
        out_dir: write each host's output to files there (``-d``) rather than stdout.
        json_file: write per-host results as JSON there (``"-"``: stdout), or None.
        mark_dir: write ``ok/HOST`` and ``ko/HOST`` marks there, or None.
        journal: record the run in this journal file (``--journal``), or None.
        resume: run only the hosts that did not succeed in the journal's last run of the
            same command and targets (``--resume``).
        quiet: no output lines and no progress, only the summary (``-q``).
        dry_run: print what would run where, connect to nothing (``-n``).
        verbose: show connection events too (``-v``).
        backend: the event loop to run on: ``"asyncio"`` (default) or ``"trio"``.
        notes: things to tell the user before the run (a target taken as a host name
            although it looks like a file name).
    """

    hosts: list[Host]
    ssh: SshOptions = field(default_factory=SshOptions)
    gateways: list[Host] = field(default_factory=list)
    mode: str = "command"  # "command", "script", "push" or "pull"
    command: list[str] = field(default_factory=list)
    script: str | None = None
    includes: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # push / pull sources
    destination: str = ""  # push / pull destination directory
    window: int | None = DEFAULT_WINDOW
    handshakes: int | None = None
    timeout: float | None = None
    command_timeout: float | None = None
    format: str = "host"
    out_dir: str | None = None
    json_file: str | None = None
    mark_dir: str | None = None
    journal: str | None = None
    resume: bool = False
    quiet: bool = False
    dry_run: bool = False
    verbose: bool = False
    backend: str = "asyncio"  # the event loop the scheduler runs on: asyncio or trio
    notes: list[str] = field(default_factory=list)

    def describe_command(self) -> str:
        """What runs on each host, in words (dry run, summary title).

        Returns:
            The command line, ``script NAME ARGS``, ``push PATHS -> DIR`` or
            ``pull PATHS -> DIR/<host>/``.
        """
        if self.mode == "script":
            args = " ".join(self.command)
            includes = f" (with {', '.join(self.includes)})" if self.includes else ""
            return f"script {self.script}{' ' + args if args else ''}{includes}"
        if self.mode == "push":
            return f"push {' '.join(self.paths)} -> {self.destination}"
        if self.mode == "pull":
            return f"pull {' '.join(self.paths)} -> {self.destination}/<host>/"
        return " ".join(self.command)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _positive(kind: type[int] | type[float], what: str) -> Callable[[str], int | float]:
    def convert(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, not {text!r}") from None
        if not 0 < value < float("inf"):  # NaN too: a node refuses what means nothing
            raise argparse.ArgumentTypeError(f"{what} must be a finite number > 0, not {text!r}")
        return value

    return convert


def build_parser(environ: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """The argument parser (``--help`` shows examples and the targets directory)."""
    parser = _Parser(
        prog=PROG,
        description="Run a command, a script, or a file transfer on many hosts over SSH, "
        "at once, with a live progress view and a summary.",
        epilog=EXAMPLES.format(targets_dir=user_targets_dir(environ)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    group = parser.add_argument_group("targets")
    group.add_argument(
        "-t", "--target", action="append", default=[], metavar="TARGET",
        help="hosts to run on: a file, a directory or a string of hosts (repeatable)",
    )  # fmt: skip
    group.add_argument(
        "-x", "--exclude", action="append", default=[], metavar="TARGET",
        help="hosts to leave out, given the same way (repeatable)",
    )  # fmt: skip
    group = parser.add_argument_group("connection")
    group.add_argument("-u", "--user", help="remote user for hosts that do not name one")
    group.add_argument(
        "-p", "--port", type=_positive(int, "--port"),
        help="SSH port for hosts that do not give one (default 22)",
    )  # fmt: skip
    group.add_argument(
        "-k", "--key", action="append", metavar="FILE",
        help="private key file (repeatable); default: the SSH agent, then ~/.ssh/id_*",
    )  # fmt: skip
    group.add_argument(
        "-g", "--gateway", action="append", default=[], metavar="[USER@]HOST[:PORT]",
        help="reach the hosts through this host (or a file of the targets directory "
        "naming one host); repeat for a chain, nearest first",
    )  # fmt: skip
    group.add_argument(
        "--connect-timeout", type=_positive(float, "--connect-timeout"),
        default=DEFAULT_CONNECT_TIMEOUT, metavar="SECONDS",
        help=f"seconds to connect and log in (default {DEFAULT_CONNECT_TIMEOUT:g})",
    )  # fmt: skip
    group.add_argument(
        "--known-hosts", choices=HOST_KEY_POLICIES, default="strict", metavar="POLICY",
        dest="host_key_policy",
        help="host key check: strict (default: the key must be known), accept-new "
        "(record unknown keys), or ignore (no check)",
    )  # fmt: skip
    group.add_argument(
        "--known-hosts-file", metavar="FILE",
        help="the known_hosts file (default ~/.ssh/known_hosts)",
    )  # fmt: skip
    group = parser.add_argument_group("what to run (default: the command line after the options)")
    group.add_argument(
        "-s", "--script", metavar="LOCAL_SCRIPT",
        help="copy this local script to each host and run it, with the remaining "
        "arguments as its arguments",
    )  # fmt: skip
    group.add_argument(
        "-i", "--include", action="append", default=[], metavar="FILE",
        help="a file the script needs, copied next to it (repeatable)",
    )  # fmt: skip
    group.add_argument(
        "--push", action="store_true",
        help="copy local files: the arguments are LOCAL... REMOTE_DIR; each file is "
        "hashed once, hosts holding it already are skipped, uploads are atomic (mode kept)",
    )  # fmt: skip
    group.add_argument(
        "--pull", action="store_true",
        help="copy remote files: the arguments are REMOTE... LOCAL_DIR; each host's "
        "files go to LOCAL_DIR/<host>/",
    )  # fmt: skip
    group = parser.add_argument_group("concurrency and time")
    group.add_argument(
        "-w", "--window", type=int, default=DEFAULT_WINDOW, metavar="N",
        help=f"hosts at once (default {DEFAULT_WINDOW}; 0: all)",
    )  # fmt: skip
    group.add_argument(
        "--timeout", type=_positive(float, "--timeout"), metavar="SECONDS",
        help="the whole run's time limit; hosts still running are stopped",
    )  # fmt: skip
    group.add_argument(
        "--command-timeout", type=_positive(float, "--command-timeout"), metavar="SECONDS",
        help="each host's time limit for its command or transfer",
    )  # fmt: skip
    group.add_argument(
        "--handshakes", type=_positive(int, "--handshakes"), metavar="N",
        help="SSH handshakes in flight at once, all hosts together (default 8, below "
        "OpenSSH's MaxStartups); raise it for many hosts, each with its own sshd",
    )  # fmt: skip
    group = parser.add_argument_group("output")
    group.add_argument(
        "-f", "--format", choices=FORMATS, default="host",
        help="output lines: host (prefixed 'host: ', default), raw, or time "
        "(prefixed 'HH:MM:SS host: ')",
    )  # fmt: skip
    group.add_argument(
        "-d", "--out-dir", metavar="DIR",
        help="write each host's output to DIR/<host>.out and DIR/<host>.err instead",
    )  # fmt: skip
    group.add_argument(
        "--json", metavar="FILE",
        help="write per-host results as JSON to FILE ('-': stdout, instead of the output lines)",
    )  # fmt: skip
    group.add_argument(
        "--mark", metavar="DIR",
        help="write DIR/ok/<host> or DIR/ko/<host> for each host (usable as targets)",
    )  # fmt: skip
    group.add_argument(
        "--journal", metavar="FILE",
        help="record the run in the journal FILE (python -m jobgraph.journal FILE reads it)",
    )  # fmt: skip
    group.add_argument(
        "--resume", action="store_true",
        help="with --journal: run only the hosts that did not succeed last time "
        "(same command, same targets)",
    )  # fmt: skip
    group.add_argument(
        "-q", "--quiet", action="store_true",
        help="no output lines and no progress: only the summary",
    )  # fmt: skip
    group.add_argument(
        "-v", "--verbose", action="store_true", help="show connection events too",
    )  # fmt: skip
    group.add_argument(
        "-n", "--dry-run", action="store_true",
        help="print what would run where, and connect to nothing",
    )  # fmt: skip
    group.add_argument(
        "--backend", choices=BACKENDS, default="asyncio",
        help="the event loop to run on: asyncio (default) or trio",
    )  # fmt: skip
    parser.add_argument(
        "--version", action="version", version=f"{PROG} {jobgraph.__version__}",
        help="print the version and exit",
    )  # fmt: skip
    parser.add_argument("arguments", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def _hosts(
    values: Sequence[str], environ: Mapping[str, str] | None, notes: list[str]
) -> list[Host]:
    hosts: list[Host] = []
    for value in values:
        hosts.extend(expand(value, environ=environ, notes=notes))
    return hosts


def _gateway(text: str, environ: Mapping[str, str] | None) -> Host:
    """A ``-g`` value: ``[user@]host[:port]``, or the name of a file of the per-user
    targets directory that holds exactly one host (as the sandbox's ``node1``)."""
    listed = user_targets_dir(environ) / text
    if _HOST_WORD.fullmatch(text) and listed.is_file():
        hosts = expand(str(listed), environ=environ)
        if len(hosts) != 1:
            raise TargetError(f"--gateway {text!r}: {listed} lists {len(hosts)} hosts, not one")
        return hosts[0]
    return parse_host(text, where="--gateway")


def _check_key(path: str) -> None:
    try:
        data = Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read key file {path!r}: {exc.strerror or exc}") from exc
    try:
        import_private_key(data)
    except KeyImportFailed as exc:
        if exc.encrypted:
            raise UsageError(
                f"key file {path!r} is encrypted: load it in ssh-agent (ssh-add) and leave out -k"
            ) from exc
        raise UsageError(f"key file {path!r} is not a private key: {exc}") from exc


def parse(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Options:
    """Parse and check a command line (without the program name).

    Raises:
        UsageError: naming what is wrong (exit status 2, nothing contacted).
    """
    parser = build_parser(environ)
    ns = parser.parse_args(list(argv))
    arguments: list[str] = list(ns.arguments)
    if arguments[:1] == ["--"]:
        arguments = arguments[1:]
    notes: list[str] = []
    try:
        targets = _hosts(ns.target, environ, notes)
        excluded = _hosts(ns.exclude, environ, notes)
        gateways = [_gateway(text, environ) for text in ns.gateway]
    except TargetError as exc:
        raise UsageError(str(exc)) from exc
    if not ns.target:
        raise UsageError("no targets: give hosts with -t/--target")
    hosts = exclude(targets, excluded)
    if not hosts:
        what = "after exclusions" if targets else "the targets name no host"
        raise UsageError(f"no targets ({what}): {', '.join(ns.target)}")
    if ns.user is not None and not ns.user:
        raise UsageError("--user must not be empty")
    if ns.window < 0:
        raise UsageError(f"--window must be 0 (no limit) or positive, not {ns.window}")
    for key in ns.key or ():
        _check_key(key)
    modes = [name for name in ("script", "push", "pull") if getattr(ns, name)]
    if len(modes) > 1:
        raise UsageError(f"choose one of -s/--script, --push, --pull (not {' and '.join(modes)})")
    options = Options(
        hosts=hosts,
        ssh=_ssh_options(ns),
        gateways=gateways,
        window=ns.window or None,
        handshakes=ns.handshakes,
        timeout=ns.timeout,
        command_timeout=ns.command_timeout,
        format=ns.format,
        out_dir=ns.out_dir,
        json_file=ns.json,
        mark_dir=ns.mark,
        journal=ns.journal,
        resume=ns.resume,
        quiet=ns.quiet,
        dry_run=ns.dry_run,
        verbose=ns.verbose,
        backend=ns.backend,
        notes=notes,
    )
    if ns.resume and not ns.journal:
        raise UsageError("--resume needs --journal FILE (the journal to resume from)")
    if ns.include and not ns.script:
        raise UsageError("-i/--include goes with -s/--script")
    if ns.script:
        options.mode = "script"
        options.script = ns.script
        options.includes = list(ns.include)
        options.command = arguments
        for path in [ns.script, *ns.include]:
            if not os.path.isfile(path):
                raise UsageError(f"no such local file: {path!r}")
    elif ns.push or ns.pull:
        options.mode = "push" if ns.push else "pull"
        flag = f"--{options.mode}"
        if len(arguments) < 2:
            where = "LOCAL... REMOTE_DIR" if ns.push else "REMOTE... LOCAL_DIR"
            raise UsageError(f"{flag} needs {where}")
        options.paths, options.destination = arguments[:-1], arguments[-1]
        if ns.push:
            for path in options.paths:
                if not os.path.exists(path):
                    raise UsageError(f"no such local file: {path!r}")
    else:
        if not arguments or not " ".join(arguments).strip():
            raise UsageError("nothing to run: give a command, -s SCRIPT, --push or --pull")
        options.command = arguments
    if (
        ns.known_hosts_file is not None
        and ns.host_key_policy == "strict"
        and not os.path.isfile(ns.known_hosts_file)
    ):
        raise UsageError(f"no such known_hosts file: {ns.known_hosts_file!r}")
    return options


def _ssh_options(ns: argparse.Namespace) -> SshOptions:
    """The connection flags as one SshOptions (argparse has checked each value)."""
    try:
        return SshOptions(
            username=ns.user,
            port=ns.port or 22,
            keys=tuple(ns.key) if ns.key else None,
            connect_timeout=ns.connect_timeout,
            known_hosts=ns.known_hosts_file,
            host_key_policy=ns.host_key_policy,
        )
    except jobgraph.InvalidOptionError as exc:  # a value argparse let through
        raise UsageError(str(exc)) from None
