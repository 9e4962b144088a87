"""HAProxy (Debian's package) in front of medbridge nodes, as deploy/haproxy.cfg runs it.

DIMSE goes through in TCP mode (one association sticks to one node for its life), HTTP
in HTTP mode; both check each node's health so a dead node leaves the rotation within a
second. The configuration is written from `render`, which deploy/haproxy.cfg mirrors.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dimse.peers import free_port, need, wait_port


@dataclass(frozen=True)
class Balancer:
    """A running HAProxy: where clients connect."""

    dimse_port: int
    http_port: int

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


def render(
    dimse_port: int, http_port: int, nodes: list[tuple[str, int, int]], balance: str = "leastconn"
) -> str:
    """haproxy.cfg for `nodes` given as (name, DIMSE port, HTTP port) on loopback.

    `balance` is HAProxy's algorithm for associations: ``leastconn`` spreads them (the
    deployment's choice); ``first`` fills the first live node, so a test knows which
    node holds an association.
    """
    dimse = "\n".join(
        f"  server {name} 127.0.0.1:{d} check inter 300ms fall 1 rise 2" for name, d, _ in nodes
    )
    http = "\n".join(
        f"  server {name} 127.0.0.1:{h} check inter 300ms fall 1 rise 2" for name, _, h in nodes
    )
    return f"""global
  maxconn 512

defaults
  timeout connect 2s
  timeout client 300s
  timeout server 300s
  retries 3
  option redispatch

frontend dimse
  mode tcp
  bind 127.0.0.1:{dimse_port}
  default_backend dimse_nodes

backend dimse_nodes
  mode tcp
  balance {balance}
{dimse}

frontend http
  mode http
  bind 127.0.0.1:{http_port}
  default_backend http_nodes

backend http_nodes
  mode http
  balance roundrobin
  option httpchk GET /health
  http-check expect status 200
{http}
"""


@contextlib.contextmanager
def haproxy(
    work: Path, nodes: list[tuple[str, int, int]], balance: str = "leastconn"
) -> Iterator[Balancer]:
    """Run HAProxy in the foreground with a config for `nodes`."""
    exe = need("haproxy")
    balancer = Balancer(free_port(), free_port())
    config = work / "haproxy.cfg"
    config.write_text(render(balancer.dimse_port, balancer.http_port, nodes, balance))
    check = subprocess.run([exe, "-c", "-f", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    proc = subprocess.Popen(
        [exe, "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_port(balancer.dimse_port, proc)  # type: ignore[arg-type]
        wait_port(balancer.http_port, proc)  # type: ignore[arg-type]
        yield balancer
    finally:
        proc.terminate()
        proc.wait(10)
