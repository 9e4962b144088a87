"""The ``medbridge`` command line: parses options, calls one library function, prints.

Logic lives in the layers; this module only turns their results into text (rich for
people, JSON Lines for machines) and their outcomes into :class:`ExitCode` values.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
from collections.abc import Sequence

import click
from pydicom.uid import UID
from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from medbridge import __version__
from medbridge.cliopts import VERBOSITY, quiet_pynetdicom
from medbridge.console import make_console, progress_bar
from medbridge.dicom import (
    InstanceRecord,
    Patient,
    ScanFailure,
    build_hierarchy,
    dump_file,
    scan_files,
    series_summaries,
)
from medbridge.dicom.files import iter_files
from medbridge.errors import MedbridgeError
from medbridge.exitcodes import ExitCode
from medbridge.formats.nifti_header import describe_nifti, looks_like_nifti

__all__ = ["main"]

# Sub-commands whose modules pull in heavy dependencies (pynetdicom, SQLAlchemy,
# nibabel) are imported only when invoked, so ``medbridge ls`` stays quick to start.
_LAZY_COMMANDS = {
    "convert": "medbridge.convert.cli:convert_command",
    "anonymize": "medbridge.deid.cli:anonymize_command",
    "serve": "medbridge.server.cli:serve",
    "echo": "medbridge.dimse.cli:echo",
    "send": "medbridge.dimse.cli:send",
    "find": "medbridge.dimse.cli:find",
    "move": "medbridge.dimse.cli:move",
    "get": "medbridge.dimse.cli:get",
    "archive": "medbridge.archive.cli:archive",
    "user": "medbridge.archive.cli:user",
    "worklist": "medbridge.dimse.workflow_cli:worklist",
    "mpps": "medbridge.dimse.workflow_cli:mpps",
    "commit": "medbridge.dimse.workflow_cli:commit",
    "print": "medbridge.dimse.workflow_cli:print_group",
}


class _LazyGroup(click.Group):
    """A click group that imports a sub-command's module the first time it is needed.

    It is also the last line of defence of the one-line rule: an error no command
    expected ends the command with one line and exit status 1, its traceback only
    with ``-vv`` (`VERBOSITY`).
    """

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("medbridge: interrupted", err=True)
            sys.exit(130)
        except Exception as exc:
            if ctx.meta.get(VERBOSITY, 0) >= 2:
                raise
            what = str(exc) if isinstance(exc, MedbridgeError) else f"{type(exc).__name__}: {exc}"
            click.echo(f"medbridge: error: {what} (-vv shows the traceback)", err=True)
            sys.exit(ExitCode.ERROR)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *_LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _LAZY_COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="medbridge")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def main(ctx: click.Context, verbose: int) -> None:
    """medbridge: read, convert, de-identify and serve medical images.

    \b
    Exit status, every command:
      0  all done
      1  nothing done (no input read, peer unreachable, ...)
      2  bad command line
      3  partial: some inputs skipped or failed, the rest done
      4  done, but some outputs incomplete (missing slices)
    Errors are one line; -vv adds tracebacks and the DICOM network log.
    """
    ctx.meta[VERBOSITY] = verbose
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if verbose < 2:  # pynetdicom's own ERROR lines repeat what our one line says
        for handler in logging.getLogger().handlers:
            handler.addFilter(quiet_pynetdicom)


@main.command("ls")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="JSON Lines, one object per series.")
def ls_command(paths: Sequence[str], as_json: bool) -> None:
    """List the Patient → Study → Series tree of the DICOM under PATHS.

    PATHS may be files, folders (walked recursively) and DICOMDIR files. Files that
    cannot be read are listed at the end with the reason; they never stop the scan.
    Exit status: 0 all read, 3 some files skipped or read with warnings, 1 nothing read.
    """
    err = make_console(stderr=True)
    records, failures = _scan_with_progress(paths, err)
    patients = build_hierarchy(records)
    if as_json:
        for row in series_summaries(patients):
            click.echo(json.dumps(row, ensure_ascii=False))
        for failure in failures:
            click.echo(json.dumps({"Path": failure.path, "Error": failure.reason}), err=True)
    else:
        out = make_console()
        for patient in patients:
            out.print(_patient_tree(patient))
        _print_problems(out, failures, records)
    sys.exit(_scan_exit(records, failures))


@main.command("info")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
def info_command(paths: Sequence[str]) -> None:
    """Show the header of DICOM files, or of volume files in any format `convert` reads.

    DICOM: tag, VR, name (private tags with their creator), value, nested sequences.
    NIfTI-1/2: dims, datatype, pixdim, qform/sform codes and matrices, scaling, extensions.
    NRRD, MetaImage, Analyze, MGH, MINC: size, voxel type, spacing, RAS+ affine, scaling
    and the metadata medbridge reads from them.
    """
    out = make_console()
    status = ExitCode.OK
    for path in paths:
        if len(paths) > 1:
            out.print(f"[bold]# {escape(path)}[/bold]")
        try:
            if looks_like_nifti(path):
                for key, value in describe_nifti(path):
                    out.print(f"{key:<24} {escape(value)}")
            elif _volume_format(path, sniffed=True):
                _describe_volume(out, path)
            else:
                try:
                    lines = list(dump_file(path))
                except MedbridgeError:
                    if not _volume_format(path, sniffed=False):
                        raise
                    _describe_volume(out, path)  # a broken .nrrd: the format's reason
                    continue
                for line in lines:
                    out.print(escape(str(line)))
        except (MedbridgeError, OSError) as exc:
            click.echo(f"medbridge info: {_error_text(path, exc)}", err=True)
            status = ExitCode.ERROR if len(paths) == 1 else ExitCode.PARTIAL
    sys.exit(status)


def _volume_format(path: str, *, sniffed: bool) -> bool:
    """Whether `path` is a research-format file: by name and first bytes (`sniffed`,
    `medbridge.formats.detect`), else by name alone. DICOM files may carry any name,
    ``.img`` included, so a name alone only explains why a file that is not DICOM
    could not be read."""
    from medbridge import formats

    if sniffed:
        return formats.detect(path) is not None
    try:
        formats.format_for(path)
    except MedbridgeError:
        return False
    return True


def _describe_volume(out: Console, path: str) -> None:
    from medbridge.formats.describe import describe_volume_file

    for key, value in describe_volume_file(path):
        out.print(f"{key:<24} {escape(value)}")


def _scan_with_progress(
    paths: Sequence[str], err: Console
) -> tuple[list[InstanceRecord], list[ScanFailure]]:
    """Walk and read every file, with a count while walking and a bar while reading
    (on a terminal only: piped output stays clean)."""
    records: list[InstanceRecord] = []
    failures: list[ScanFailure] = []
    files: list[str] = []
    with progress_bar(err, transient=True) as bar:
        walking = bar.add_task("finding files", total=None)
        for item in iter_files(paths):
            if isinstance(item, ScanFailure):
                failures.append(item)
            else:
                files.append(item)
                bar.advance(walking)
        bar.remove_task(walking)
        reading = bar.add_task("reading headers", total=len(files))
        for result in scan_files(files, on_file=lambda _: bar.advance(reading)):
            if isinstance(result, ScanFailure):
                failures.append(result)
            else:
                records.append(result)
    return records, failures


def _scan_exit(records: list[InstanceRecord], failures: list[ScanFailure]) -> ExitCode:
    if not records:
        if not failures:
            click.echo("medbridge ls: no DICOM files found", err=True)
        return ExitCode.ERROR
    if failures or any(r.warnings for r in records):
        return ExitCode.PARTIAL
    return ExitCode.OK


def _patient_tree(patient: Patient) -> Tree:
    name = patient.patient_name or "(no name)"
    facts = [f"ID {patient.patient_id or '(none)'}"]
    if patient.patient_birth_date:
        facts.append(f"born {_date(patient.patient_birth_date)}")
    if patient.patient_sex:
        facts.append(patient.patient_sex)
    facts.append(_count(len(patient.studies), "study", "studies"))
    facts.append(_count(patient.number_of_instances, "instance"))
    root = Tree(f"[bold]{escape(name)}[/bold]  " + escape(", ".join(facts)))
    for study in patient.studies.values():
        label = " ".join(
            p for p in (_date(study.study_date), study.study_description or "(no description)") if p
        )
        extra = [_count(len(study.series), "series", "series")]
        if study.accession_number:
            extra.append(f"accession {study.accession_number}")
        extra.append(study.study_instance_uid or "(no Study Instance UID)")
        branch = root.add(f"[cyan]{escape(label)}[/cyan]  " + escape(", ".join(extra)))
        for series in study.series.values():
            number = "" if series.series_number is None else f"#{series.series_number} "
            syntaxes = ", ".join(UID(ts).name for ts in series.transfer_syntaxes)
            description = series.series_description or "(no description)"
            text = (
                f"{number}{series.modality or '??'} {description}"
                f"  {_count(series.number_of_instances, 'instance')}, "
                f"{_count(series.number_of_frames, 'frame')}  [{syntaxes}]"
            )
            if series.duplicates:
                text += f"  ({len(series.duplicates)} more files repeat a SOP Instance UID)"
            branch.add(escape(text))
    return root


def _print_problems(
    out: Console, failures: list[ScanFailure], records: list[InstanceRecord]
) -> None:
    if failures:
        out.print(f"\n[bold red]Skipped {_count(len(failures), 'file')}:[/bold red]")
        for failure in failures:
            out.print(f"  {escape(failure.path)}: {escape(failure.reason)}")
    warned = [r for r in records if r.warnings]
    if warned:
        out.print(
            f"\n[bold yellow]Read with warnings ({_count(len(warned), 'file')}):[/bold yellow]"
        )
        for record in warned:
            out.print(f"  {escape(record.path)}: {escape('; '.join(record.warnings))}")


def _error_text(path: str, exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    return text if path in text else f"{path}: {text}"


def _date(value: str) -> str:
    return (
        f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) == 8 and value.isdigit() else value
    )


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"


if __name__ == "__main__":  # pragma: no cover
    main()
