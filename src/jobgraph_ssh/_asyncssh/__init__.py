"""The asyncio side of :mod:`jobgraph_ssh`: the only folder that imports asyncio, trio or
asyncssh (as anyio keeps its backends in ``_backends/``).

asyncssh is an asyncio library. Everything that touches it, or an asyncio loop, lives
here; the rest of :mod:`jobgraph_ssh` is written against anyio and reaches this folder
through :mod:`jobgraph_ssh.lowlevel` (the services, the CLI and the apssh drop-in) or
directly (the package's own private modules). ``pyproject.toml``'s lint rules ban the
three imports everywhere else, and ``tests/ssh/test_layers.py`` scans for them.

- ``_glue``: the hand-over to asyncssh's loop (:func:`jobgraph_ssh.lowlevel.call`),
  under asyncio or trio; the only module that imports trio.
- ``_connection``: one shared connection per node (``Link``), channels, commands'
  output, SFTP.
- ``_keys``: private keys and the SSH agent.
- ``_tunnel``, ``_transfer``: the I/O halves of :mod:`jobgraph_ssh.services` (the
  socket that serves remote calls; PushFileService's uploads).
- ``_sandbox_server``: the hosts of :mod:`jobgraph_ssh.sandbox`.
- ``_dependencies``: asyncssh imported once, quietly, or the missing extra named.
"""
