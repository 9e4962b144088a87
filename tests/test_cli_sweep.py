"""Every command with bad hosts, ports, paths, extensions and empty inputs (issue 15).

One rule for every command (README "Exit status"): 0 all done, 1 nothing done, 2 bad
command line, 3 partial, 4 incomplete output; one line naming what failed and why, no
traceback (that needs -vv) and none of pynetdicom's own log lines. Each case runs
``python -m medbridge`` as a user would; the DICOM peer is one medbridge server for the
whole module.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import nibabel as nib
import numpy as np
import pytest
from pydicom.data import get_testdata_file

from archive.factory import Spec, write_files
from dimse.peers import MedbridgeServer, free_port
from medbridge.exitcodes import ExitCode


@dataclass(frozen=True)
class Case:
    """One command line, what it must exit with, and what its stderr must say."""

    name: str
    args: tuple[str, ...]
    code: ExitCode
    says: str = ""
    max_lines: int | None = None  # stderr lines at most (one-line errors)


@dataclass
class World:
    """Paths and ports the cases refer to as {name}."""

    values: dict[str, str]

    def fill(self, args: tuple[str, ...]) -> list[str]:
        return [a.format(**self.values) for a in args]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Inputs of every kind, and one running server holding two instances."""
    root = tmp_path_factory.mktemp("sweep")
    (root / "empty").mkdir()
    dicom = root / "dicom"
    write_files(dicom, [Spec(number=1), Spec(number=2)])
    mixed = root / "mixed"
    write_files(mixed, [Spec(number=3)])
    (mixed / "readme.txt").write_text("not an image\n")
    only_text = root / "text"
    only_text.mkdir()
    (only_text / "notes.txt").write_text("notes\n")
    volume = root / "volume.nii"
    nib.save(nib.Nifti1Image(np.arange(64, dtype=np.int16).reshape(4, 4, 4), np.eye(4)), volume)
    (root / "broken.nrrd").write_text("not a nrrd header\n")
    (root / "key").write_text("c2VjcmV0IGtleSBmb3IgdGhlIHN3ZWVwIHRlc3QgMTIzNDU2Nzg=\n")
    with MedbridgeServer(root / "var") as server:
        from dimse.peers import medbridge

        sent = medbridge("send", "--aec", "MEDBRIDGE", "127.0.0.1", str(server.port), str(dicom))
        assert sent.returncode == 0, sent.stderr
        yield World(
            {
                "root": str(root),
                "empty": str(root / "empty"),
                "dicom": str(dicom),
                "mixed": str(mixed),
                "text": str(only_text),
                "volume": str(volume),
                "broken": str(root / "broken.nrrd"),
                "key": str(root / "key"),
                "missing": str(root / "no" / "such" / "path"),
                "out": str(root / "out"),
                "data": str(server.data_dir),
                "port": str(server.port),
                "closed": str(free_port()),
                "ct": str(get_testdata_file("CT_small.dcm")),
            }
        )


