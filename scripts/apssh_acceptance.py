#!/usr/bin/env python3
"""Run apssh's own test suite against ``jobgraph_ssh.compat.apssh``: the acceptance bar.

Usage (as root, from the repository, with the dev venv)::

    python scripts/apssh_acceptance.py [--version 0.27.0] [--baseline] [-k EXPR] [--keep]

What it does, in a temporary directory:

1. fetches the apssh sdist with ``pip download --no-binary :all: --no-deps``; when that
   release ships no test modules (0.27.0 ships only their support files), it says so
   and adds the ``test_*.py`` of the newest sdist that has them (0.26.0);
2. rewrites the imports of its ``tests/`` (``apssh`` -> ``jobgraph_ssh.compat.apssh``,
   ``asynciojobs`` -> ``jobgraph.compat.asynciojobs``; ``apssh.cli`` is
   ``jobgraph_ssh.compat.apssh.cli``); nothing else is changed;
3. makes ``localhost.localdomain`` resolve to 127.0.0.1 if it does not (a line in
   /etc/hosts for the run, removed at the end); starts OpenSSH's sshd on 127.0.0.1:22
   (the tests connect to ``localhost`` as the local user with the default key
   ``~/.ssh/id_rsa``): a temporary HOME holds a fresh key, authorised for the current
   user; the sessions' PATH starts with shims of ``systemd-run``, ``systemctl`` and
   ``journalctl`` (as in ``tests/ssh_compat``);
4. runs pytest on those tests, then prints a summary (passed / failed / skipped, and
   each failure's first line). ``--baseline`` runs the same tests on the original apssh
   too (imports unchanged), to tell failures of the environment from ours.

Nothing is copied into the repository.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SSHD = "/usr/sbin/sshd"
FALLBACK_WITH_TESTS = "0.26.0"


def fetch(version: str, where: Path) -> Path:
    """The unpacked sdist of apssh ``version`` under ``where``."""
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-binary",
            ":all:",
            "--no-deps",
            f"apssh=={version}",
            "-d",
            str(where),
            "-q",
        ],
        check=True,
    )
    archive = next(where.glob(f"apssh-{version}.tar.gz"))
    with tarfile.open(archive) as tar:
        tar.extractall(where, filter="data")
    return where / f"apssh-{version}"


def rewrite(tests: Path) -> list[str]:
    """Point the tests' imports at the compat modules; return the files changed."""
    rules = [
        (r"^(\s*)from apssh(\.| )", r"\1from jobgraph_ssh.compat.apssh\2"),
        (r"^(\s*)import apssh\s*$", r"\1import jobgraph_ssh.compat.apssh as apssh"),
        (r"^(\s*)from asynciojobs(\.| )", r"\1from jobgraph.compat.asynciojobs\2"),
        (r"^(\s*)import asynciojobs\s*$", r"\1import jobgraph.compat.asynciojobs as asynciojobs"),
    ]
    changed = []
    for path in sorted(tests.glob("*.py")):
        text = path.read_text()
        new = text
        for pattern, replacement in rules:
            new = re.sub(pattern, replacement, new, flags=re.M)
        if new != text:
            path.write_text(new)
            changed.append(path.name)
    return changed


def start_sshd(base: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """sshd on 127.0.0.1:22 for the current user, with a fresh ~/.ssh/id_rsa in a
    temporary HOME; returns (process, home)."""
    import asyncssh

    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 22)) == 0:
            sys.exit("port 22 of 127.0.0.1 is taken: the apssh tests need it (stop that server)")
    home = base / "home"
    dot_ssh = home / ".ssh"
    dot_ssh.mkdir(parents=True)
    key = asyncssh.generate_private_key("ssh-rsa", key_size=2048)
    (dot_ssh / "id_rsa").write_bytes(key.export_private_key("openssh"))
    (dot_ssh / "id_rsa").chmod(0o600)
    (dot_ssh / "id_rsa.pub").write_bytes(key.export_public_key("openssh"))
    (dot_ssh / "authorized_keys").write_bytes(key.export_public_key("openssh"))
    host_key = base / "ssh_host_ed25519_key"
    host_key.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key("openssh"))
    host_key.chmod(0o600)
    shims = base / "shims"
    shims.mkdir()
    sys.path[:0] = [str(REPO / "src"), str(REPO)]
    from tests.ssh_compat.test_scripts import SHIMS

    for name, text in SHIMS.items():
        (shims / name).write_text(text)
        (shims / name).chmod(0o755)
    config = base / "sshd_config"
    config.write_text(
        "Port 22\nListenAddress 127.0.0.1\n"
        f"HostKey {host_key}\nPidFile {base / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {dot_ssh / 'authorized_keys'}\n"
        "StrictModes no\nPermitRootLogin yes\nPubkeyAuthentication yes\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "AllowTcpForwarding yes\nX11Forwarding yes\nMaxStartups 100\nMaxSessions 100\n"
        f"SetEnv PATH={shims}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin\n"
        "Subsystem sftp internal-sftp\n"
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = base / "sshd.log"
    with log.open("w") as file:
        process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=file)
    deadline = time.monotonic() + 10
    while "Server listening" not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"sshd did not start: {log.read_text()}")
        time.sleep(0.05)
    return process, home


