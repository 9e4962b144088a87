"""Which known AE may use which service: ``services`` of ``[aes.NAME]``."""

from __future__ import annotations

import pytest

from medbridge.errors import ArchiveError
from medbridge.server.config import SERVICES, load_config


def write(tmp_path, body: str):
    path = tmp_path / "medbridge.toml"
    path.write_text(body)
    return path


class TestServices:
    def test_default_is_every_service(self, tmp_path):
        config = load_config(write(tmp_path, '[aes.A]\nhost = "127.0.0.1"\nport = 104\n'), env={})
        assert all(config.may("A", s) for s in SERVICES)

    def test_listed_services_only(self, tmp_path):
        config = load_config(
            write(
                tmp_path,
                '[aes.CT]\nae_title = "CT1"\nhost = "127.0.0.1"\nport = 104\n'
                'services = ["store", "worklist", "mpps"]\n',
            ),
            env={},
        )
        assert config.may("CT1", "worklist") and config.may("CT1", "mpps")
        assert not config.may("CT1", "print") and not config.may("CT1", "commit")
        assert config.may("SOMEONE", "print")  # unknown callers: only without refuse_unknown

    def test_unknown_service_is_an_error(self, tmp_path):
        path = write(tmp_path, '[aes.A]\nhost = "h"\nport = 1\nservices = ["stor"]\n')
        with pytest.raises(ArchiveError, match="unknown stor"):
            load_config(path, env={})
