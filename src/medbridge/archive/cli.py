"""``medbridge archive``: maintain and export the archive without a running server.

``archive check`` finds (and repairs) disagreements between the index and the stored
files; ``archive export`` copies what unique keys select, optionally de-identified.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

from medbridge.archive import Archive, InstanceRef, check
from medbridge.cliopts import KEY, LEVEL, fail, parse_keys
from medbridge.console import make_console, progress_bar
from medbridge.deid.options import policy_options
from medbridge.deid.policy import Policy
from medbridge.deid.runner import anonymize_paths
from medbridge.errors import MedbridgeError
from medbridge.exitcodes import ExitCode

__all__ = ["archive"]


@click.group()
def archive() -> None:
    """Maintain the archive's files and index."""


_DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="MEDBRIDGE_DATA_DIR",
    default=Path("./var"),
    show_default=True,
    help="The archive's folder, as given to `medbridge serve` (env MEDBRIDGE_DATA_DIR).",
)
_INDEX_URL = click.option(
    "--index-url",
    envvar="MEDBRIDGE_INDEX_URL",
    help="SQLAlchemy URL of a shared index (postgresql+psycopg://...); default: the "
    "SQLite index in --data-dir (env MEDBRIDGE_INDEX_URL).",
)


@archive.command("check")
@_DATA_DIR
@_INDEX_URL
@click.option(
    "--repair",
    is_flag=True,
    help="Fix what was found: index unindexed files, re-index files whose checksum "
    "differs, drop the rows of missing files, delete stale temporary files.",
)
@click.option(
    "--no-checksums",
    is_flag=True,
    help="Skip hashing every file (fast; finds missing and unindexed files only).",
)
def check_command(data_dir: Path, index_url: str | None, repair: bool, no_checksums: bool) -> None:
    """Find (and with --repair fix) index/storage mismatches.

    Exit status: 0 index and files agree (or all was repaired), 1 problems found (or
    files that cannot be read).
    """
    _existing(data_dir, index_url)
    try:
        with Archive(data_dir, index_url=index_url) as arc:
            report = check(arc, repair=repair, checksums=not no_checksums)
    except MedbridgeError as exc:
        fail(exc)
    for name in (
        "missing_files",
        "unindexed_files",
        "checksum_mismatches",
        "temp_files",
        "unreadable_files",
    ):
        items = getattr(report, name)
        click.echo(f"{name.replace('_', ' ')}: {len(items)}")
        for item in items[:20]:
            click.echo(f"  {item}")
    if not report.ok and not repair:
        sys.exit(1)
    if report.unreadable_files:
        sys.exit(1)


@archive.command("export")
@_DATA_DIR
@_INDEX_URL
@LEVEL
@KEY
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="Output folder.")
@policy_options(
    switch="--anonymize",
    switch_help="De-identify on the way out (PS3.15 Annex E), as `medbridge anonymize` does.",
)
def export_command(
    data_dir: Path,
    index_url: str | None,
    level: str,
    keys: tuple[str, ...],
    out: Path,
    policy: Policy | None,
) -> None:
    """Copy the stored instances the unique keys select (-k) into --out.

    Plain exports are the stored files, byte for byte, as OUT/<SOP Instance UID>.dcm.
    With --anonymize they go through the same de-identification as `medbridge anonymize`
    (same options, same key, same pseudonyms) into OUT/<study>/<series>/<instance>.dcm,
    and the archive's files are never changed.
    """
    _existing(data_dir, index_url)
    try:
        with Archive(data_dir, index_url=index_url) as arc:
            refs = arc.instances(parse_keys(keys, level))
    except MedbridgeError as exc:
        fail(exc)
    if not refs:
        fail(MedbridgeError(f"no stored instance matches {' '.join(keys) or 'the query'}"))
    if policy is None:
        written, failed = _copy_out(refs, out)
    else:
        summary = anonymize_paths([ref.path for ref in refs], out, policy, jobs=1)
        written = summary.count("written")
        failed = len(summary.results) - written
        for result in summary.results:
            if result.status != "written":
                click.echo(f"{result.status}: {result.source}: {result.reason}", err=True)
    click.echo(f"{written} exported, {failed} failed -> {out}")
    if failed:
        sys.exit(ExitCode.PARTIAL if written else ExitCode.ERROR)


def _existing(data_dir: Path, index_url: str | None) -> None:
    """Refuse a --data-dir that holds no archive: opening one there would create it."""
    if index_url is None and not (data_dir / "index.sqlite").is_file():
        fail(MedbridgeError(f"no archive in {data_dir} (no index.sqlite): check --data-dir"))


def _copy_out(refs: list[InstanceRef], out: Path) -> tuple[int, int]:
    """Copy stored files out by their (validated) SOP Instance UIDs; count copied, failed."""
    out.mkdir(parents=True, exist_ok=True)
    written = failed = 0
    with progress_bar(make_console(stderr=True)) as bar:
        task = bar.add_task("exporting", total=len(refs))
        for ref in refs:
            target = out / f"{ref.sop_instance_uid}.dcm"
            try:
                shutil.copyfile(ref.path, target)
            except OSError as exc:
                bar.console.print(f"failed: {ref.path}: {exc.strerror or exc}")
                failed += 1
            else:
                written += 1
            bar.advance(task)
    return written, failed
