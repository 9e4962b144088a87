"""``medbridge anonymize``: de-identify DICOM files and folders (PS3.15 Annex E).

A thin click command: it turns options into a :class:`~medbridge.deid.policy.Policy`,
calls :func:`~medbridge.deid.runner.anonymize_paths` and prints progress, one line per
file that was not written, and a summary. Its exit status (:class:`ExitCode`) says how
the run went: 0 when every DICOM input was written (files that are not DICOM are
skipped and listed), 3 (partial) when some inputs failed and nothing was written for
them, 1 when nothing at all was written.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from medbridge.console import make_console
from medbridge.deid.deidentify import CLEANED_NOTE
from medbridge.deid.policy import DateMode, PixelRegion, Policy
from medbridge.deid.runner import FileResult, RunSummary, anonymize_paths, iter_files
from medbridge.errors import MedbridgeError
from medbridge.exitcodes import ExitCode

__all__ = ["anonymize_command"]

_MIN_KEY_BYTES = 16


def _read_key(path: Path | None, console: Console) -> bytes:
    if path is None:
        console.print(
            "[yellow]no --key: a random key is used; UIDs and dates will not match other runs[/]"
        )
        return b""
    key = path.read_bytes().strip()
    if len(key) < _MIN_KEY_BYTES:
        raise click.BadParameter(
            f"the key file holds {len(key)} bytes; use at least {_MIN_KEY_BYTES} random bytes "
            "(e.g. `head -c 32 /dev/urandom | base64 > key`)",
            param_hint="--key",
        )
    return key


@click.command("anonymize")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o", "--output", required=True, type=click.Path(path_type=Path), help="Output folder."
)
@click.option(
    "--profile",
    type=click.Choice(["basic"]),
    default="basic",
    show_default=True,
    help="PS3.15 Annex E profile: the Basic Application Level Confidentiality Profile.",
)
@click.option("--keep-uids", is_flag=True, help="Retain UIDs Option (E.3.9).")
@click.option("--keep-dates", "dates", flag_value="keep", help="Retain Full Dates Option (E.3.6).")
@click.option(
    "--shift-dates",
    "dates",
    flag_value="shift",
    help="Retain Modified Dates Option: shift dates by a keyed per-patient offset (E.3.6).",
)
@click.option(
    "--keep-patient-characteristics", is_flag=True, help="Retain Patient Characteristics (E.3.3)."
)
@click.option("--keep-device", is_flag=True, help="Retain Device Identity Option (E.3.4).")
@click.option(
    "--keep-institution", is_flag=True, help="Retain Institution Identity Option (E.3.5)."
)
@click.option(
    "--keep-safe-private",
    is_flag=True,
    help="Retain Safe Private Option (E.3.10): keep the vendor fields conversion needs.",
)
@click.option("--clean-descriptors", is_flag=True, help="Clean Descriptors Option (E.3.11).")
@click.option(
    "--clean-structured-content", is_flag=True, help="Clean Structured Content Option (E.3.12)."
)
@click.option("--clean-graphics", is_flag=True, help="Clean Graphics Option (E.3.13).")
@click.option(
    "--mask",
    "masks",
    multiple=True,
    metavar="X,Y,W,H",
    help="Blank this pixel region in every frame (Clean Pixel Data, E.3.1); repeatable.",
)
@click.option(
    "--key",
    "key_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File holding the secret key: same key, same UIDs and date offsets in every run.",
)
@click.option(
    "--map",
    "map_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the linkage map (original to pseudonym) here, outside the output folder.",
)
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Worker processes (default: cores).")
def anonymize_command(
    inputs: tuple[Path, ...],
    output: Path,
    profile: str,
    keep_uids: bool,
    dates: str | None,
    keep_patient_characteristics: bool,
    keep_device: bool,
    keep_institution: bool,
    keep_safe_private: bool,
    clean_descriptors: bool,
    clean_structured_content: bool,
    clean_graphics: bool,
    masks: tuple[str, ...],
    key_file: Path | None,
    map_path: Path | None,
    jobs: int | None,
) -> None:
    """De-identify DICOM files and folders INPUTS into OUTPUT (DICOM PS3.15 Annex E)."""
    console = make_console(stderr=True)
    logging.getLogger("medbridge").setLevel(logging.WARNING)
    try:
        regions = tuple(PixelRegion.parse(m) for m in masks)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--mask") from exc
    key = _read_key(key_file, console)
    date_mode: DateMode = "keep" if dates == "keep" else "shift" if dates == "shift" else "remove"
    settings = dict(
        dates=date_mode,
        retain_uids=keep_uids,
        retain_device_identity=keep_device,
        retain_institution_identity=keep_institution,
        retain_patient_characteristics=keep_patient_characteristics,
        retain_safe_private=keep_safe_private,
        clean_descriptors=clean_descriptors,
        clean_structured_content=clean_structured_content,
        clean_graphics=clean_graphics,
        pixel_mask=regions,
    )
    policy = Policy(key=key, **settings) if key else Policy(**settings)  # type: ignore[arg-type]
    total = sum(1 for _ in iter_files(inputs, exclude=output.resolve()))
    problems: list[FileResult] = []
    with Progress(
        TextColumn("anonymize"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("files", total=total)

        def on_result(result: FileResult) -> None:
            progress.advance(task)
            if result.status != "written":
                problems.append(result)

        try:
            summary = anonymize_paths(
                inputs, output, policy, map_path=map_path, jobs=jobs, on_result=on_result
            )
        except MedbridgeError as exc:
            console.print(f"[red]error:[/] {escape(str(exc))}")
            raise SystemExit(int(ExitCode.USAGE)) from exc
    for r in sorted(problems, key=lambda r: r.source):
        colour = "red" if r.status == "failed" else "yellow"
        console.print(f"[{colour}]{r.status}[/] {escape(f'{r.source}: {r.reason}')}")
    written, skipped, failed = (summary.count(s) for s in ("written", "skipped", "failed"))
    rate = written / summary.seconds if summary.seconds else 0.0
    console.print(
        f"{written} written, {skipped} skipped, {failed} failed "
        f"in {summary.seconds:.1f} s ({rate:.0f} files/s) -> {output}"
    )
    cleaned = sum(1 for r in summary.results if any(n.startswith(CLEANED_NOTE) for n in r.notes))
    if cleaned:
        console.print(
            f"identifying values overwritten inside kept private elements of {cleaned} file(s)"
        )
    if map_path is not None:
        console.print(f"linkage map: {map_path}")
    status = exit_status(summary)
    if status:
        raise SystemExit(int(status))


def exit_status(summary: RunSummary) -> ExitCode:
    """OK, PARTIAL (some inputs failed, the rest written) or ERROR (nothing written)."""
    if not summary.count("written"):
        return ExitCode.ERROR
    if summary.count("failed"):
        return ExitCode.PARTIAL
    return ExitCode.OK
