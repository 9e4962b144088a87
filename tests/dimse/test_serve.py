"""``medbridge serve`` as a user runs it: ready line, signals, restart, config and env."""

from __future__ import annotations

import signal

from pydicom import dcmread

from archive.factory import corpus, make_bytes
from dimse.conftest import dataset_body
from dimse.peers import MedbridgeServer, medbridge, need, run

HOST = "127.0.0.1"


def echoscu(port: int, *, aec: str = "MEDBRIDGE", aet: str = "ECHOSCU") -> int:
    need("echoscu")
    return run(["echoscu", "-aet", aet, "-aec", aec, HOST, str(port)]).returncode


class TestLifecycle:
    def test_ready_line_and_clean_sigterm(self, tmp_path):
        """One ready line naming AE, port, data folder and index; SIGTERM exits 0."""
        srv = MedbridgeServer(tmp_path / "var").start()
        ready = [line for line in srv.lines if "medbridge ready" in line]
        assert len(ready) == 1
        assert f"DIMSE AE MEDBRIDGE on 0.0.0.0:{srv.port}" in ready[0]
        assert str(tmp_path / "var") in ready[0]
        assert "sqlite index" in ready[0]
        assert echoscu(srv.port) == 0
        assert srv.stop() == 0
        assert "medbridge stopped" in srv.log
        assert "Traceback" not in srv.log

    def test_ctrl_c_stops_cleanly(self, tmp_path):
        """SIGINT (Ctrl-C) shuts down as SIGTERM does, without a traceback."""
        srv = MedbridgeServer(tmp_path / "var").start()
        assert srv.stop(sig=signal.SIGINT) == 0
        assert "medbridge stopped" in srv.log
        assert "Traceback" not in srv.log

    def test_restart_on_same_data_loses_nothing(self, tmp_path, corpus_dir):
        """What was stored before a restart is found and retrieved byte for byte after it."""
        data = tmp_path / "var"
        with MedbridgeServer(data) as srv:
            sent = medbridge("send", "--aec", "MEDBRIDGE", HOST, str(srv.port), str(corpus_dir))
            assert sent.returncode == 0, sent.stderr
            assert srv.stop() == 0
        with MedbridgeServer(data) as srv:
            found = medbridge(
                "find", "--aec", "MEDBRIDGE", "--level", "IMAGE", "-k", "SOPInstanceUID",
                HOST, str(srv.port),
            )  # fmt: skip
            out = tmp_path / "got"
            got = medbridge(
                "get", "--aec", "MEDBRIDGE", "-o", str(out), "--level", "PATIENT",
                "--patient-root", "-k", "PatientID=PAT*", HOST, str(srv.port),
            )  # fmt: skip
        assert found.returncode == 0, found.stderr
        assert f"{len(corpus())} matches" in found.stdout
        assert got.returncode == 0, got.stderr + got.stdout
        received = {dcmread(p).SOPInstanceUID: p for p in out.iterdir()}
        assert sorted(received) == sorted(s.sop_uid for s in corpus())
        for spec in corpus():
            body = dataset_body(received[spec.sop_uid].read_bytes())
            assert body == dataset_body(make_bytes(spec))


class TestSettings:
    def test_toml_file_sets_the_ae_title(self, tmp_path):
        """--config FILE: the server answers to the file's AE title, not the default."""
        config = tmp_path / "medbridge.toml"
        config.write_text('[server]\nae_title = "FROMTOML"\n')
        with MedbridgeServer(tmp_path / "var", config=config) as srv:
            assert "DIMSE AE FROMTOML" in srv.log
            assert echoscu(srv.port, aec="FROMTOML") == 0

    def test_environment_overrides_the_file(self, tmp_path):
        """MEDBRIDGE_* variables win over the TOML file, and reach settings with no option."""
        config = tmp_path / "medbridge.toml"
        config.write_text(
            '[server]\nae_title = "FROMTOML"\nrefuse_unknown = false\n\n'
            '[aes.FRIEND]\nae_title = "FRIEND"\nhost = "127.0.0.1"\nport = 104\n'
        )
        env = {"MEDBRIDGE_AE_TITLE": "FROMENV", "MEDBRIDGE_REFUSE_UNKNOWN": "true"}
        with MedbridgeServer(tmp_path / "var", config=config, env=env) as srv:
            assert "DIMSE AE FROMENV" in srv.log
            assert echoscu(srv.port, aec="FROMENV", aet="FRIEND") == 0
            assert echoscu(srv.port, aec="FROMENV", aet="STRANGER") != 0

    def test_command_line_overrides_the_environment(self, tmp_path):
        """--ae-title wins over MEDBRIDGE_AE_TITLE."""
        env = {"MEDBRIDGE_AE_TITLE": "FROMENV"}
        with MedbridgeServer(tmp_path / "var", env=env, args=["--ae-title", "FROMCLI"]) as srv:
            assert "DIMSE AE FROMCLI" in srv.log

    def test_bad_setting_is_one_line_and_exit_1(self, tmp_path):
        """An unknown setting in the file stops serve with one line naming it."""
        config = tmp_path / "medbridge.toml"
        config.write_text("[server]\nport = 104\n")
        result = medbridge("serve", "--data-dir", str(tmp_path / "var"), "--config", str(config))
        assert result.returncode == 1
        assert "unknown settings: port" in result.stderr
        assert "Traceback" not in result.stderr
