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
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from medbridge.console import make_console
from medbridge.deid.deidentify import CLEANED_NOTE
from medbridge.deid.options import policy_options
from medbridge.deid.policy import Policy
from medbridge.deid.runner import FileResult, RunSummary, anonymize_paths, iter_files
from medbridge.errors import MedbridgeError
from medbridge.exitcodes import ExitCode

__all__ = ["anonymize_command"]


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
@policy_options()
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
    policy: Policy,
    map_path: Path | None,
    jobs: int | None,
) -> None:
    """De-identify DICOM files and folders INPUTS into OUTPUT (DICOM PS3.15 Annex E)."""
    console = make_console(stderr=True)
    logging.getLogger("medbridge").setLevel(logging.WARNING)
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
