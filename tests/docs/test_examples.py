"""Every Python code block of every page of docs/ runs, so the docs cannot rot.

The conventions (also in docs/contributing.md):

- a ```python block is a complete script: it runs in a fresh interpreter, from docs/ (so
  ``make_images`` imports), must exit with 0 and write nothing to stderr;
- a ```text block that follows it (before the next python block) is exactly what it prints;
- ``<!-- docs: continue -->`` just before a block runs it after the previous python block
  of the page, in the same interpreter (same names);
- a block whose lines start with ``>>>`` is a doctest session, checked with ``doctest``
  (``ELLIPSIS`` on), in the names of the blocks it continues;
- ``def test_...()`` functions that a block defines are called after it runs (they show
  tests for the reader's own project), with hypothesis limited to 20 examples each;
- ``<!-- docs: fragment: WHY -->`` just before a block exempts it; the reason is required,
  and fragments must stay few;
- a block that needs SSH hosts reads them from ``JOBGRAPH_DOCS_SSH_*`` variables, or
  from the sandbox that ``JOBGRAPH_SANDBOX`` names (see :func:`ssh_hosts`): when some
  page mentions them, four loopback SSH hosts are started the way a reader starts them,
  ``python -m jobgraph_ssh.sandbox --hosts 4`` (they allow forwarding on the loopback
  interface: gateways and remote services work), and stopped after (Ctrl-C);
- ``<!-- docs: shell -->`` just before a ```console block runs its ``$ `` lines with
  ``/bin/sh``, one after the other, in a directory of the page's own, against the same
  loopback hosts, named ``node1``..``node4`` (see :func:`shell_home`), and compares what
  each prints with the lines after it (see :func:`normalized`);
- ``<!-- docs: file: NAME -->`` just before a block writes its text to ``NAME`` in that
  directory, for the shell blocks after it (a script, a host list).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .conftest import DOCS, ROOT

markdown_it = pytest.importorskip("markdown_it", reason="the docs extra is not installed")

MARKER = re.compile(
    r"<!--\s*docs:\s*(continue|fragment|shell|file)\s*(?::\s*(.*?))?\s*-->", re.DOTALL
)
SEPARATOR = "\x1e--- end of a docs block ---\x1e"
MAX_FRAGMENTS = 3  # examples are meant to run: exempting one needs a reason, and a budget

PRELUDE = f"""\
import doctest as _docs_doctest
import sys as _docs_sys

try:
    import hypothesis as _docs_hypothesis
except ImportError:
    pass
else:
    _docs_hypothesis.settings.register_profile("docs", max_examples=20, deadline=None)
    _docs_hypothesis.settings.load_profile("docs")


def _docs_run(_docs_code, _docs_where, _docs_namespace):
    _docs_before = set(_docs_namespace)
    if _docs_code.lstrip().startswith(">>>"):
        _docs_test = _docs_doctest.DocTestParser().get_doctest(
            _docs_code, _docs_namespace, _docs_where, _docs_where, 0
        )
        _docs_runner = _docs_doctest.DocTestRunner(optionflags=_docs_doctest.ELLIPSIS)
        _docs_runner.run(_docs_test, out=_docs_sys.stderr.write, clear_globs=False)
        if _docs_runner.failures:
            _docs_sys.exit(1)
    else:
        exec(compile(_docs_code, _docs_where, "exec"), _docs_namespace)
    for _docs_name, _docs_value in list(_docs_namespace.items()):
        _docs_new = _docs_name not in _docs_before
        if _docs_new and _docs_name.startswith("test_") and callable(_docs_value):
            _docs_value()
    print({SEPARATOR!r}, flush=True)


