"""YamlLoader: a scheduler of SshJobs described in a YAML file (optionally a jinja2
template), as apssh 0.27 offers.

The file has two lists::

    nodes:
      - id: gw                 # every entry has an id
        hostname: gw.example.org
        username: ops          # also: gateway (an id), formatter (a class name),
                               # verbose (ignored, as in apssh 0.27), port,
                               # localnode: true (a LocalNode)
    jobs:
      - id: hello
        node: gw               # an id of nodes
        required: [other]      # ids of jobs (one id or a list)
        critical: false        # also: verbose, label, forever, keep_connection
        commands:
          - type: Run          # Run, RunScript, RunString, Push, Pull
            command: echo hello   # split on spaces (or argv: [...])

``RunScript`` takes ``local_script`` and ``args`` (or ``command``: the script, then its
arguments), ``RunString`` ``script_body`` and ``args``, ``Push`` ``localpaths`` and
``remotepath``, ``Pull`` ``remotepaths`` and ``localpath``; other keys are the
commands' keyword arguments. Mistakes raise :class:`YamlLoaderError` naming the file,
the line and the key at fault.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import jinja2
import yaml

import jobgraph as jg
from jobgraph.compat.asynciojobs import Scheduler

from . import commands as _commands
from . import formatters as _formatters
from .nodes import LocalNode, SshNode
from .sshjob import SshJob

__all__ = ["YamlLoader", "YamlLoaderError"]

# apssh's header of a saved intermediate file (an empty line first, as apssh writes it)
_BANNER = (
    "\n# WARNING: this file was produced automatically - DO NOT EDIT !\n# see {source} instead\n#\n"
)


class YamlLoaderError(jg.JobGraphError, ValueError):
    """A YAML scenario is wrong; the message starts with ``file:line:``."""


class _Map(dict[str, Any]):
    """A YAML mapping that remembers the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]


class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        plain = super().construct_mapping(node, deep=True)
        mapping = _Map(plain)
        mapping.line = node.start_mark.line + 1
        mapping.key_lines = {
            str(key.value): key.start_mark.line + 1
            for key, _ in node.value
            if hasattr(key, "value")
        }
        return mapping


_Loader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _Loader.construct_mapping,
)

_NODE_KEYS = {
    "id",
    "hostname",
    "username",
    "gateway",
    "formatter",
    "verbose",
    "port",
    "localnode",
    "critical",
    "keys",
    "timeout",
}
_JOB_KEYS = {
    "id",
    "node",
    "commands",
    "command",
    "required",
    "critical",
    "verbose",
    "label",
    "forever",
    "keep_connection",
}
_COMMANDS = ("Run", "RunScript", "RunString", "Push", "Pull")


