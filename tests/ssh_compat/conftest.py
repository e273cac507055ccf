"""The apssh compat tests use the real loopback servers of ``tests/ssh``."""

from tests.ssh.conftest import client_key, gateways, no_leaks, servers, sshd

__all__ = ["client_key", "gateways", "no_leaks", "servers", "sshd"]
