"""``medbridge convert``: dcm2niix's command line, on medbridge's converter.

Exit status (:class:`medbridge.exitcodes.ExitCode`): 0 when every series was written;
4 (INCOMPLETE) when some volumes miss or duplicate slices (often an unfinished transfer);
3 (PARTIAL) when other series were refused but something was written; 1 (ERROR) when
nothing could be converted; 2 for usage errors (click's). The summary table says which
series went where and why.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from medbridge.console import make_console, progress_bar
from medbridge.convert._pipeline import (
    ConversionReport,
    ConvertOptions,
    Output,
    Skipped,
    convert_files,
)
from medbridge.exitcodes import ExitCode

__all__ = ["convert_command", "exit_status", "summary_table"]

_YES_NO = click.Choice(["y", "n"], case_sensitive=False)


@click.command("convert")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(path_type=Path),
    help="Output folder (default: the first input's folder); for a volume file, a file.",
)
@click.option(
    "-f",
    "--filename",
    "template",
    default="%f_%p_%t_%s",
    show_default=True,
    help=(
        "Output name template (%p protocol, %s series, %d description, %t time, %i ID,"
        " %n name, %e echo, %z sequence, %v vendor, %f folder...)."
    ),
)
@click.option(
    "-z",
    "--compress",
    type=click.Choice(["y", "n", "i", "o", "3"], case_sensitive=False),
    default="n",
    show_default=True,
    help="y: .nii.gz (parallel gzip), n: .nii. dcm2niix's i (its internal zlib) and "
    "o (optimal pigz) write .nii.gz as y does: medbridge has one gzip writer. "
    "dcm2niix's 3 (uncompressed, one file per volume) is not supported.",
)
@click.option(
    "-b",
    "--bids",
    type=click.Choice(["y", "n", "o"], case_sensitive=False),
    default="y",
    show_default=True,
    help="BIDS sidecar: y with image, n none, o sidecar only.",
)
@click.option(
    "-i",
    "--ignore-derived",
    type=_YES_NO,
    default="n",
    show_default=True,
    help="Ignore derived, localizer and 2D images.",
)
@click.option(
    "-ba",
    "--anonymize-sidecar",
    type=_YES_NO,
    default="y",
    show_default=True,
    help="Leave names, IDs and birth dates out of sidecars.",
)
@click.option(
    "--provenance",
    is_flag=True,
    help="Add to each sidecar the DICOM element or rule behind each field.",
)
@click.option(
    "-t", "--threads", type=int, default=0, help="Series converted in parallel (0: CPU count)."
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
# --- volume files (NIfTI, NRRD, MetaImage, Analyze, MGH, MINC): medbridge.formats.transcode
@click.option(
    "--format",
    "--output-format",
    "output_format",
    help="Output format for volume inputs (nifti, nrrd, metaimage, analyze, mgh, minc), "
    "overriding -o's extension.",
)
@click.option("--input-format", help="Format of volume inputs, overriding their extensions.")
@click.option("--to-dicom", is_flag=True, help="Write volume inputs as a DICOM series into -o.")
@click.option(
    "--like",
    type=click.Path(exists=True, path_type=Path),
    help="With --to-dicom: DICOM series whose patient and study the new series joins.",
)
def convert_command(
    inputs: tuple[Path, ...],
    out_dir: Path | None,
    template: str,
    compress: str,
    bids: str,
    ignore_derived: str,
    anonymize_sidecar: str,
    provenance: bool,
    threads: int,
    quiet: bool,
    output_format: str | None = None,
    input_format: str | None = None,
    to_dicom: bool = False,
    like: Path | None = None,
) -> None:
    """Convert DICOM files, folders, file lists or .zip/.tar archives to NIfTI + BIDS JSON.

    Volume files (.nii/.nii.gz, .nrrd/.nhdr, .mha/.mhd, .hdr/.img, .mgh/.mgz, .mnc) are
    converted to the format -o names (or --format), or with --to-dicom to a DICOM series.
    """
    from medbridge.formats import transcode

    if compress == "3":
        raise click.BadParameter(
            "3 (dcm2niix's uncompressed 3D files, one per volume) is not supported; "
            "use -z n for .nii or -z y for .nii.gz",
            param_hint="'-z'",
        )
    if transcode.is_volume_input(inputs, input_format) or to_dicom:
        sys.exit(
            transcode.main(
                inputs,
                out_dir,
                input_format=input_format,
                output_format=output_format,
                compress=compress.lower() in ("y", "i", "o"),
                to_dicom=to_dicom,
                like=like,
                quiet=quiet,
            )
        )
    if out_dir is not None and out_dir.is_file():
        raise click.BadParameter(f"{out_dir} is a file; DICOM input needs an output folder")
    first = inputs[0]
    target = out_dir or (first if first.is_dir() else first.parent)
    options = ConvertOptions(
        template=template,
        compress=compress.lower() in ("y", "i", "o"),
        bids=bids.lower(),  # type: ignore[arg-type]
        ignore_derived=ignore_derived.lower() == "y",
        anonymize_sidecar=anonymize_sidecar.lower() == "y",
        provenance=provenance,
        threads=threads,
    )
    console = make_console(stderr=True, quiet=quiet)
    with progress_bar(console, transient=True) as bar:
        task = bar.add_task("reading headers", total=None)

        def planned(count: int) -> None:
            bar.update(task, description="converting", total=count, completed=0)

        def tick(_item: Output | Skipped) -> None:
            bar.advance(task)

        report = convert_files(list(inputs), target, options, progress=tick, on_plan=planned)
    if not quiet:
        console.print(summary_table(report))
    status = exit_status(report)
    if status != ExitCode.OK:
        sys.exit(int(status))


def exit_status(report: ConversionReport) -> ExitCode:
    """What a finished run's exit status says.

    Incomplete volumes win over other refusals because they call for a different action
    (fetch the missing slices again) than data that is wrong.
    """
    if not report.outputs and (report.errors or not report.skipped):
        return ExitCode.ERROR
    if report.incomplete:
        return ExitCode.INCOMPLETE
    if report.errors:
        return ExitCode.PARTIAL
    return ExitCode.OK


def summary_table(report: ConversionReport) -> Table:
    """What was written and what was skipped, one row per output or refusal."""
    ignored = [s for s in report.skipped if s.reason.startswith("ignored:")]
    parts = [f"{len(report.outputs)} written"]
    if len(report.skipped) > len(ignored):
        parts.append(f"{len(report.skipped) - len(ignored)} not converted")
    if ignored:
        parts.append(f"{len(ignored)} ignored")
    if report.not_dicom:
        parts.append(f"{report.not_dicom} files not DICOM images")
    if report.earlier_outputs:
        parts.append(f"{report.earlier_outputs} earlier outputs passed over")
    table = Table(title=", ".join(parts))
    for column in ("status", "output", "shape", "detail"):
        table.add_column(column)
    for out in sorted(report.outputs, key=lambda o: o.name):
        table.add_row("written", out.name, "×".join(map(str, out.shape)), out.description)
    for skip in report.skipped:
        status = (
            "incomplete volume"
            if skip.incomplete
            else ("ignored" if skip.reason.startswith("ignored:") else "error")
        )
        table.add_row(status, skip.name, "", skip.reason)
    if report.not_dicom:
        table.add_row("skipped", f"{report.not_dicom} files", "", "not DICOM images")
    if report.earlier_outputs:
        table.add_row(
            "skipped", f"{report.earlier_outputs} files", "", "earlier outputs (.nii, .json...)"
        )
    return table
