"""Loopback SSH hosts that let jobs forward a socket back (remote forwarding), for the
services-across-SSH tests; the servers and leak checks of tests/ssh are reused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ssh.conftest import (  # noqa: F401 - fixtures, used by name
    ClientKey,
    Servers,
    client_key,
    no_leaks,
    sshd,
    start_asyncssh,
)


@pytest.fixture(scope="module")
def hosts(
    tmp_path_factory: pytest.TempPathFactory,
    client_key: ClientKey,  # noqa: F811
) -> Iterator[Servers]:
    """Four loopback hosts allowing remote Unix socket and TCP forwarding, and
    forwarding to others (as gateways)."""
    directory = tmp_path_factory.mktemp("svc-hosts")
    with start_asyncssh(
        directory, client_key, hosts=4, forwarding=True, remote_forwarding="both"
    ) as running:
        yield running


@pytest.fixture(scope="module")
def tcp_hosts(
    tmp_path_factory: pytest.TempPathFactory,
    client_key: ClientKey,  # noqa: F811
) -> Iterator[Servers]:
    """One loopback host allowing only remote TCP forwarding (no Unix sockets)."""
    directory = tmp_path_factory.mktemp("svc-tcp")
    with start_asyncssh(directory, client_key, hosts=1, remote_forwarding="tcp") as running:
        yield running
