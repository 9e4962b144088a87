"""``medbridge archive``: maintain and export the archive without a running server.

``archive check`` finds (and repairs) disagreements between the index and the stored
files; ``archive export`` copies what unique keys select, optionally de-identified.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from medbridge.archive import Archive, InstanceRef, check
from medbridge.archive.accounts import ROLES, add_user, list_users, remove_user
from medbridge.archive.migrate import migrate
from medbridge.cliopts import KEY, LEVEL, fail, open_archive, parse_keys
from medbridge.console import make_console, progress_bar
from medbridge.deid.options import policy_options
from medbridge.deid.policy import Policy
from medbridge.deid.runner import anonymize_paths
from medbridge.errors import MedbridgeError, StorageError
from medbridge.exitcodes import ExitCode

__all__ = ["archive", "user"]


@click.group()
def archive() -> None:
    """Maintain the archive's files and index."""


class _RateColumn(ProgressColumn):
    """Instances per second (rich's speed column speaks of bytes)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f}/s")


def _location(func: Any) -> Any:
    """Options that say which archive: the server's config, or its parts one by one."""
    func = click.option(
        "--storage-url",
        envvar="MEDBRIDGE_STORAGE_URL",
        help="Where the files live: a folder or s3://bucket/prefix [default: --data-dir].",
    )(func)
    func = click.option(
        "--index-url",
        envvar="MEDBRIDGE_INDEX_URL",
        help="SQLAlchemy URL of a shared index (postgresql+psycopg://...); default: the "
        "SQLite index in --data-dir (env MEDBRIDGE_INDEX_URL).",
    )(func)
    func = click.option(
        "--data-dir",
        type=click.Path(path_type=Path, file_okay=False),
        envvar="MEDBRIDGE_DATA_DIR",
        help="The archive's folder, as given to `medbridge serve` [default: ./var] "
        "(env MEDBRIDGE_DATA_DIR).",
    )(func)
    func = click.option(
        "--config",
        "config_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        envvar="MEDBRIDGE_CONFIG",
        help="The server's TOML settings (index, storage, S3 endpoint and keys).",
    )(func)
    return func


def _open(
    config_file: Path | None,
    data_dir: Path | None,
    index_url: str | None,
    storage_url: str | None,
    *,
    create: bool = False,
) -> Archive:
    return open_archive(config_file, data_dir, index_url, storage_url, create=create)