H = "127.0.0.1"
PEER = ("--aec", "MEDBRIDGE")
CASES = [
    # ls
    Case("ls-missing", ("ls", "{missing}"), ExitCode.ERROR, "no such file", 1),
    Case("ls-empty", ("ls", "{empty}"), ExitCode.ERROR, "no DICOM files found", 1),
    Case("ls-no-args", ("ls",), ExitCode.USAGE, "Missing argument"),
    Case("ls-partial", ("ls", "{mixed}"), ExitCode.PARTIAL),
    Case("ls-ok", ("ls", "{dicom}"), ExitCode.OK),
    # info
    Case("info-missing", ("info", "{missing}"), ExitCode.ERROR, "{missing}", 1),
    Case("info-text", ("info", "{mixed}/readme.txt"), ExitCode.ERROR, "readme.txt", 1),
    Case("info-broken-nrrd", ("info", "{broken}"), ExitCode.ERROR, "nrrd header", 1),
    Case("info-nifti", ("info", "{volume}"), ExitCode.OK),
    Case("info-dicom", ("info", "{ct}"), ExitCode.OK),
    # convert
    Case("convert-missing", ("convert", "{missing}"), ExitCode.USAGE, "does not exist"),
    Case("convert-empty", ("convert", "{empty}", "-o", "{out}/c1"), ExitCode.ERROR),
    Case("convert-text", ("convert", "{text}", "-o", "{out}/c2"), ExitCode.ERROR),
    Case("convert-bad-ext", ("convert", "{volume}", "-o", "{out}/x.xyz"), ExitCode.USAGE, ".xyz"),
    Case("convert-bad-z", ("convert", "-z", "q", "{dicom}"), ExitCode.USAGE, "'-z'"),
    Case("convert-broken", ("convert", "{broken}", "-o", "{out}/b.nii"), ExitCode.ERROR),
    # anonymize
    Case("anon-missing", ("anonymize", "{missing}", "-o", "{out}/a", "--key", "{key}"),
         ExitCode.USAGE, "does not exist"),
    Case("anon-bad-key", ("anonymize", "{dicom}", "-o", "{out}/a", "--key", "{missing}"),
         ExitCode.USAGE, "--key"),
    Case("anon-empty", ("anonymize", "{empty}", "-o", "{out}/a", "--key", "{key}"),
         ExitCode.ERROR),
    # serve (fails before or while binding: never runs)
    Case("serve-dimse-port", ("serve", "--dimse-port", "70000"), ExitCode.USAGE, "70000"),
    Case("serve-http-port", ("serve", "--http-port", "70000"), ExitCode.USAGE, "70000"),
    Case("serve-port-taken", ("serve", "--data-dir", "{out}/s", "--dimse-port", "{port}",
                              "--http-port", "0"), ExitCode.ERROR, "already in use"),
    Case("serve-no-config", ("serve", "--config", "{missing}"), ExitCode.USAGE),
    Case("serve-bad-ae", ("serve", "--data-dir", "{out}/s", "--ae-title", "A\\B"),
         ExitCode.ERROR, "AE title", 1),
    # echo
    Case("echo-ok", ("echo", *PEER, H, "{port}"), ExitCode.OK),
    Case("echo-no-host", ("echo", "nosuchhost.invalid", "11112"), ExitCode.ERROR,
         "nosuchhost.invalid", 1),
    Case("echo-port-range", ("echo", H, "70000"), ExitCode.USAGE, "70000"),
    Case("echo-port-text", ("echo", H, "eleven"), ExitCode.USAGE, "eleven"),
    Case("echo-refused", ("echo", H, "{closed}"), ExitCode.ERROR, "Connection refused", 1),
    # send
    Case("send-empty", ("send", *PEER, H, "{port}", "{empty}"), ExitCode.ERROR,
         "nothing to send", 1),
    Case("send-partial", ("send", *PEER, H, "{port}", "{mixed}"), ExitCode.PARTIAL,
         "readme.txt: not a DICOM file"),
    Case("send-only-text", ("send", *PEER, H, "{port}", "{text}"), ExitCode.ERROR),
    Case("send-missing", ("send", *PEER, H, "{port}", "{missing}"), ExitCode.USAGE),
    Case("send-no-host", ("send", "nosuchhost.invalid", "104", "{dicom}"), ExitCode.ERROR,
         "nosuchhost.invalid", 1),
    Case("send-refused", ("send", H, "{closed}", "{dicom}"), ExitCode.ERROR, "refused", 1),
    # find
    Case("find-default", ("find", *PEER, H, "{port}"), ExitCode.OK),
    Case("find-patient-level", ("find", *PEER, "--level", "PATIENT", H, "{port}"),
         ExitCode.USAGE, "--patient-root"),
    Case("find-bad-key", ("find", *PEER, "-k", "NoSuchKeyword", H, "{port}"), ExitCode.USAGE,
         "NoSuchKeyword"),
    Case("find-refused", ("find", H, "{closed}"), ExitCode.ERROR, "refused", 1),
    Case("find-port-range", ("find", H, "0"), ExitCode.USAGE),
    # move
    Case("move-no-dest", ("move", *PEER, H, "{port}"), ExitCode.USAGE, "--dest"),
    Case("move-unknown-dest", ("move", *PEER, "--dest", "NOWHERE", "-k",
                               "StudyInstanceUID=1.2.3", H, "{port}"), ExitCode.ERROR,
         "move destination unknown", 1),
    Case("move-patient-level", ("move", *PEER, "--dest", "X", "--level", "PATIENT", H,
                                "{port}"), ExitCode.USAGE, "--patient-root"),
    # get
    Case("get-nothing", ("get", *PEER, "-o", "{out}/g", "-k", "StudyInstanceUID=9.9.9", H,
                         "{port}"), ExitCode.ERROR, "nothing matches", 1),
    Case("get-patient-level", ("get", *PEER, "--level", "PATIENT", H, "{port}"),
         ExitCode.USAGE, "--patient-root"),
    Case("get-no-host", ("get", "nosuchhost.invalid", "104"), ExitCode.ERROR,
         "nosuchhost.invalid", 1),
    # archive
    Case("check-missing", ("archive", "check", "--data-dir", "{missing}"), ExitCode.ERROR,
         "no archive", 1),
    Case("check-ok", ("archive", "check", "--data-dir", "{data}"), ExitCode.OK),
    Case("export-missing", ("archive", "export", "--data-dir", "{missing}", "-o", "{out}/e"),
         ExitCode.ERROR, "no archive", 1),
    Case("export-no-out", ("archive", "export", "--data-dir", "{data}"), ExitCode.USAGE),
    Case("export-nothing", ("archive", "export", "--data-dir", "{data}", "-k",
                            "StudyInstanceUID=9.9.9", "-o", "{out}/e"), ExitCode.ERROR,
         "no stored instance", 1),
    Case("export-bad-key", ("archive", "export", "--data-dir", "{data}", "-k", "Nope=1", "-o",
                            "{out}/e"), ExitCode.USAGE, "Nope"),
    Case("migrate-missing", ("archive", "migrate", "--data-dir", "{missing}", "--to-data-dir",
                             "{out}/m"), ExitCode.ERROR, "no archive", 1),
    Case("migrate-no-target", ("archive", "migrate", "--data-dir", "{data}"), ExitCode.USAGE,
         "--to-config"),
    Case("migrate-bad-url", ("archive", "migrate", "--data-dir", "{data}", "--to-storage-url",
                             "ftp://x/y"), ExitCode.ERROR, "storage URL", 1),
    # user
    Case("user-list-missing", ("user", "list", "--data-dir", "{missing}"), ExitCode.ERROR,
         "no archive", 1),
    Case("user-remove-unknown", ("user", "remove", "nobody", "--data-dir", "{data}"),
         ExitCode.ERROR, "no user 'nobody'", 1),
    Case("user-add-bad-role", ("user", "add", "x", "--role", "king", "--password-stdin",
                               "--data-dir", "{data}"), ExitCode.USAGE, "king"),
    # worklist, mpps, commit, print
    Case("worklist-list-missing", ("worklist", "list", "--data-dir", "{missing}"),
         ExitCode.ERROR, "no archive", 1),
    Case("worklist-list-ok", ("worklist", "list", "--data-dir", "{data}"), ExitCode.OK),
    Case("worklist-query-refused", ("worklist", "query", H, "{closed}"), ExitCode.ERROR,
         "refused", 1),
    Case("worklist-query-no-host", ("worklist", "query", "nosuchhost.invalid", "104"),
         ExitCode.ERROR, "nosuchhost.invalid", 1),
    Case("mpps-no-patient", ("mpps", "start", H, "{port}"), ExitCode.USAGE, "--patient-id"),
    Case("commit-port-range", ("commit", H, "70000", "{dicom}"), ExitCode.USAGE, "70000"),
    Case("commit-text", ("commit", *PEER, H, "{port}", "{text}"), ExitCode.ERROR),
    Case("print-list-missing", ("print", "list", "--data-dir", "{missing}"), ExitCode.ERROR,
         "no archive", 1),
]  # fmt: skip


