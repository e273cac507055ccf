"""--json keeps the end of each host's output, and says when it cut (issue 22, item 9)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ssh.conftest import Servers

from .conftest import Cli, names

JSON_KEEP = 1 << 20  # the documented default: 1 MiB of each stream per host


def test_json_keeps_the_end_of_each_hosts_output_and_says_it_cut(
    cli1: Cli, servers: Servers, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    hosts = names(servers, [0, 1])
    # each host writes 1.29 MB on stdout, a line on stderr
    result = cli1.run(
        "-q", "-t", " ".join(hosts), "--json", str(report), "seq 200000; echo err >&2"
    )
    assert result.returncode == 0, result.stderr
    entries = json.loads(report.read_text())
    assert [entry["host"] for entry in entries] == hosts
    for entry in entries:
        kept = entry["stdout"]
        assert JSON_KEEP - 7 <= len(kept) <= JSON_KEEP  # the last whole lines that fit
        assert kept.endswith("199999\n200000\n") and kept.split("\n")[0].isdigit()
        assert entry["stdout_truncated"] == 1288895 - len(kept)  # characters dropped
        assert entry["stderr_truncated"] == 0 and entry["stderr"] == "err\n"
    listed = ", ".join(f"{host} (stdout)" for host in hosts)
    assert f"--json: output cut to its last 1024 KiB for 2 hosts: {listed}" in result.stderr
