"""Options and outcomes shared by the commands of several layers (dimse, archive, server).

Each layer keeps its own ``cli.py``; what they have in common (how a request identifier
is given with ``-k``, how logging is set up for a long-running command, how one error
line ends a command) lives here once, so the commands read and fail alike.
"""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

import click
from pydicom.dataset import Dataset

from medbridge.errors import QueryError
from medbridge.exitcodes import ExitCode

__all__ = [
    "KEY",
    "LEVEL",
    "VERBOSITY",
    "fail",
    "parse_keys",
    "quiet_pynetdicom",
    "setup_logging",
]

#: ``click.Context.meta`` key of the ``-v`` count (the group's or the command's).
VERBOSITY = "medbridge.verbosity"

KEY = click.option(
    "-k",
    "--key",
    "keys",
    multiple=True,
    help="KEYWORD=VALUE to match, or KEYWORD to return (repeatable).",
)
LEVEL = click.option(
    "--level",
    default="STUDY",
    show_default=True,
    type=click.Choice(["PATIENT", "STUDY", "SERIES", "IMAGE"], case_sensitive=False),
)


def parse_keys(keys: tuple[str, ...], level: str) -> Dataset:
    """`identifier_from_keys`, a bad key reported as a usage error of ``-k``."""
    from medbridge.archive.keys import identifier_from_keys  # SQLAlchemy: not for `ls`

    try:
        return identifier_from_keys(keys, level)
    except QueryError as exc:
        raise click.BadParameter(str(exc), param_hint="-k") from None


def quiet_pynetdicom(record: logging.LogRecord) -> bool:
    """A handler filter: pynetdicom's records only with ``-vv``, where they explain."""
    return not record.name.startswith("pynetdicom")


def setup_logging(verbose: int) -> None:
    """Log lines with time and source on stderr; pynetdicom's own only with ``-vv``."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[VERBOSITY] = max(verbose, ctx.meta.get(VERBOSITY, 0))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    logging.getLogger("pynetdicom").setLevel(logging.INFO if verbose > 1 else logging.WARNING)


def fail(exc: Exception, code: ExitCode = ExitCode.ERROR) -> NoReturn:
    """End the command with one line naming what failed and why."""
    click.echo(f"error: {exc}", err=True)
    sys.exit(code)
