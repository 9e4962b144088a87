"""Settings of ``medbridge serve`` (dimse/config.py): defaults, precedence, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from medbridge.archive import DuplicatePolicy
from medbridge.errors import ArchiveError
from medbridge.server.config import KnownAE, ServerConfig, load_config


class TestLoadConfig:
    def test_embedded_defaults(self):
        """No file, no environment: port 11112, AE MEDBRIDGE, SQLite and files in ./var."""
        config = load_config(None, env={})
        assert (config.dimse_port, config.ae_title) == (11112, "MEDBRIDGE")
        assert config.data_dir == Path("./var")
        assert config.index_url is None
        assert config.duplicates is DuplicatePolicy.KEEP
        assert config.fsync and not config.refuse_unknown
        assert config.ssl_context() is None

    def test_precedence_cli_env_file(self, tmp_path):
        """Command line over MEDBRIDGE_* over the TOML file over the defaults."""
        path = tmp_path / "m.toml"
        path.write_text('[server]\nae_title = "FILE"\ndimse_port = 104\nduplicates = "replace"\n')
        env = {"MEDBRIDGE_DIMSE_PORT": "2104", "MEDBRIDGE_AE_TITLE": "ENV"}
        config = load_config(path, env=env, ae_title="CLI", dimse_port=None)
        assert (config.ae_title, config.dimse_port) == ("CLI", 2104)
        assert config.duplicates is DuplicatePolicy.REPLACE

    def test_known_aes(self, tmp_path):
        """[aes.NAME] tables become known AEs, found by title."""
        path = tmp_path / "m.toml"
        path.write_text('[aes.WS]\nae_title = "WS1"\nhost = "10.0.0.5"\nport = 104\n')
        config = load_config(path, env={})
        assert config.known_ae("WS1") == KnownAE("WS1", "10.0.0.5", 104)
        assert config.known_ae("WS") is None

    @pytest.mark.parametrize(
        ("text", "env", "match"),
        [
            ("[server]\nport = 1\n", {}, "unknown settings: port"),
            ("[server]\nae_title = 'A\\\\B'\n", {}, "invalid AE title"),
            ("", {"MEDBRIDGE_DIMSE_PORT": "many"}, "invalid setting"),
            ("", {"MEDBRIDGE_DUPLICATES": "merge"}, "invalid setting"),
            ("[aes.X]\nhost = 'h'\n", {}, r"\[aes.X\] needs ae_title, host, port"),
            ("[server\n", {}, "cannot read config"),
            ("[server]\ndimse_port = 70000\n", {}, "port 70000 is not in 0-65535"),
            ("[aes.X]\nae_title = 'X'\nhost = 'h'\nport = 0\n", {}, r"port \(1-65535\)"),
        ],
        ids=[
            "unknown-key",
            "backslash-ae",
            "bad-int",
            "bad-policy",
            "incomplete-ae",
            "bad-toml",
            "port-range",
            "ae-port-range",
        ],
    )
    def test_errors_name_the_setting(self, tmp_path, text, env, match):
        """Bad settings raise ArchiveError saying which setting is wrong."""
        path = tmp_path / "m.toml"
        path.write_text(text)
        with pytest.raises(ArchiveError, match=match):
            load_config(path, env=env)


class TestAdmits:
    def _config(self, **kw):
        ws = KnownAE("WS1", "localhost", 104)
        return ServerConfig(known_aes=(ws,), refuse_unknown=True, **kw)

    def test_everyone_without_refuse_unknown(self):
        """Without refuse_unknown any title from anywhere may associate."""
        assert ServerConfig().admits("ANYONE", "198.51.100.4")

    @pytest.mark.parametrize("address", ["127.0.0.1", "::ffff:127.0.0.1"])
    def test_known_title_from_its_host(self, address):
        """A known title is admitted from any address its host name resolves to."""
        assert self._config().admits("WS1", address)

    def test_known_title_from_elsewhere(self):
        """A known title from another address is refused, unless the host check is off."""
        assert not self._config().admits("WS1", "198.51.100.4")
        assert self._config(check_caller_host=False).admits("WS1", "198.51.100.4")

    def test_unknown_title(self):
        """An unknown title is refused from any address."""
        assert not self._config().admits("STRANGER", "127.0.0.1")