def _run(args: list[str], cwd: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("MEDBRIDGE_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "medbridge", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def results(world: World) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every case's process, run four at a time: the sweep costs its CPU time, not the
    sum of each interpreter's start-up wait."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            c.name: pool.submit(_run, world.fill(c.args), world.values["root"]) for c in CASES
        }
    return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_command(
    case: Case, world: World, results: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    """Exit status by the one rule; errors are lines, not tracebacks or pynetdicom logs."""
    result = results[case.name]
    err = result.stderr
    assert result.returncode == case.code, f"{result.returncode}\n{err}\n{result.stdout}"
    assert "Traceback" not in err, err
    assert "pynetdicom" not in err, err
    if case.says:
        assert case.says.format(**world.values) in err + result.stdout, err
    if case.max_lines is not None:
        assert len(err.strip().splitlines()) <= case.max_lines, err


def test_tracebacks_need_vv(world: World) -> None:
    """-vv shows pynetdicom's log (and a traceback when there is one); without, one line."""
    args = ["echo", H, world.values["closed"]]
    quiet = _run(args, world.values["root"])
    loud = _run(["-vv", *args], world.values["root"])
    assert quiet.returncode == loud.returncode == ExitCode.ERROR
    assert len(quiet.stderr.strip().splitlines()) == 1
    assert "pynetdicom" in loud.stderr


def test_every_command_is_swept() -> None:
    """The sweep covers each command of `medbridge --help`."""
    from click.testing import CliRunner

    from medbridge.cli import main

    listed = CliRunner().invoke(main, ["--help"]).output
    commands = {
        line.split()[0] for line in listed.split("Commands:")[1].splitlines() if line.strip()
    }
    swept = {c.args[0] for c in CASES}
    assert commands <= swept, commands - swept
