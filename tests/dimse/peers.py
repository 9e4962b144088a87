"""Start the real peers the PACS tests talk to: medbridge serve, DCMTK, PostgreSQL, Orthanc.

Each is a separate process on a port chosen at runtime, so test workers run side by
side. A missing tool fails the test under ``CI`` and skips it otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

_READY = re.compile(r"medbridge ready: DIMSE AE \S+ on [^:]*:(\d+), HTTP on (\S+) ")


def system_tool(tool: str) -> str | None:
    """The path of a command-line peer, never one from our own virtualenv.

    pynetdicom installs apps named like DCMTK's (storescu, findscu, ...) into
    ``.venv/bin``; with the virtualenv activated they would shadow the real DCMTK.
    """
    ours = Path(sys.prefix, "bin").resolve()
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    return shutil.which(tool, path=os.pathsep.join(d for d in dirs if Path(d).resolve() != ours))


def need(tool: str) -> str:
    """Return the path of `tool`; fail under CI, skip otherwise, when it is missing."""
    path = system_tool(tool)
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{tool} is not installed (CI must have it: see .ci/run)")
    pytest.skip(f"{tool} is not installed")


def free_port() -> int:
    """Return a TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 20) -> None:
    """Wait until something accepts connections on 127.0.0.1:`port`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


class MedbridgeServer:
    """``python -m medbridge serve`` as a child process."""

    def __init__(
        self,
        data_dir: Path,
        *,
        config: Path | None = None,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.config = config
        self.env = {**os.environ, **(env or {})}
        self.args = args or []
        self.lines: list[str] = []
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.http_url = ""

    def start(self, timeout: float = 30) -> MedbridgeServer:
        cmd = [
            sys.executable,
            "-m",
            "medbridge",
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--dimse-port",
            "0",
            "--http-port",
            "0",
            *self.args,
        ]
        if self.config is not None:
            cmd += ["--config", str(self.config)]
        self.lines = []
        self.proc = subprocess.Popen(
            cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=self.env
        )
        ready = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stderr is not None
            for line in self.proc.stderr:
                self.lines.append(line)
                match = _READY.search(line)
                if match:
                    self.port = int(match.group(1))
                    self.http_url = match.group(2)
                    ready.set()

        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()
        if not ready.wait(timeout):
            self.kill()
            raise RuntimeError("server not ready:\n" + "".join(self.lines))
        return self

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def stop(self, timeout: float = 20, *, sig: int = signal.SIGTERM) -> int:
        """Send `sig` (SIGTERM; SIGINT is Ctrl-C) and wait; returns the exit status."""
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self._close()
        return code

    def kill(self) -> None:
        """SIGKILL, the crash of the crash test."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._close()

    def _close(self) -> None:
        if self.proc is not None and self.proc.stderr is not None:
            self._pump.join(10)
            self.proc.stderr.close()

    def __enter__(self) -> MedbridgeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._close()


@contextlib.contextmanager
def storescp(out_dir: Path, ae_title: str = "DEST") -> Iterator[int]:
    """Run DCMTK's storescp writing into `out_dir`; yields its port."""
    exe = need("storescp")
    out_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = subprocess.Popen(
        [exe, "-aet", ae_title, "-od", str(out_dir), "+B", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, proc)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def run(
    cmd: list[str],
    *,
    timeout: float = 120,
    cwd: Path | None = None,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing text output; a bare tool name is a system tool."""
    if os.sep not in cmd[0]:
        cmd = [system_tool(cmd[0]) or cmd[0], *cmd[1:]]
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
        input=input_text,
        stdin=None if input_text is not None else subprocess.DEVNULL,
    )


def medbridge(
    *args: str, timeout: float = 120, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m medbridge ARGS`` (the main command line)."""
    return run([sys.executable, "-m", "medbridge", *args], timeout=timeout, input_text=input_text)


def _pg_bin() -> Path | None:
    """The newest PostgreSQL server binaries Debian installed, or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parent)
    return found[-1].parent if found else None


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str]:
    """Start a throw-away PostgreSQL cluster (PEERS.md) and yield its SQLAlchemy URL.

    PostgreSQL refuses to run as root: as root (CI) the cluster belongs to the
    ``postgres`` user and is driven through ``runuser``; otherwise it runs as we do.
    """
    bindir = _pg_bin()
    as_root = os.geteuid() == 0
    usable = bindir is not None and (not as_root or shutil.which("runuser") is not None)
    if not usable:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries (Debian postgresql) are needed under CI")
        pytest.skip("PostgreSQL server binaries (Debian postgresql) are not installed")
    assert bindir is not None
    base = Path(tempfile.mkdtemp(prefix="medbridge-pg-"))
    if as_root:
        shutil.chown(base, "postgres")
    port = free_port()

    def pg(*cmd: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
        done = subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=120)
        if done.returncode:
            log = base / "log"
            raise RuntimeError(
                f"{cmd[0]} failed: {done.stderr}{log.read_text() if log.exists() else ''}"
            )

    pg(str(bindir / "initdb"), "-D", str(base / "data"), "-A", "trust", "-U", "medbridge")
    pg(
        str(bindir / "pg_ctl"),
        "-D",
        str(base / "data"),
        "-w",
        "-l",
        str(base / "log"),
        "-o",
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=on",
        "start",
    )
    try:
        yield f"postgresql+psycopg://medbridge@127.0.0.1:{port}/postgres"
    finally:
        pg(str(bindir / "pg_ctl"), "-D", str(base / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def orthanc(
    work: Path,
    *,
    aet: str = "ORTHANC",
    modalities: dict[str, tuple[str, str, int]] | None = None,
    settings: dict[str, object] | None = None,
) -> Iterator[tuple[int, int]]:
    """Run Orthanc (Debian package) with SQLite in `work`; yields (http_port, dicom_port).

    `settings` are added to its configuration (plugins, their sections).
    """
    exe = need("Orthanc")
    http_port, dicom_port = free_port(), free_port()
    work.mkdir(parents=True, exist_ok=True)
    config = {
        "Name": "medbridge-test",
        "StorageDirectory": str(work / "storage"),
        "IndexDirectory": str(work / "index"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": aet,
        "RemoteAccessAllowed": True,
        "AuthenticationEnabled": False,
        "DicomModalities": {k: list(v) for k, v in (modalities or {}).items()},
        "DicomCheckCalledAet": False,
        "Plugins": [],
        "StableAge": 1,
        **(settings or {}),
    }
    cfg = work / "orthanc.json"
    cfg.write_text(json.dumps(config))
    log = (work / "orthanc.log").open("w")
    proc = subprocess.Popen([exe, str(cfg)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/system", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((work / "orthanc.log").read_text()) from None
                time.sleep(0.2)
        yield http_port, dicom_port
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def orthanc_get(http_port: int, path: str) -> object:
    """GET a JSON resource of Orthanc's REST API."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}{path}", timeout=30) as rsp:
        return json.loads(rsp.read())


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A throw-away PostgreSQL cluster for this test process; yields its server URL.

    Imported by the conftest modules that use it; tests take a `fresh_database` on it.
    """
    with postgres_cluster() as url:
        yield url


def fresh_database(server_url: str, name: str) -> str:
    """Create database `name` on a `postgres_cluster` and return its URL."""
    import sqlalchemy as sa

    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"
