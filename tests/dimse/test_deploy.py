"""deploy/: the sample HAProxy config is valid for HAProxy, the node config for medbridge."""

from __future__ import annotations

import yaml

from conftest import REPO
from dimse.peers import need, run
from medbridge.server.config import Role, load_config

DEPLOY = REPO / "deploy"


def test_haproxy_config_is_valid() -> None:
    result = run([need("haproxy"), "-c", "-f", str(DEPLOY / "haproxy.cfg")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_node_config_loads() -> None:
    config = load_config(DEPLOY / "medbridge.toml", env={})
    assert config.index_url and config.index_url.startswith("postgresql+psycopg://")
    assert config.storage_url == "s3://pacs/archive"
    assert config.http_host == "0.0.0.0" and config.tokens  # exposed only with tokens
    assert {t.role for t in config.tokens} == {Role.READ, Role.WRITE}


def test_compose_runs_two_nodes_behind_the_balancer() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "objectstore", "node1", "node2", "balancer"} <= set(services)
    assert services["node1"]["volumes"] == services["node2"]["volumes"]
    cfg = (DEPLOY / "haproxy.cfg").read_text()
    for node in ("node1", "node2"):
        assert f"server {node} {node}:11112" in cfg and f"server {node} {node}:8080" in cfg
