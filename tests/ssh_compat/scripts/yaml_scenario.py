"""A scheduler described in YAML (a jinja2 template), loaded and run."""

import asyncio
import os
from pathlib import Path

from jobgraph_ssh.compat.apssh import YamlLoader, co_close_ssh_in_scheduler, load_private_keys

HOST = os.environ.get("APSSH_HOST", "127.0.0.1")
PORTS = [int(port) for port in os.environ["APSSH_PORTS"].split(",")]
KEYS = load_private_keys([os.environ["APSSH_KEY"]])
USER = os.environ.get("APSSH_USER", "tester")

loader = YamlLoader(Path(__file__).with_name("scenario.yaml.j2"))
nodes, jobs, scheduler = loader.load_with_maps({"host": HOST, "user": USER, "name": "yaml"})
for node, port in zip(nodes.values(), PORTS, strict=False):
    node.port = port  # the YAML format has no port: set it as an attribute
    node.keys = KEYS
print("jobs", sorted(jobs))
print("label", jobs["hello"].label)


async def main() -> bool:
    try:
        return await scheduler.co_run()
    finally:
        await co_close_ssh_in_scheduler(scheduler)


ok = asyncio.run(main())
print("ok", ok)