_docs_namespace = {{"__name__": "__main__"}}
"""


@dataclass
class Block:
    page: str
    line: int
    code: str
    output: str | None = None  # the text block that follows, if any


@dataclass
class Example:
    """Blocks run one after the other in one interpreter: a block and its continuations."""

    blocks: list[Block] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.blocks[0].page}:{self.blocks[0].line}"


@dataclass(frozen=True)
class Fragment:
    page: str
    line: int
    reason: str


@dataclass(frozen=True)
class Command:
    """One ``$ `` line of a shell block, and the lines the page shows after it."""

    line: int
    command: str
    output: list[str]


@dataclass(frozen=True)
class ShellStep:
    """A shell block (``commands``), or a file to write (``name``, ``text``)."""

    page: str
    line: int
    commands: tuple[Command, ...] = ()
    name: str = ""
    text: str = ""


def commands_of(content: str, first_line: int) -> tuple[Command, ...]:
    found: list[Command] = []
    for offset, text in enumerate(content.splitlines()):
        if text.startswith("$ "):
            found.append(Command(first_line + 1 + offset, text[2:], []))
        else:
            assert found, f"line {first_line + 1 + offset}: output before any '$ ' command"
            found[-1].output.append(text)
    return tuple(found)


SHELL_STEPS: dict[str, list[ShellStep]] = {}  # page -> its shell blocks and files, in order


def parse(page: Path) -> tuple[list[Example], list[Fragment]]:
    """The examples and fragments of a page, read with the Markdown parser MyST uses.
    Its shell blocks and files go to ``SHELL_STEPS``."""
    name = page.relative_to(DOCS if page.is_relative_to(DOCS) else ROOT).as_posix()
    tokens = markdown_it.MarkdownIt("commonmark").parse(page.read_text(encoding="utf-8"))
    examples: list[Example] = []
    fragments: list[Fragment] = []
    last: Block | None = None  # the last python block, which a text block is the output of
    for index, token in enumerate(tokens):
        if token.type != "fence":
            continue
        language = token.info.strip().split(maxsplit=1)[0] if token.info.strip() else ""
        line = token.map[0] + 1 if token.map else 0
        previous = tokens[index - 1] if index else None
        marker = (
            MARKER.search(previous.content) if previous and previous.type == "html_block" else None
        )
        if marker and marker.group(1) == "file":
            assert marker.group(2), f"{name}:{line}: 'file' needs a file name"
            SHELL_STEPS.setdefault(name, []).append(
                ShellStep(name, line, name=marker.group(2), text=token.content)
            )
            continue
        if marker and marker.group(1) == "shell":
            assert language == "console", f"{name}:{line}: a shell block is a console block"
            SHELL_STEPS.setdefault(name, []).append(
                ShellStep(name, line, commands_of(token.content, line))
            )
            continue
        if language == "python":
            if marker and marker.group(1) == "fragment":
                assert marker.group(2), f"{name}:{line}: a fragment must say why it cannot run"
                fragments.append(Fragment(name, line, marker.group(2)))
                last = None
                continue
            block = Block(name, line, token.content)
            if marker and marker.group(1) == "continue":
                assert examples, f"{name}:{line}: 'continue' without a block before it"
                examples[-1].blocks.append(block)
            else:
                examples.append(Example([block]))
            last = block
        elif language == "text" and last is not None:
            assert last.output is None, f"{name}:{line}: two outputs for one python block"
            last.output = token.content
    return examples, fragments


# pages whose blocks another test runs, for a reason given here
RUN_ELSEWHERE = {
    # worker processes import the script that made them: tests/dask/test_docs.py runs
    # each block from a file, which `python -c` (used here) cannot give them
    DOCS / "executors.md": "tests/dask/test_docs.py",
    DOCS / "howto" / "cluster.md": "tests/dask/test_docs.py",
}
PAGES = [*sorted(DOCS.rglob("*.md")), ROOT / "README.md"]  # the README's example runs too
PARSED = {
    page: parse(page) for page in PAGES if "_build" not in page.parts and page not in RUN_ELSEWHERE
}
EXAMPLES = [example for examples, _ in PARSED.values() for example in examples]
FRAGMENTS = [fragment for _, fragments in PARSED.values() for fragment in fragments]


def where(page: str) -> str:
    """The page's path from the repository's root (``docs/howto/backends.md``)."""
    return f"docs/{page}" if (DOCS / page).is_file() else page


def script(example: Example) -> str:
    lines = [PRELUDE]
    lines += [
        f"_docs_run({block.code!r}, {f'{where(block.page)}:{block.line}'!r}, _docs_namespace)"
        for block in example.blocks
    ]
    return "\n".join(lines) + "\n"


SSH_VARIABLE = "JOBGRAPH_DOCS_SSH_"
SANDBOX_VARIABLE = "JOBGRAPH_SANDBOX"  # what the sandbox's env.sh exports


def needs_ssh(example: Example) -> bool:
    return any(
        SSH_VARIABLE in block.code or SANDBOX_VARIABLE in block.code for block in example.blocks
    )


@pytest.fixture(scope="module")
def ssh_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Loopback SSH hosts for the examples that need some, as environment variables:

    - ``JOBGRAPH_DOCS_SSH_HOST``: their address (``127.0.0.1``);
    - ``JOBGRAPH_DOCS_SSH_PORTS``: their ports, comma-separated (four hosts);
    - ``JOBGRAPH_DOCS_SSH_USER``, ``JOBGRAPH_DOCS_SSH_KEY``: who to log in as, with which
      private key;
    - ``JOBGRAPH_DOCS_SSH_KNOWN_HOSTS``: a known_hosts file listing their host keys;
    - ``JOBGRAPH_SANDBOX``: the sandbox's directory, as its ``env.sh`` exports it.

    The hosts are a sandbox started as the tutorial tells a reader to:
    ``python -m jobgraph_ssh.sandbox --hosts 4``, stopped with Ctrl-C (SIGINT) after.
    Not started (an empty mapping) when no example mentions them."""
    if not SHELL_STEPS and not any(needs_ssh(example) for example in EXAMPLES):
        yield {}
        return
    with sandbox_hosts(tmp_path_factory.mktemp("docs-ssh") / "sandbox") as ready:
        yield {
            f"{SSH_VARIABLE}HOST": ready["host"],
            f"{SSH_VARIABLE}PORTS": ",".join(str(port) for port in ready["ports"]),
            f"{SSH_VARIABLE}USER": ready["username"],
            f"{SSH_VARIABLE}KEY": ready["key"],
            f"{SSH_VARIABLE}KNOWN_HOSTS": ready["known_hosts"],
            SANDBOX_VARIABLE: ready["directory"],
        }


