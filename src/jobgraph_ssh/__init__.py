"""jobgraph_ssh: jobgraph jobs that run commands and move files over SSH.

The SSH layer is built on top of the jobgraph engine in a later milestone; this
package is reserved for it and exports nothing yet.
"""

__all__: list[str] = []