class YamlLoader:
    """Build a compat :class:`~jobgraph.compat.asynciojobs.Scheduler` from a YAML file.

    Args:
        filename: the file (a ``str`` or a path).
    """

    def __init__(self, filename: str | os.PathLike[str]) -> None:
        self.path = Path(filename)

    def load(
        self, env: dict[str, Any] | None = None, *, save_intermediate: Any = None
    ) -> Scheduler:
        """The scheduler the file describes (see :meth:`load_with_maps`)."""
        return self.load_with_maps(env, save_intermediate=save_intermediate)[2]

    def load_with_maps(
        self, env: dict[str, Any] | None = None, *, save_intermediate: Any = None
    ) -> tuple[dict[str, Any], dict[str, SshJob], Scheduler]:
        """Read the file; return ``(nodes by id, jobs by id, scheduler)``.

        With a non-empty ``env``, the file is first rendered as a jinja2 template with
        those variables (names it does not define are left as they are). The rendered
        YAML is saved if ``save_intermediate`` is a file name, or True (the file's name
        without its ``.j2`` suffix, or with ``.tmp`` added), under apssh's header
        comment, and a line on stdout says so, as in apssh.

        As in apssh 0.27, a node's ``verbose`` key sets the node's ``verbose`` attribute
        but not its formatter's (whose ``verbose`` stays True): to apply it, set
        ``node.formatter.verbose = node.verbose`` on the nodes returned.

        Raises:
            YamlLoaderError: the file cannot be read, parsed, or describes something
                wrong (``file:line: ...`` names the key at fault).
        """
        try:
            text = self.path.read_text()
        except OSError as exc:
            raise YamlLoaderError(f"{self.path}: cannot read: {exc.strerror or exc}") from exc
        if env:
            try:
                template = jinja2.Template(text, undefined=jinja2.DebugUndefined)
            except jinja2.TemplateSyntaxError as exc:
                raise YamlLoaderError(f"{self.path}:{exc.lineno}: jinja2: {exc.message}") from exc
            text = template.render(**env)
            if text and not text.endswith("\n"):
                text += "\n"
            self._save(text, save_intermediate)
        try:
            document = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{self.path}:{mark.line + 1}" if mark is not None else str(self.path)
            raise YamlLoaderError(f"{where}: not valid YAML: {exc}") from exc
        if not isinstance(document, _Map):
            raise YamlLoaderError(f"{self.path}:1: expected a mapping with 'nodes' and 'jobs'")
        for key in ("nodes", "jobs"):
            if key not in document:
                raise YamlLoaderError(f"{self.path}:{document.line}: no '{key}' key")
        nodes = self._nodes(document, document["nodes"])
        jobs = self._jobs(document, document["jobs"], nodes)
        scheduler = Scheduler()
        scheduler.update(jobs.values())
        return nodes, jobs, scheduler

    # -- helpers -----------------------------------------------------------------------
    def _save(self, text: str, save_intermediate: Any) -> None:
        if save_intermediate is None or save_intermediate is False:
            return
        if save_intermediate is True:
            target = (
                self.path.with_suffix("")
                if self.path.suffix == ".j2"
                else self.path.with_name(self.path.name + ".tmp")
            )
        else:
            target = Path(save_intermediate)
        target.write_text(_BANNER.format(source=self.path) + text)
        print(f"save_intermediate: (over)wrote plain YAML {target}")

    def _error(self, where: _Map, key: str | None, problem: str) -> YamlLoaderError:
        line = where.key_lines.get(key, where.line) if key is not None else where.line
        at = f" key '{key}':" if key is not None else ""
        return YamlLoaderError(f"{self.path}:{line}:{at} {problem}")

    def _entries(self, parent: _Map, key: str, value: Any) -> list[_Map]:
        if not isinstance(value, list) or not all(isinstance(item, _Map) for item in value):
            raise self._error(parent, key, "expected a list of mappings")
        for entry in value:
            if "id" not in entry and key != "commands":
                raise self._error(entry, None, f"an entry of '{key}' has no 'id'")
        return value

    def _new_ident(
        self, entry: _Map, kind: str, known: Collection[str], defined: Mapping[str, Any]
    ) -> str:
        """The id of an entry of that ``kind``, checked: its keys are ``known`` ones and
        the id is not ``defined`` yet."""
        for key in entry:
            if key not in known:
                raise self._error(entry, key, f"unknown key for a {kind} (known: {sorted(known)})")
        ident = str(entry["id"])
        if ident in defined:
            raise self._error(entry, "id", f"{kind} id {ident!r} defined twice")
        return ident

    def _nodes(self, document: _Map, value: Any) -> dict[str, Any]:
        nodes: dict[str, Any] = {}
        for entry in self._entries(document, "nodes", value):
            ident = self._new_ident(entry, "node", _NODE_KEYS, nodes)
            formatter = None
            if "formatter" in entry:
                formatter = self._formatter(entry, entry["formatter"])
            # as apssh 0.27: 'verbose' is set on the node only, not on its formatter,
            # so it changes nothing (see docs/migrating.md for how to apply it)
            verbose = entry.get("verbose")
            if entry.get("localnode"):
                nodes[ident] = LocalNode(formatter=formatter)
                nodes[ident].verbose = verbose
                continue
            if "hostname" not in entry:
                raise self._error(entry, None, f"node {ident!r} has no 'hostname'")
            # apssh makes the node from its host name alone (user root), which warns that
            # no formatter was given, then sets the other keys on it
            print(f"WARNING: no formatter specified for root@{entry['hostname']}")
            options: dict[str, Any] = {"formatter": formatter or _formatters.HostFormatter()}
            if "gateway" in entry:
                gateway = nodes.get(str(entry["gateway"]))
                if not isinstance(gateway, SshNode):
                    raise self._error(
                        entry, "gateway", f"no node {entry['gateway']!r} defined before"
                    )
                options["gateway"] = gateway
            for key in ("username", "port", "keys", "timeout"):
                if key in entry:
                    options[key] = entry[key]
            try:
                nodes[ident] = SshNode(str(entry["hostname"]), **options)
            except (TypeError, ValueError, jg.JobGraphError) as exc:
                raise self._error(entry, None, f"node {ident!r}: {exc}") from exc
            nodes[ident].verbose = verbose
        return nodes

    def _formatter(self, entry: _Map, name: Any) -> Any:
        cls: Any = getattr(_formatters, str(name), None)
        if not isinstance(cls, type) or not issubclass(cls, _formatters.Formatter):
            raise self._error(entry, "formatter", f"no formatter class {name!r}")
        make: Any = cls
        try:
            return make()
        except TypeError as exc:
            raise self._error(entry, "formatter", f"{name} needs arguments: {exc}") from exc

    def _jobs(self, document: _Map, value: Any, nodes: dict[str, Any]) -> dict[str, SshJob]:
        jobs: dict[str, SshJob] = {}
        for entry in self._entries(document, "jobs", value):
            ident = self._new_ident(entry, "job", _JOB_KEYS, jobs)
            if entry.get("node") not in nodes:
                raise self._error(entry, "node", f"no node {entry.get('node')!r} defined")
            required = entry.get("required", [])
            required = [required] if isinstance(required, str) else list(required or [])
            for name in required:
                if name not in jobs:
                    raise self._error(entry, "required", f"no job {name!r} defined before")
            key = "commands" if "commands" in entry else "command"
            if key not in entry:
                raise self._error(entry, None, f"job {ident!r} has no 'commands'")
            raw = entry[key]
            commands = (
                [self._command(entry, key, item) for item in self._entries(entry, key, raw)]
                if isinstance(raw, list)
                else raw
            )
            options = {
                name: entry[name]
                for name in ("critical", "verbose", "forever", "keep_connection")
                if name in entry
            }
            if "label" in entry:
                options["label"] = str(entry["label"]).strip()
            try:
                jobs[ident] = SshJob(
                    nodes[entry["node"]],
                    commands=commands,
                    required=[jobs[name] for name in required],
                    **options,
                )
            except (TypeError, ValueError, jg.JobGraphError) as exc:
                raise self._error(entry, key, f"job {ident!r}: {exc}") from exc
        return jobs

    def _command(self, job: _Map, key: str, entry: _Map) -> Any:
        del job, key
        kind = entry.get("type")
        if kind not in _COMMANDS:
            where = "type" if "type" in entry else None
            raise self._error(
                entry, where, f"command type must be one of {', '.join(_COMMANDS)}, not {kind!r}"
            )
        options = {name: value for name, value in entry.items() if name != "type"}
        cls = getattr(_commands, kind)

        def take(name: str, default: Any = None) -> Any:
            if name in options:
                return options.pop(name)
            if default is None:
                raise self._error(entry, None, f"{kind} needs '{name}' (or 'command')")
            return default

        try:
            if "command" in options and kind.startswith("Run"):
                return cls(*str(options.pop("command")).split(), **options)
            if kind == "Run":
                return cls(*take("argv"), **options)
            if kind == "RunScript":
                return cls(take("local_script"), *take("args", []), **options)
            if kind == "RunString":
                return cls(take("script_body"), *take("args", []), **options)
            return cls(**options)
        except TypeError as exc:
            raise self._error(entry, None, f"{kind}: {exc}") from exc
