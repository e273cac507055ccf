"""apssh's command-line tools, ``apssh``, ``appush`` and ``appull``, on the compat layer.

``Apssh().main(*argv)`` runs one command (or a script, with ``-s``) on every target and
returns 0 when every target returned 0, else 1; ``Appush`` and ``Appull`` copy files
to and from the targets. ``python -m jobgraph_ssh.compat.apssh ARGS`` runs ``apssh``.
The options are apssh 0.27's: ``-t`` / ``-x`` targets (host names, files of targets,
directories whose file names are hosts, looked up in ``~/.apssh`` too), ``-l`` login,
``-g`` gateway, ``-k`` keys, ``-w`` window, ``-s`` / ``-i`` script mode, ``-f`` /
``-r`` / ``-tc`` / ``-o`` / ``-d`` output, ``-m`` marks, ``-L``, ``-n``, ``-v``,
``-D``, ``-V``.

A target is ``[user@]host``, or ``[gwuser@]gateway->[user@]host`` for two hops
(``None->host`` goes direct even with ``-g``). As an extension, each host may end
with ``:port``.

Host names and files are read with the native command's target parser
(:mod:`jobgraph_ssh.cli`); the jobs are compat :class:`SshJob` in a compat
scheduler, their output rendered by the apssh formatters.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from jobgraph.compat.asynciojobs import Scheduler
from jobgraph_ssh.cli import ENV_TARGETS_DIR, Host, TargetError, locate_targets, parse_host

from .commands import Pull, Push, Run, RunScript, RunString
from .formatters import (
    Formatter,
    HostFormatter,
    RawFormatter,
    SubdirFormatter,
    TerminalFormatter,
    TimeHostFormatter,
    _short,
)
from .keys import load_private_keys
from .sshjob import SshJob
from .sshproxy import SshProxy
from .topology import close_ssh_in_scheduler

__all__ = [
    "Appull",
    "Appush",
    "Apssh",
    "Copy",
    "Endpoint",
    "Hop",
    "Targets",
    "appull",
    "appush",
    "apssh",
]

VERSION = "0.27.0"  # the apssh release whose command line this module offers
DEFAULT_TIMEOUT = 30.0
MARK_OK, MARK_FAILED = "0ok", "1failed"


def _login() -> str:
    import getpass

    return getpass.getuser()


def _config_dir() -> Path:
    """``~/.apssh``: where relative target files and directories are also looked up."""
    return Path.home() / ".apssh"


def _stderr(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _quit(message: str, status: int = 1) -> NoReturn:
    print(message)
    sys.exit(status)


# -- targets -------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One end of a hop: a host, the user to log in as, and a port (None: 22)."""

    hostname: str
    username: str
    port: int | None = None

    def __str__(self) -> str:
        port = f":{self.port}" if self.port else ""
        return f"{self.username}@{self.hostname}{port}"

    def as_host(self) -> Host:
        return Host(self.hostname, self.username, self.port)


DIRECT = "None"  # a gateway written so: go direct, whatever -g says


@dataclass(frozen=True)
class Hop:
    """A target: where to run, and the gateway to go through (None: ``-g``'s, if any;
    ``direct``: none at all)."""

    final: Endpoint
    gateway: Endpoint | None = None
    direct: bool = False

    def __str__(self) -> str:
        if self.direct:
            return f"{DIRECT}->{self.final}"
        return f"{self.gateway}->{self.final}" if self.gateway else str(self.final)