@contextlib.contextmanager
def sandbox_hosts(directory: Path) -> Iterator[dict[str, Any]]:
    """``python -m jobgraph_ssh.sandbox --hosts 4`` in ``directory``, as a reader starts
    it; what it says when ready (``sandbox.json``); stopped with Ctrl-C (SIGINT)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "jobgraph_ssh.sandbox", "--hosts", "4", "--json"]
    process = subprocess.Popen(
        [*command, "--dir", str(directory)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # one JSON line once the hosts listen
        assert line, "the sandbox did not start"
        ready: dict[str, Any] = json.loads(line)
        yield ready
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


# An example of the original apssh (a "before" script of migrating.md) imports asyncssh
# itself, as the user's script does, without jobgraph_ssh's quiet import: cryptography's
# DSA deprecation, raised in these asyncssh modules, is that library's noise, not ours.
ORIGINALS_QUIET = ",".join(
    f"ignore:DSA is deprecated:UserWarning:asyncssh.crypto.{module}" for module in ("dsa", "misc")
)


def run(example: Example, ssh: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        **(ssh if needs_ssh(example) else {}),
    }
    if any(re.search(r"^\s*(from|import) apssh\b", b.code, re.MULTILINE) for b in example.blocks):
        env["PYTHONWARNINGS"] = ORIGINALS_QUIET
    return subprocess.run(
        [sys.executable, "-c", script(example)],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        cwd=DOCS,
        env=env,
    )


@pytest.fixture(scope="module")
def outcomes(ssh_hosts: dict[str, str]) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every example runs once, a few at a time (each in a fresh interpreter)."""
    with ThreadPoolExecutor(max_workers=4) as executor:
        done = executor.map(lambda example: run(example, ssh_hosts), EXAMPLES)
        return dict(zip((e.name for e in EXAMPLES), done, strict=True))


def test_pages_have_runnable_examples() -> None:
    by_page: dict[str, list[Example]] = {}
    for example in EXAMPLES:
        by_page.setdefault(example.blocks[0].page, []).append(example)
    assert len(by_page["services.md"]) >= 8
    assert sum(b.output is not None for e in by_page["services.md"] for b in e.blocks) >= 8
    for page in ("views.md", "testing.md", "migrating.md", "tutorial.md", "README.md"):
        assert by_page[page], page
    how_tos = sorted(path.relative_to(DOCS).as_posix() for path in (DOCS / "howto").glob("*.md"))
    elsewhere = {page.relative_to(DOCS).as_posix() for page in RUN_ELSEWHERE}
    for page in how_tos:
        runs = by_page.get(page) or SHELL_STEPS.get(page) or page in elsewhere
        assert page.endswith("index.md") or runs, f"{page} has no runnable example"


def test_pages_about_ssh_run_on_the_loopback_hosts() -> None:
    """The SSH pages' examples reach real (loopback) hosts, not only build objects."""
    pages = ("tutorial.md", "ssh.md", "remote-services.md", "howto/many-hosts.md")
    for page in (*pages, "howto/remote-services.md"):
        assert any(needs_ssh(e) for e in EXAMPLES if e.blocks[0].page == page), page


