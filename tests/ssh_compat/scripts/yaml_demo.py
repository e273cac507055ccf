"""A YAML scenario whose nodes say ``verbose: false``, loaded with
``save_intermediate=True``."""

import asyncio
import os
from pathlib import Path

from jobgraph_ssh.compat.apssh import YamlLoader, co_close_ssh_in_scheduler, load_private_keys

HOST = os.environ.get("APSSH_HOST", "127.0.0.1")
PORTS = [int(port) for port in os.environ["APSSH_PORTS"].split(",")]
KEYS = load_private_keys([os.environ["APSSH_KEY"]])
USER = os.environ.get("APSSH_USER", "tester")

Path("demo.yaml.j2").write_text(Path(__file__).with_name("scenario.yaml.j2").read_text())
loader = YamlLoader("demo.yaml.j2")
nodes, jobs, scheduler = loader.load_with_maps(
    {"host": HOST, "user": USER, "name": "yaml"}, save_intermediate=True
)
for node, port in zip(nodes.values(), PORTS, strict=False):
    node.port = port
    node.keys = KEYS


async def main() -> bool:
    try:
        return await scheduler.co_run()
    finally:
        await co_close_ssh_in_scheduler(scheduler)


print("ok", asyncio.run(main()))