@archive.command("check")
@_location
@click.option(
    "--repair",
    is_flag=True,
    help="Fix what was found: index unindexed files, re-index files whose checksum "
    "differs, drop the rows of missing files, delete stale temporary files or uploads.",
)
@click.option(
    "--no-checksums",
    is_flag=True,
    help="Skip hashing every file (fast; finds missing and unindexed files only).",
)
def check_command(
    config_file: Path | None,
    data_dir: Path | None,
    index_url: str | None,
    storage_url: str | None,
    repair: bool,
    no_checksums: bool,
) -> None:
    """Find (and with --repair fix) index/storage mismatches.

    Exit status: 0 index and files agree (or all was repaired), 1 problems found (or
    files that cannot be read).
    """
    try:
        with _open(config_file, data_dir, index_url, storage_url) as arc:
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
@_location
@LEVEL
@KEY
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="Output folder.")
@policy_options(
    switch="--anonymize",
    switch_help="De-identify on the way out (PS3.15 Annex E), as `medbridge anonymize` does.",
)
def export_command(
    config_file: Path | None,
    data_dir: Path | None,
    index_url: str | None,
    storage_url: str | None,
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
    try:
        with _open(config_file, data_dir, index_url, storage_url) as arc:
            refs = arc.instances(parse_keys(keys, level))
            if not refs:
                fail(MedbridgeError(f"no stored instance matches {' '.join(keys) or 'the query'}"))
            if policy is None:
                written, failed = _copy_out(arc, refs, out)
            else:
                written, failed = _anonymize_out(arc, refs, out, policy)
    except MedbridgeError as exc:
        fail(exc)
    click.echo(f"{written} exported, {failed} failed -> {out}")
    if failed:
        sys.exit(ExitCode.PARTIAL if written else ExitCode.ERROR)


def _copy_out(arc: Archive, refs: list[InstanceRef], out: Path) -> tuple[int, int]:
    """Copy stored files out by their (validated) SOP Instance UIDs; count copied, failed."""
    out.mkdir(parents=True, exist_ok=True)
    written = failed = 0
    with progress_bar(make_console(stderr=True)) as bar:
        task = bar.add_task("exporting", total=len(refs))
        for ref in refs:
            target = out / f"{ref.sop_instance_uid}.dcm"
            try:
                with target.open("wb") as f:
                    for chunk in arc.storage.iter_chunks(ref.relpath):
                        f.write(chunk)
            except (OSError, StorageError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                bar.console.print(f"failed: {ref.sop_instance_uid}: {reason}")
                target.unlink(missing_ok=True)
                failed += 1
            else:
                written += 1
            bar.advance(task)
    return written, failed


def _anonymize_out(
    arc: Archive, refs: list[InstanceRef], out: Path, policy: Policy
) -> tuple[int, int]:
    """De-identify the selected instances into `out`; objects are fetched to a temp folder."""
    with tempfile.TemporaryDirectory(prefix="medbridge-export-") as tmp:
        paths = []
        for ref in refs:
            if ref.path is not None:
                paths.append(ref.path)
                continue
            local = Path(tmp) / f"{ref.sop_instance_uid}.dcm"
            local.write_bytes(arc.storage.read(ref.relpath))
            paths.append(local)
        summary = anonymize_paths(paths, out, policy, jobs=1)
    written = summary.count("written")
    for result in summary.results:
        if result.status != "written":
            click.echo(f"{result.status}: {result.source}: {result.reason}", err=True)
    return written, len(summary.results) - written


@archive.command("migrate")
@_location
@click.option(
    "--to-config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The destination's TOML settings (index_url, storage_url, s3_*).",
)
@click.option(
    "--to-data-dir",
    type=click.Path(path_type=Path),
    help="The destination's data folder (its SQLite index, its files by default).",
)
@click.option("--to-index-url", help="The destination's index (postgresql+psycopg://...).")
@click.option(
    "--to-storage-url", help="The destination's storage (a folder or s3://bucket/prefix)."
)
@click.option("-j", "--jobs", default=4, show_default=True, help="Instances copied at once.")
def migrate_command(
    config_file: Path | None,
    data_dir: Path | None,
    index_url: str | None,
    storage_url: str | None,
    to_config: Path | None,
    to_data_dir: Path | None,
    to_index_url: str | None,
    to_storage_url: str | None,
    jobs: int,
) -> None:
    """Copy the whole archive to another index and storage (folder → S3, SQLite → PostgreSQL).

    Resumable: instances the destination holds already with the same SHA-256 are
    skipped, so an interrupted run is simply run again. Ends with a comparison of every
    instance; exit 0 when the destination holds them all, 3 when some failed.
    """
    if not (to_config or to_data_dir or to_index_url or to_storage_url):
        raise click.UsageError(
            "say where to: --to-config, --to-data-dir, --to-index-url or --to-storage-url"
        )
    err = make_console(stderr=True)
    try:
        with (
            _open(config_file, data_dir, index_url, storage_url) as source,
            _open(to_config, to_data_dir, to_index_url, to_storage_url, create=True) as destination,
            Progress(
                TextColumn("migrating"),
                BarColumn(),
                MofNCompleteColumn(),
                _RateColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=True,
                disable=not err.is_terminal,
            ) as progress,
        ):
            task = progress.add_task("migrate", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            report = migrate(source, destination, workers=jobs, on_progress=advance)
    except MedbridgeError as exc:
        fail(exc)
    for uid, reason in report.failed[:20]:
        click.echo(f"failed: {uid}: {reason}", err=True)
    for uid in report.missing_after[:20]:
        click.echo(f"not in the destination after copying: {uid}", err=True)
    click.echo(
        f"{report.total} instances: {report.copied} copied, {report.skipped} already there, "
        f"{len(report.failed)} failed; final check: "
        + ("every instance present, byte for byte" if report.ok else "INCOMPLETE")
    )
    if not report.ok:
        sys.exit(ExitCode.PARTIAL if report.copied or report.skipped else ExitCode.ERROR)


# -- users ---------------------------------------------------------------------------


@click.group()
def user() -> None:
    """Manage the people who may log in to the page (and their roles)."""


@user.command("add")
@_location
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(list(ROLES)),
    default="viewer",
    show_default=True,
    help="viewer: find and look; uploader: and store; admin: and delete, manage.",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input (scripts) instead of asking twice.",
)
def user_add(
    config_file: Path | None,
    data_dir: Path | None,
    index_url: str | None,
    storage_url: str | None,
    name: str,
    role: str,
    password_stdin: bool,
) -> None:
    """Add user NAME, or set an existing user's role and password."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with _open(config_file, data_dir, index_url, storage_url, create=True) as arc:
            added = add_user(arc.index, name, password, role)
    except MedbridgeError as exc:
        fail(exc)
    click.echo(f"user {added.name}: {added.role}")


@user.command("list")
@_location
def user_list(
    config_file: Path | None, data_dir: Path | None, index_url: str | None, storage_url: str | None
) -> None:
    """List the users and their roles."""
    try:
        with _open(config_file, data_dir, index_url, storage_url) as arc:
            users = list_users(arc.index)
    except MedbridgeError as exc:
        fail(exc)
    for u in users:
        click.echo(f"{u.name}\t{u.role}\t{u.created_at:%Y-%m-%d}")
    if not users:
        click.echo("no users: the HTTP door is open on loopback only", err=True)


@user.command("remove")
@_location
@click.argument("name")
def user_remove(
    config_file: Path | None,
    data_dir: Path | None,
    index_url: str | None,
    storage_url: str | None,
    name: str,
) -> None:
    """Remove user NAME and end their sessions."""
    try:
        with _open(config_file, data_dir, index_url, storage_url) as arc:
            remove_user(arc.index, name)
    except MedbridgeError as exc:
        fail(exc)
    click.echo(f"removed {name}")