class Targets:
    """The hosts of a run, from the ``-t``, ``-x``, ``-l`` and ``-g`` options.

    A ``-t`` value is a file of targets (``#`` starts a comment line), a directory
    whose file names are host names (what ``--mark`` writes), or a string of targets
    separated by spaces or commas. Relative file and directory names are looked up in
    the current directory, then in ``~/.apssh``.
    """

    def __init__(self) -> None:
        self.login = _login()
        self.gateway: Endpoint | None = None

    @staticmethod
    def add_target_options(parser: argparse.ArgumentParser) -> None:
        """The options that choose the targets."""
        parser.add_argument(
            "-t", "--target", dest="targets", action="append", default=[],
            help="where to run (repeatable): [user@]host, gateway->[user@]host, a list "
            "of them (spaces or commas), a file of them, or a directory of files named "
            "after hosts",
        )  # fmt: skip
        parser.add_argument(
            "-l", "--login", default=_login(),
            help="user to log in as where a target names none (default: you)",
        )  # fmt: skip
        parser.add_argument(
            "-g", "--gateway", default=None,
            help="reach every target through this [user@]host (two hops)",
        )  # fmt: skip
        parser.add_argument(
            "-x", "--exclude", dest="excludes", action="append", default=[],
            help="targets to leave out, given as with -t (repeatable)",
        )  # fmt: skip

    def endpoint(self, text: str, where: str) -> Endpoint:
        """``[user@]host[:port]``, the user defaulting to ``--login``."""
        host = parse_host(text, where=where)
        return Endpoint(host.hostname, host.user or self.login, host.port)

    def hop(self, text: str, where: str) -> Hop:
        """``[gw->]target`` (``→`` works as well as ``->``)."""
        for arrow in ("->", "→"):
            left, found, right = text.partition(arrow)
            if found:
                final = self.endpoint(right, where)
                if left == DIRECT:
                    return Hop(final, direct=True)
                return Hop(final, self.endpoint(left, where))
        return Hop(self.endpoint(text, where))

    def analyze(self, value: str) -> list[Hop]:
        """The targets a ``-t`` / ``-x`` value stands for; a target that does not parse
        is left out with a warning naming it.

        Raises:
            TargetError: an unreadable file.
        """
        located = locate_targets(value, {ENV_TARGETS_DIR: str(_config_dir())})
        if located is None:
            words = [(word, f"target {value!r}") for word in value.replace(",", " ").split()]
        elif located.is_dir():
            words = [
                (entry.name, f"directory {located}")
                for entry in sorted(located.iterdir())
                if entry.is_file() and not entry.name.startswith(".")
            ]
        else:
            try:
                lines = located.read_text().splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise TargetError(f"cannot read target file {str(located)!r}: {exc}") from exc
            words = [
                (word, f"{located}:{number}")
                for number, line in enumerate(lines, 1)
                if not line.lstrip().startswith("#")
                for word in line.split()
            ]
        hops = []
        for word, where in words:
            try:
                hops.append(self.hop(word, where))
            except TargetError as exc:
                print(f"WARNING: ignoring {word!r}: {exc}")
        return hops

    def select(self, args: argparse.Namespace) -> tuple[list[Hop], list[Endpoint]]:
        """(the targets, the exclusions), targets that do not resolve left out with a
        warning; an exclusion drops every target with its host, user and port."""
        self.login = args.login
        self.gateway = self.endpoint(args.gateway, "--gateway") if args.gateway else None
        excluded: list[Endpoint] = []
        for value in args.excludes:
            try:
                excluded.extend(hop.final for hop in self.analyze(value))
            except TargetError as exc:
                print(f"WARNING: ignoring exclusion {value}: {exc}")
        hops: list[Hop] = []
        for value in args.targets:
            try:
                found = self.analyze(value)
            except TargetError as exc:
                print(f"WARNING: ignoring target {value}: {exc}")
                continue
            if not found:
                print(f"WARNING: ignoring target {value}: it names no host")
            hops.extend(hop for hop in found if not _excluded(hop.final, excluded))
        return hops, excluded

    def proxies(self, hops: list[Hop], **node_options: Any) -> list[SshProxy]:
        """One node per target; each gateway is made once and shared."""
        gateways: dict[Endpoint, SshProxy] = {}

        def gateway_node(endpoint: Endpoint) -> SshProxy:
            if endpoint not in gateways:
                gateways[endpoint] = _proxy(endpoint, None, node_options)
            return gateways[endpoint]

        nodes = []
        for hop in hops:
            via = None if hop.direct else (hop.gateway or self.gateway)
            nodes.append(
                _proxy(hop.final, gateway_node(via) if via else None, node_options),
            )
        return nodes


def _excluded(endpoint: Endpoint, excluded: list[Endpoint]) -> bool:
    return any(rule.as_host().matches(endpoint.as_host()) for rule in excluded)


def _proxy(endpoint: Endpoint, gateway: SshProxy | None, options: dict[str, Any]) -> SshProxy:
    return SshProxy(
        endpoint.hostname,
        username=endpoint.username,
        port=endpoint.port or 22,
        gateway=gateway,
        **options,
    )


# -- output --------------------------------------------------------------------------