def test_the_tutorial_reaches_its_hosts_through_the_sandbox() -> None:
    """The tutorial's SSH part runs, as printed, on sandbox hosts (what a reader starts
    with ``python -m jobgraph_ssh.sandbox``); the fixture starts one that way."""
    code = [
        block.code
        for example in EXAMPLES
        for block in example.blocks
        if block.page == "tutorial.md" and needs_ssh(example)
    ]
    assert code
    assert any("Sandbox.load()" in text and SANDBOX_VARIABLE in text for text in code)
    assert not any(SSH_VARIABLE in text for text in code)
    text = (DOCS / "tutorial.md").read_text(encoding="utf-8")
    assert "python -m jobgraph_ssh.sandbox --hosts 4" in text


def test_fragments_are_few_and_say_why() -> None:
    assert len(FRAGMENTS) <= MAX_FRAGMENTS, FRAGMENTS
    for fragment in FRAGMENTS:
        assert len(fragment.reason.split()) >= 3, fragment


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_runs_and_prints_what_the_page_shows(
    example: Example, outcomes: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    outcome = outcomes[example.name]
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.stderr == ""
    printed = outcome.stdout.split(SEPARATOR + "\n")
    assert printed[-1] == "" and len(printed) == len(example.blocks) + 1, outcome.stdout
    for block, stdout in zip(example.blocks, printed, strict=False):
        if block.output is not None:
            assert stdout == block.output, f"docs/{block.page}:{block.line} prints otherwise"


def test_pages_run_elsewhere_have_their_own_test() -> None:
    for page, test in RUN_ELSEWHERE.items():
        assert page.exists(), page
        assert (ROOT / test).exists(), test
        assert page.name in (ROOT / test).read_text(encoding="utf-8")


# --- shell blocks: the real commands, against the loopback hosts --------------------------

NODE = re.compile(r"\bnode([1-4])\b")
PROGRESS = re.compile(r"^\[\s*\d+/\d+\]\s")  # a host's line as it ends, when not on a terminal
DURATION = re.compile(r"\b\d+\.\d+s\b")


def shell_home(directory: Path, ssh: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The environment of a page's shell blocks, and the host names they use.

    ``HOME`` is a fresh directory holding what a user of the loopback hosts would have:
    the client key as ``~/.ssh/id_ed25519``, their host keys in ``~/.ssh/known_hosts``,
    and a targets file ``lab`` listing ``node1``..``node4`` in
    ``~/.config/jobgraph-ssh/targets``. ``jobgraph-ssh`` is on ``PATH`` (the console script
    of pyproject.toml, importing this checkout). ``nodeN`` in a command stands for the
    N-th host, ``127.0.0.1:PORT``; the mapping returned turns addresses back into names,
    and ``HOME`` into ``/home/me``."""
    from tests.cli.conftest import console_script

    home = directory / "home"
    (home / ".ssh").mkdir(parents=True)
    key = home / ".ssh" / "id_ed25519"
    key.write_bytes(Path(ssh[f"{SSH_VARIABLE}KEY"]).read_bytes())
    key.chmod(0o600)
    known = Path(ssh[f"{SSH_VARIABLE}KNOWN_HOSTS"]).read_text(encoding="utf-8")
    (home / ".ssh" / "known_hosts").write_text(known, encoding="utf-8")
    address = ssh[f"{SSH_VARIABLE}HOST"]
    hosts = {
        f"node{index}": f"{address}:{port}"
        for index, port in enumerate(ssh[f"{SSH_VARIABLE}PORTS"].split(","), start=1)
    }
    targets = home / ".config" / "jobgraph-ssh" / "targets"
    targets.mkdir(parents=True)
    (targets / "lab").write_text("\n".join(hosts.values()) + "\n", encoding="utf-8")
    bin_directory = directory / "bin"
    bin_directory.mkdir()
    console_script(bin_directory)
    drop = ("SSH_AUTH_SOCK", "JOBGRAPH_SSH_TARGETS", "XDG_CONFIG_HOME", "COLUMNS", "FORCE_COLOR")
    env = {name: value for name, value in os.environ.items() if name not in drop}
    env.pop("TTY_COMPATIBLE", None)
    env["HOME"] = str(home)
    env["PATH"] = os.pathsep.join([str(bin_directory), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    return env, {str(home): "/home/me"} | {value: name for name, value in hosts.items()}


def normalized(lines: list[str], names: dict[str, str]) -> list[str]:
    """Lines as compared: host addresses turned into their names (and the home directory
    into ``/home/me``), any duration into ``0.00s``, runs of spaces into one (a table's
    columns fit its longest cell), blank lines and the per-host progress lines (a terminal
    shows a live panel instead) left out, and sorted, since hosts run at once and finish
    in any order."""
    kept = []
    for text in lines:
        for address, name in names.items():
            text = text.replace(address, name)  # noqa: PLW2901
        line = " ".join(DURATION.sub("0.00s", text).split())
        if line and not PROGRESS.match(line):
            kept.append(line)
    return sorted(kept)


@dataclass(frozen=True)
class Shown:
    where: str
    command: str
    expected: list[str]
    printed: list[str]


def run_shell_page(steps: list[ShellStep], directory: Path, ssh: dict[str, str]) -> list[Shown]:
    env, names = shell_home(directory, ssh)
    addresses = {name: address for address, name in names.items() if name.startswith("node")}
    work = directory / "work"
    work.mkdir()
    shown: list[Shown] = []
    for step in steps:
        if step.name:
            (work / step.name).write_text(step.text, encoding="utf-8")
            continue
        for command in step.commands:
            real = NODE.sub(lambda found: addresses[found.group(0)], command.command)
            done = subprocess.run(
                ["/bin/sh", "-c", real],
                capture_output=True,
                text=True,
                timeout=90,
                check=False,
                cwd=work,
                env=env,
            )
            printed = done.stdout.splitlines() + done.stderr.splitlines()
            shown.append(
                Shown(
                    f"docs/{step.page}:{command.line}",
                    command.command,
                    normalized(command.output, names),
                    normalized(printed, names),
                )
            )
    return shown


@pytest.fixture(scope="module")
def shell_outcomes(
    ssh_hosts: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[Shown]]:
    """Every page's shell blocks, run in order (pages a few at a time)."""

    def one(page: str) -> list[Shown]:
        directory = tmp_path_factory.mktemp("docs-shell")
        return run_shell_page(SHELL_STEPS[page], directory, ssh_hosts)

    with ThreadPoolExecutor(max_workers=2) as executor:
        return dict(zip(SHELL_STEPS, executor.map(one, SHELL_STEPS), strict=True))


@pytest.mark.parametrize("page", sorted(SHELL_STEPS))
def test_shell_blocks_print_what_the_page_shows(
    page: str, shell_outcomes: dict[str, list[Shown]]
) -> None:
    shown = shell_outcomes[page]
    assert any(one.expected for one in shown), f"{page}: no shell command shows its output"
    for one in shown:
        assert one.printed == one.expected, f"{one.where}: $ {one.command}"


def test_the_cli_how_to_runs_the_command() -> None:
    steps = SHELL_STEPS.get("howto/cli.md", [])
    commands = [command.command for step in steps for command in step.commands]
    assert sum(command.startswith("jobgraph-ssh ") for command in commands) >= 4, commands


def test_normalized_output_keeps_what_matters() -> None:
    names = {"127.0.0.1:40001": "node1"}
    assert normalized(
        ["127.0.0.1:40001  ok   0  0.31s", "", "[1/1] ok 127.0.0.1:40001"], names
    ) == ["node1 ok 0 0.00s"]
    assert normalized(["node1: 6.1"], names) != normalized(["node1: 6.2"], names)


def test_the_cli_how_to_runs_as_printed_with_the_sandbox_env_sh(tmp_path: Path) -> None:
    """A reader who starts ``python -m jobgraph_ssh.sandbox`` and sources its ``env.sh``
    (no ``~/.ssh``, no targets directory of their own) runs every command of the CLI
    how-to as printed; only the hosts' names (``127.0.0.1:PORT`` for ``nodeN``) and the
    dry run's key and known_hosts paths differ."""
    with sandbox_hosts(tmp_path / "jobgraph-sandbox") as ready:
        ran = run_how_to_with_env_sh(Path(ready["directory"]), ready["ports"], tmp_path)
    assert ran >= 10


def run_how_to_with_env_sh(sandbox: Path, ports: list[int], tmp_path: Path) -> int:
    names = {f"127.0.0.1:{port}": f"node{index}" for index, port in enumerate(ports, 1)}
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "COLUMNS")}
    env.update(HOME=str(tmp_path), PYTHONPATH=str(ROOT / "src"))
    ran = 0
    for step in SHELL_STEPS["howto/cli.md"]:
        if step.name:
            (work / step.name).write_text(step.text, encoding="utf-8")
            continue
        for command in step.commands:
            if "~/.config" in command.command:  # the page's own targets directory
                continue
            done = subprocess.run(
                ["/bin/sh", "-c", f". {sandbox}/env.sh && {command.command}"],
                capture_output=True, text=True, timeout=90, check=False, cwd=work, env=env,
            )  # fmt: skip

            def compared(lines: list[str]) -> list[str]:
                return [
                    line for line in normalized(lines, names) if not line.startswith("dry run:")
                ]

            printed = done.stdout.splitlines() + done.stderr.splitlines()
            assert compared(printed) == compared(command.output), command.command
            ran += 1
    return ran
