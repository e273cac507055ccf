"""Targets: host names, files, directories, the per-user directory, exclusions."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobgraph_ssh.cli import Host, TargetError, parse_host, user_targets_dir
from jobgraph_ssh.cli._targets import exclude, expand


@pytest.mark.parametrize(
    ("text", "host"),
    [
        ("node1", Host("node1")),
        ("root@node1", Host("node1", "root")),
        ("node1.lab.example:2222", Host("node1.lab.example", None, 2222)),
        ("ops@10.0.0.7:22", Host("10.0.0.7", "ops", 22)),
        ("[2001:db8::1]:2200", Host("2001:db8::1", None, 2200)),
        ("root@[::1]", Host("::1", "root")),
        ("fe80::1", Host("fe80::1")),
    ],
)
def test_parse_host_accepts_user_host_port_forms(text: str, host: Host) -> None:
    assert parse_host(text) == host
    assert parse_host(host.name) == host  # the name of a host parses back to it


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("node1:0", "port must be 1..65535"),
        ("node1:http", "port must be 1..65535"),
        ("node1:70000", "port must be 1..65535"),
        ("@node1", "bad user name"),
        ("no*de", "bad host name"),
        ("node1:", "port must be"),
        ("[::1", "missing ']'"),
        ("[..]", "brackets hold an IP address"),
        ("[.]", "brackets hold an IP address"),
        ("[db1]:22", "brackets hold an IP address"),
    ],
)
def test_parse_host_names_the_culprit(text: str, why: str) -> None:
    with pytest.raises(TargetError, match=why) as caught:
        parse_host(text, where="hosts.txt:3")
    assert repr(text) in str(caught.value)
    assert "hosts.txt:3" in str(caught.value)


def test_file_of_hosts_with_comments(tmp_path: Path) -> None:
    listing = tmp_path / "hosts"
    listing.write_text("# the lab\nn1  n2 # two on a line\n\nroot@n3:2222,n4\n   # done\n")
    assert [h.name for h in expand(str(listing))] == ["n1", "n2", "root@n3:2222", "n4"]


def test_bad_host_in_a_file_names_file_and_line(tmp_path: Path) -> None:
    listing = tmp_path / "hosts"
    listing.write_text("n1\nn2:99999\n")
    with pytest.raises(TargetError, match=rf"'n2:99999' \(in {listing}:2\)"):
        expand(str(listing))


def test_directory_of_hosts_takes_file_names(tmp_path: Path) -> None:
    for name in ("n2", "root@n1:2200", ".hidden"):
        (tmp_path / name).write_text("")
    (tmp_path / "sub").mkdir()
    assert [h.name for h in expand(str(tmp_path))] == ["n2", "root@n1:2200"]


def test_string_of_hosts() -> None:
    assert [h.name for h in expand("n1 root@n2, n3:22")] == ["n1", "root@n2", "n3:22"]


def test_relative_names_are_looked_up_in_the_user_directory(tmp_path: Path) -> None:
    environ = {"JOBGRAPH_SSH_TARGETS": str(tmp_path)}
    (tmp_path / "lab").write_text("n1\nn2\n")
    (tmp_path / "marks" / "ok").mkdir(parents=True)
    (tmp_path / "marks" / "ok" / "n3").write_text("")
    assert user_targets_dir(environ) == tmp_path
    assert [h.name for h in expand("lab", environ=environ)] == ["n1", "n2"]
    assert [h.name for h in expand("marks/ok", environ=environ)] == ["n3"]


def test_user_directory_defaults_to_the_config_directory(tmp_path: Path) -> None:
    assert user_targets_dir({"XDG_CONFIG_HOME": str(tmp_path)}) == (
        tmp_path / "jobgraph-ssh" / "targets"
    )


def test_a_path_that_names_nothing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="no such target file or directory: 'lists/lab'"):
        expand("lists/lab", environ={"JOBGRAPH_SSH_TARGETS": str(tmp_path)})


def test_exclusion_by_name_user_or_port() -> None:
    hosts = [parse_host(t) for t in ("n1", "root@n1:22", "n2:2200", "n2:2201", "n3", "n1")]
    assert [h.name for h in exclude(hosts, [parse_host("n1")])] == ["n2:2200", "n2:2201", "n3"]
    assert [h.name for h in exclude(hosts, [parse_host("n2:2201")])] == [
        "n1",
        "root@n1:22",
        "n2:2200",
        "n3",
    ]
    assert [h.name for h in exclude(hosts, [parse_host("root@n1")])] == [
        "n1",
        "n2:2200",
        "n2:2201",
        "n3",
    ]