def run_pytest(root: Path, home: Path, report: Path, original: bool, select: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "PYTHONPATH")}
    env.update(HOME=str(home), LOGNAME=getpass.getuser(), USER=getpass.getuser())
    if not original:
        env["PYTHONPATH"] = str(REPO / "src")
    (root / "empty.ini").write_text("[pytest]\n")
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests",
        "-c",
        "empty.ini",
        "--rootdir",
        str(root),
        "-p",
        "no:cacheprovider",
        "-q",
        "--timeout",
        "150",
        f"--junitxml={report}",
    ]
    if select:
        command += ["-k", select]
    subprocess.run(command, cwd=root, env=env, check=False)


def summary(report: Path, title: str) -> dict[str, str]:
    """Print the counts and failures of a junit report; return {test: outcome}."""
    outcomes: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname', '').removeprefix('tests.')}.{case.get('name')}"
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            element = case.find(tag)
            if element is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                text = (element.get("message") or element.text or "").strip()
                reasons[name] = text.splitlines()[0][:160] if text else ""
        outcomes[name] = outcome
    counts = {
        key: list(outcomes.values()).count(key) for key in ("passed", "failed", "error", "skipped")
    }
    print(
        f"\n== {title}: {len(outcomes)} tests: " + ", ".join(f"{v} {k}" for k, v in counts.items())
    )
    for name, outcome in sorted(outcomes.items()):
        if outcome != "passed":
            print(f"  {outcome:7s} {name}: {reasons.get(name, '')}")
    return outcomes


ALIAS = "localhost.localdomain"  # the test_hop2_* tests reach the local host by this name
HOSTS = Path("/etc/hosts")


def loopback_alias(name: str) -> str | None:
    """Make ``name`` resolve to 127.0.0.1 for the run when it does not (a line added to
    /etc/hosts, as root; removed at the end): the line added, or None."""
    with contextlib.suppress(socket.gaierror):
        socket.getaddrinfo(name, 22)
        return None
    if os.geteuid() != 0:
        print(f"{name} does not resolve: the test_hop2_* tests will fail (run as root)")
        return None
    line = f"127.0.0.1 {name}  # apssh_acceptance.py, for the run\n"
    with HOSTS.open("a", encoding="utf-8") as hosts:
        hosts.write(line)
    print(f"{name} -> 127.0.0.1 for the run (a line in {HOSTS}, removed at the end)")
    return line


def drop_hosts_line(line: str) -> None:
    text = HOSTS.read_text(encoding="utf-8")
    HOSTS.write_text(text.replace(line, "", 1), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default="0.27.0")
    parser.add_argument("--baseline", action="store_true", help="also run them on apssh itself")
    parser.add_argument("-k", dest="select", help="pytest -k expression")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    options = parser.parse_args()
    if not os.path.exists(SSHD):
        sys.exit(f"{SSHD} is missing (scripts/setup.sh installs openssh-server)")
    base = Path(tempfile.mkdtemp(prefix="apssh-acceptance-"))
    sshd = None
    hosts_added = loopback_alias(ALIAS)
    try:
        root = fetch(options.version, base / "sdist")
        if not list((root / "tests").glob("test_*.py")):
            print(
                f"apssh {options.version}'s sdist ships no test modules; using the test_*.py "
                f"of apssh {FALLBACK_WITH_TESTS} (the newest sdist that has them) with the "
                f"support files (util.py, scripts, YAML) of {options.version}"
            )
            older = fetch(FALLBACK_WITH_TESTS, base / "sdist-tests")
            for module in (older / "tests").glob("test_*.py"):
                shutil.copy(module, root / "tests" / module.name)
        pristine = base / "pristine"
        shutil.copytree(root, pristine)
        print("imports rewritten in:", ", ".join(rewrite(root / "tests")))
        # a data file the tests use that the sdist leaves out (pristine gets it too)
        for tree in (root, pristine):
            (tree / "tests" / "dummy-10").write_bytes(os.urandom(10 * 1024))
        sshd, home = start_sshd(base)
        run_pytest(root, home, base / "compat.xml", False, options.select)
        ours = summary(base / "compat.xml", "jobgraph_ssh.compat.apssh")
        if options.baseline:
            run_pytest(pristine, home, base / "original.xml", True, options.select)
            theirs = summary(base / "original.xml", "original apssh (baseline)")
            only_ours = sorted(
                n for n, o in ours.items() if o != "passed" and theirs.get(n) == "passed"
            )
            print(f"\n== fail on the compat layer only: {len(only_ours)}")
            for name in only_ours:
                print("  ", name)
    finally:
        if hosts_added:
            drop_hosts_line(hosts_added)
        if sshd is not None:
            sshd.send_signal(signal.SIGTERM)
            sshd.wait(10)
        if options.keep:
            print("kept", base)
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
