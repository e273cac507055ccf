"""Numeric options the nodes would refuse are refused by the command line first: one
line and exit 2, before connecting, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from .conftest import Cli, cli_env


@pytest.mark.parametrize("value", ["inf", "nan", "0", "-1"])
def test_a_connect_timeout_that_means_nothing_is_a_usage_error(tmp_path: Path, value: str) -> None:
    cli = Cli([sys.executable, "-m", "jobgraph_ssh"], cli_env(tmp_path), [])
    result = cli.run("--connect-timeout", value, "-t", "127.0.0.1:1", "true")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].endswith(
        f"--connect-timeout must be a finite number > 0, not '{value}'"
    )