def run_name() -> str:
    """The directory name ``-d`` uses: the date and time, to the minute."""
    return time.strftime("%Y-%m-%d@%H:%M")


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """The options that choose how output lines are shown or stored."""
    parser.add_argument(
        "-r", "--raw-format", default=False, action="store_true",
        help="show lines as they come, without the host name",
    )  # fmt: skip
    parser.add_argument(
        "-tc", "--time-colon-format", default=False, action="store_true",
        help="prefix lines with the time and the host name: -f '{time}:{host}:{line}'",
    )  # fmt: skip
    parser.add_argument(
        "-f", "--format", default=None,
        help="how to show each line: {line}, {linenl} (with its newline), {nl}, {host} "
        "(short host name), {fqdn}, {user}, {time} (%%H-%%M-%%S) and strftime directives",
    )  # fmt: skip
    parser.add_argument(
        "-o", "--out-dir", default=None,
        help="write each host's output to a file named after the host, in this directory",
    )  # fmt: skip
    parser.add_argument(
        "-d", "--date-time", default=False, action="store_true",
        help="as -o, in a directory named after the date and time",
    )  # fmt: skip


def make_formatter(args: argparse.Namespace) -> Formatter:
    """The formatter the options ask for (the host-prefixed one by default)."""
    verbose = bool(args.verbose)
    if args.format:
        return TerminalFormatter(args.format, verbose)
    if args.raw_format:
        return RawFormatter(verbose=verbose)
    if args.time_colon_format:
        return TimeHostFormatter(verbose=verbose)
    if args.date_time:
        return SubdirFormatter(run_name(), verbose=verbose)
    if args.out_dir:
        return SubdirFormatter(args.out_dir, verbose=verbose)
    return HostFormatter(verbose=verbose)


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-w", "--window", type=int, default=0,
        help="at most this many targets at once (default 0: no limit)",
    )  # fmt: skip
    parser.add_argument(
        "-c", "--connect-timeout", dest="timeout", type=float, default=DEFAULT_TIMEOUT,
        help=f"seconds to connect (default {DEFAULT_TIMEOUT:g})",
    )  # fmt: skip
    parser.add_argument(
        "-k", "--key", dest="keys", action="append", default=None,
        help="private key file (repeatable); default: the SSH agent's keys, else "
        "the readable ~/.ssh/id_rsa, id_dsa, id_ecdsa and id_ed25519",
    )  # fmt: skip
    parser.add_argument(
        "-K", "--ok-if-no-key", default=False, action="store_true",
        help="go on when no key is found (the connection still tries the default ones)",
    )  # fmt: skip


def _add_chatter_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-n", "--dry-run", default=False, action="store_true",
        help="show the targets selected and the exclusions, and connect to nothing",
    )  # fmt: skip
    parser.add_argument("-v", "--verbose", default=False, action="store_true")
    parser.add_argument("-D", "--debug", default=False, action="store_true")
    parser.add_argument("-V", "--version", default=False, action="store_true")


class _Tool:
    """What apssh, appush and appull share: targets, keys, nodes, the run."""

    name = "apssh"

    def __init__(self) -> None:
        self.formatter: Formatter | None = None
        self.proxies: list[SshProxy] = []

    def __repr__(self) -> str:
        return "".join(str(proxy) for proxy in self.proxies)

    def _nodes(self, args: argparse.Namespace, targets: Targets) -> list[SshProxy]:
        """Keys, formatter and one node per target; exits when there is nothing to do."""
        keys = load_private_keys(args.keys, args.verbose or args.debug)
        if not keys and not args.ok_if_no_key:
            _quit(f"{self.name}: could not find any usable key - exiting")
        self.formatter = make_formatter(args)
        hops, excluded = targets.select(args)
        if args.dry_run:
            print(f"{self.name} dry run: {len(excluded)} exclusion(s)")
            for endpoint in excluded:
                print(f"  excluded {endpoint}")
            print(f"{self.name} dry run: {len(hops)} target(s) selected")
            for hop in hops:
                via = hop.gateway or (None if hop.direct else targets.gateway)
                print(f"  {hop.final}" + (f" via {via}" if via else ""))
            sys.exit(0)
        if not hops:
            _quit(f"{self.name}: no target to run on (give some with -t)")
        proxies = targets.proxies(
            hops, keys=keys or None, formatter=self.formatter, timeout=args.timeout
        )
        if args.debug:
            for proxy in proxies:
                print(f"{self.name}: target {proxy!r}")
        return proxies

    def _run(self, args: argparse.Namespace, jobs: list[SshJob]) -> list[Any]:
        scheduler = Scheduler(*jobs, verbose=args.verbose, jobs_window=args.window or None)
        try:
            if not scheduler.run():
                scheduler.debrief()
        finally:  # the connections (gateways too) outlive run(): close them
            close_ssh_in_scheduler(scheduler)
        return [job.result() for job in jobs]


