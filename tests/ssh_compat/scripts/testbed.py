"""A testbed run as apssh users write them: a gateway and two nodes behind it, this
host as a LocalNode, scripts and strings, files pushed and pulled, a Sequence holding
a nested Scheduler, listings before and after, a DOT file. ``-v``: verbose nodes and
scheduler."""

import os
import sys

from jobgraph.compat.asynciojobs import Scheduler, Sequence
from jobgraph_ssh.compat.apssh import (
    CaptureFormatter,
    HostFormatter,
    LocalNode,
    Pull,
    Push,
    Run,
    RunScript,
    RunString,
    SshJob,
    SshNode,
    load_private_keys,
)

HOST = os.environ.get("APSSH_HOST", "127.0.0.1")
PORTS = [int(port) for port in os.environ["APSSH_PORTS"].split(",")]
KEYS = load_private_keys([os.environ["APSSH_KEY"]])
USER = os.environ.get("APSSH_USER", "tester")
verbose = "-v" in sys.argv

gateway = SshNode(
    HOST, port=PORTS[0], username=USER, keys=KEYS, formatter=HostFormatter(verbose=verbose)
)
nodes = [
    SshNode(HOST, port=PORTS[1], username=USER, keys=KEYS, gateway=gateway, verbose=verbose,
            formatter=HostFormatter())
    for _ in range(2)
]  # fmt: skip
local = LocalNode(formatter=HostFormatter(verbose=verbose))

with open("setup.sh", "w") as script:
    script.write("#!/bin/sh\necho setup $1 done\n")
with open("data.txt", "w") as data:
    data.write("some data\n")

scheduler = Scheduler(verbose=verbose)
check = SshJob(gateway, command=Run("echo gateway up"), scheduler=scheduler)
prepare = SshJob(
    local,
    commands=[Run("echo local prep"), Run("echo to stderr >&2")],
    scheduler=scheduler,
    verbose=verbose,
)
setups = Scheduler(
    *[
        SshJob(node, commands=[
            RunScript("setup.sh", f"n{index}"),
            RunString("#!/bin/sh\n# a comment\necho from a string $1; echo more\n", "x"),
        ], verbose=verbose)
        for index, node in enumerate(nodes)
    ],
    label="setups",
)  # fmt: skip
transfer = SshJob(
    nodes[0],
    commands=[
        Push(localpaths=["data.txt"], remotepath="."),
        Run("cat data.txt"),
        Pull(remotepaths=["data.txt"], localpath="pulled"),
    ],
    verbose=verbose,
)
Sequence(setups, transfer, scheduler=scheduler, required=[check, prepare])
scheduler.list(details=True)
scheduler.export_as_dotfile("testbed.dot")
ok = scheduler.run()
print("ok", ok)
scheduler.list(details=True)
scheduler.list()


# failures: a job that is not critical goes on, a critical one stops its scheduler
# (new nodes for each run: apssh's connections cannot outlive a run's event loop)
def behind():
    hop = SshNode(
        HOST, port=PORTS[0], username=USER, keys=KEYS, formatter=HostFormatter(verbose=verbose)
    )
    return SshNode(HOST, port=PORTS[1], username=USER, keys=KEYS, gateway=hop,
                   formatter=HostFormatter(verbose=verbose))  # fmt: skip


tolerant = Scheduler(SshJob(behind(), commands=[Run("exit 4"), Run("echo after")], critical=False))
print("ok", tolerant.run())
tolerant.list()
critical = Scheduler(SshJob(behind(), commands=[Run("echo before"), Run("exit 5")]))
try:
    critical.run()
except Exception as exc:
    print(type(exc).__name__, exc)
critical.list()

# a CaptureFormatter keeps stdout, and prints stderr
captured = LocalNode(formatter=CaptureFormatter(verbose=False))
print("ok", Scheduler(SshJob(captured, command="echo kept; echo told >&2")).run())
print("captured", repr(captured.formatter.get_capture()))
