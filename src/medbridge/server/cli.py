"""``medbridge serve``: the PACS process with both doors, as `medbridge.server.process`.

Options override ``MEDBRIDGE_*`` variables, which override the ``--config`` TOML file
(`medbridge.server.config`).
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click

from medbridge.cliopts import fail, setup_logging
from medbridge.errors import MedbridgeError
from medbridge.server.config import load_config
from medbridge.server.process import run

__all__ = ["serve"]


@click.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    envvar="MEDBRIDGE_DATA_DIR",
    help="Folder for files and the SQLite index [default: ./var].",
)
@click.option(
    "--dimse-port",
    type=click.IntRange(0, 65535),
    envvar="MEDBRIDGE_DIMSE_PORT",
    help="DIMSE port; 0 picks a free one [default: 11112].",
)
@click.option("--ae-title", envvar="MEDBRIDGE_AE_TITLE", help="Our AE title [default: MEDBRIDGE].")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, path_type=Path),
    envvar="MEDBRIDGE_CONFIG",
    help="TOML settings file (see medbridge.server.config).",
)
@click.option(
    "--index-url",
    envvar="MEDBRIDGE_INDEX_URL",
    help="SQLAlchemy URL of the index (postgresql+psycopg://...).",
)
@click.option(
    "--duplicates",
    type=click.Choice(["keep", "replace"]),
    envvar="MEDBRIDGE_DUPLICATES",
    help="Policy for resends with other content [default: keep].",
)
@click.option(
    "--http-port",
    type=click.IntRange(0, 65535),
    envvar="MEDBRIDGE_HTTP_PORT",
    help="HTTP port (DICOMweb at /dicom-web); 0 picks a free one [default: 8080].",
)
@click.option(
    "--http-host",
    envvar="MEDBRIDGE_HTTP_HOST",
    help="Address the HTTP door listens on [default: 127.0.0.1].",
)
@click.option(
    "--insecure",
    is_flag=True,
    default=None,
    help="Allow the HTTP door beyond loopback without any [tokens] configured.",
)
@click.option("-v", "--verbose", count=True, help="More logging (-vv: every DIMSE message).")
def serve(
    data_dir: Path | None,
    dimse_port: int | None,
    ae_title: str | None,
    config_file: Path | None,
    index_url: str | None,
    duplicates: str | None,
    http_port: int | None,
    http_host: str | None,
    insecure: bool | None,
    verbose: int,
) -> None:
    """Run the PACS: DIMSE (C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET) and HTTP (DICOMweb)
    doors over one archive, until Ctrl-C or SIGTERM."""
    setup_logging(verbose)
    try:
        config = load_config(
            config_file,
            env=None,
            data_dir=data_dir,
            dimse_port=dimse_port,
            ae_title=ae_title,
            index_url=index_url,
            duplicates=duplicates,
            http_port=http_port,
            http_host=http_host,
            insecure=insecure,
        )
    except MedbridgeError as exc:
        fail(exc)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        run(config, stop)
    except (MedbridgeError, OSError) as exc:
        fail(exc)