def _job(node: SshProxy, command: Any) -> SshJob:
    return SshJob(node=node, command=command, critical=False)


class Apssh(_Tool):
    """The ``apssh`` command: one command line, or a script (``-s``), on every target.

    :meth:`main` takes the arguments (default: ``sys.argv[1:]``) and returns the exit
    status: 0 when every target returned 0, 1 otherwise. ``proxies`` are the nodes it
    ran on.
    """

    @staticmethod
    def parser() -> argparse.ArgumentParser:
        """The parser of apssh's command line."""
        parser = argparse.ArgumentParser(
            prog="apssh", description="Run a command on many hosts at once, over SSH."
        )
        Targets.add_target_options(parser)
        parser.add_argument(
            "-L", "--list-targets", default=False, action="store_true",
            help="print the targets, one a line, and exit",
        )  # fmt: skip
        _add_common_options(parser)
        add_output_options(parser)
        parser.add_argument(
            "-m", "--mark", default=False, action="store_true",
            help=f"with -o or -d: write a file per target, named after its host, in "
            f"{MARK_OK}/ (it returned 0) or {MARK_FAILED}/ (it did not, or was not "
            "reached), holding what it returned",
        )  # fmt: skip
        _add_chatter_options(parser)
        parser.add_argument(
            "-s", "--script", default=False, action="store_true",
            help="the command's first word is a local script, copied to each target and "
            "run there with the other words as arguments; if no such file exists, it is "
            "the script's text",
        )  # fmt: skip
        parser.add_argument(
            "-i", "--includes", dest="includes", action="append", default=[],
            help="with -s: a local file copied next to the script (repeatable)",
        )  # fmt: skip
        parser.add_argument(
            "commands", nargs=argparse.REMAINDER,
            help="the command line to run (its words joined with spaces)",
        )  # fmt: skip
        return parser

    def main(self, *test_argv: str) -> int:
        """Run apssh with ``test_argv`` (default: the process's arguments); the exit
        status. ``-V``, ``-L``, ``-n`` and usage problems exit the process."""
        args = self.parser().parse_args(list(test_argv) if test_argv else None)
        if args.version:
            _quit(f"apssh version {VERSION} (jobgraph_ssh.compat.apssh)", 0)
        if not args.commands:
            _quit("apssh: give a command to run on the targets")
        targets = Targets()
        self.proxies = self._nodes(args, targets)
        if args.list_targets:
            for proxy in self.proxies:
                print(proxy)
            sys.exit(0)
        if args.verbose:
            _stderr(f"apssh: running on {len(self.proxies)} target(s)")
        command_class: Any = Run
        extra: dict[str, Any] = {}
        if args.script:
            command_class, extra = RunScript, {"includes": args.includes}
            if not Path(args.commands[0]).exists():
                if args.verbose:
                    print(f"apssh: no local file {args.commands[0]!r}: running it as a script text")
                command_class = RunString
        jobs = [_job(proxy, command_class(*args.commands, **extra)) for proxy in self.proxies]
        results = self._run(args, jobs)
        subdir = self.formatter.run_name if isinstance(self.formatter, SubdirFormatter) else None
        if subdir:
            print(subdir)
            if args.mark:
                write_marks(Path(subdir), self.proxies, results)
        for proxy, result in zip(self.proxies, results, strict=True):
            if result is None:
                _stderr(f"{proxy.hostname}: apssh WARNING - no result !")
            elif args.debug:
                print(f"apssh: {proxy!r} returned {result}")
        return 0 if all(result == 0 for result in results) else 1


def write_marks(subdir: Path, proxies: Sequence[SshProxy], results: Sequence[Any]) -> None:
    """``subdir/0ok/<host>`` for each target that returned 0, ``subdir/1failed/<host>``
    for the others; each file holds what the target returned (``None``: unreachable)."""
    for proxy, result in zip(proxies, results, strict=True):
        folder = subdir / (MARK_OK if result == 0 else MARK_FAILED)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / proxy.hostname).write_text(f"{result}\n")


class Copy(_Tool):
    """``appush`` / ``appull``: copy files to (``mode="push"``) or from (``"pull"``)
    every target. Remote paths are written ``@:path``; ``{host}``, ``{fqdn}`` and
    ``{user}`` in paths become each target's short host name, host name and ``user@``."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        if mode not in ("push", "pull"):
            raise ValueError(f"Copy: mode must be 'push' or 'pull', not {mode!r}")
        self.mode = mode
        self.name = f"ap{mode}"

    @staticmethod
    def remote_path(location: str) -> str | None:
        """The path of ``@:path``; None when ``location`` is not remote."""
        return location[2:] if location.startswith("@:") else None

    @staticmethod
    def instantiate(template: str, proxy: SshProxy) -> str:
        """``template`` with ``{fqdn}``, ``{host}`` and ``{user}`` of ``proxy``."""
        user = f"{proxy.username}@" if proxy.username else ""
        return (
            template.replace("{fqdn}", proxy.hostname)
            .replace("{host}", _short(proxy.hostname))
            .replace("{user}", user)
        )

    def parser(self) -> argparse.ArgumentParser:
        """The parser of appush's or appull's command line."""
        parser = argparse.ArgumentParser(
            prog=self.name, description=f"Copy files {'to' if self.mode == 'push' else 'from'} "
            "many hosts at once, over SFTP.",
        )  # fmt: skip
        Targets.add_target_options(parser)
        _add_common_options(parser)
        add_output_options(parser)
        _add_chatter_options(parser)
        if self.mode == "push":
            parser.add_argument("local_files", nargs="+", help="local files to copy")
            parser.add_argument(
                "remote_location", help="@:where on the targets (a directory for several files)"
            )
        else:
            parser.add_argument("remote_files", nargs="+", help="@:files on the targets")
            parser.add_argument(
                "local_destination", help="where here (a directory for several files)"
            )
        return parser

    def command(self, args: argparse.Namespace, proxy: SshProxy) -> Push | Pull:
        """The transfer for one target."""
        verbose = bool(args.verbose or args.debug)
        if self.mode == "push":
            remote = self.remote_path(args.remote_location) or ""
            return Push(
                [self.instantiate(local, proxy) for local in args.local_files],
                self.instantiate(remote, proxy),
                verbose=verbose,
            )
        remotes = [self.remote_path(remote) or "" for remote in args.remote_files]
        return Pull(
            [self.instantiate(remote, proxy) for remote in remotes],
            self.instantiate(args.local_destination, proxy),
            verbose=verbose,
        )

    def main(self, *test_argv: str) -> int:
        """Copy with ``test_argv`` (default: the process's arguments); the exit status:
        0 when every target succeeded, 1 otherwise."""
        args = self.parser().parse_args(list(test_argv) if test_argv else None)
        if args.version:
            _quit(f"{self.name} version {VERSION} (jobgraph_ssh.compat.apssh)", 0)
        remotes = [args.remote_location] if self.mode == "push" else args.remote_files
        for remote in remotes:
            if self.remote_path(remote) is None:
                _quit(f"{self.name}: {remote} is not remote: write it @:path")
        self.proxies = self._nodes(args, Targets())
        jobs = [_job(proxy, self.command(args, proxy)) for proxy in self.proxies]
        results = self._run(args, jobs)
        return 0 if all(result == 0 for result in results) else 1


class Appush(Copy):
    """``appush LOCAL... @:REMOTE``."""

    def __init__(self) -> None:
        super().__init__("push")


class Appull(Copy):
    """``appull @:REMOTE... LOCAL``."""

    def __init__(self) -> None:
        super().__init__("pull")


def apssh() -> NoReturn:
    """The ``apssh`` command."""
    sys.exit(Apssh().main())


def appush() -> NoReturn:
    """The ``appush`` command."""
    sys.exit(Appush().main())


def appull() -> NoReturn:
    """The ``appull`` command."""
    sys.exit(Appull().main())


if __name__ == "__main__":  # python -m jobgraph_ssh.compat.apssh.cli
    apssh()
