"""File-to-file conversion between research formats, and to DICOM: what ``medbridge convert``
does when its inputs are volume files rather than DICOM.

The command line stays in :mod:`medbridge.convert.cli`; it hands volume inputs to
:func:`run`, which reads each with :func:`medbridge.formats.read`, writes with
:func:`medbridge.formats.write` (or :func:`medbridge.formats.to_dicom.write_series`),
and reports one line per file.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from medbridge import formats
from medbridge.errors import FormatError, MedbridgeError
from medbridge.exitcodes import ExitCode

__all__ = [
    "TranscodeReport",
    "is_volume_input",
    "main",
    "output_path",
    "run",
    "sidecar_metadata",
    "stem_of",
]


@dataclass
class TranscodeReport:
    """What :func:`run` wrote, what it refused, and what it warned about."""

    written: list[tuple[Path, Path]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def is_volume_input(inputs: Sequence[str | os.PathLike[str]], input_format: str | None) -> bool:
    """Whether every input is a research-format volume file (so not DICOM).

    With ``input_format`` the caller has said so; otherwise each file's extension and
    first bytes must agree on a known format (DICOM files may have any name).
    """
    if not inputs:
        return False
    if input_format:
        return all(os.path.isfile(p) for p in inputs)
    return all(formats.detect(p) is not None for p in inputs)


def stem_of(path: str | os.PathLike[str]) -> str:
    """The file name without its format extension (``a.nii.gz`` → ``a``)."""
    name = os.path.basename(os.fspath(path))
    lower = name.lower()
    for _label, module in formats._modules():
        for ext in module.EXTENSIONS:
            if lower.endswith(ext):
                return name[: -len(ext)]
    return os.path.splitext(name)[0]


def sidecar_metadata(source: str | os.PathLike[str]) -> dict[str, Any]:
    """The BIDS JSON sidecar beside ``source`` (``<stem>.json``), or ``{}`` without one.

    dcm2niix and medbridge write one next to each NIfTI; it carries what the image
    header does not (RepetitionTime, EchoTime, Modality), which a DICOM export needs.

    Raises
    ------
    FormatError
        The sidecar exists but is not a JSON object.
    """
    path = Path(source).with_name(f"{stem_of(source)}.json")
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FormatError(f"sidecar is not readable JSON: {exc}", path=path) from exc
    if not isinstance(data, dict):
        raise FormatError("sidecar is not a JSON object", path=path)
    return data


def output_path(
    source: Path,
    output: Path | None,
    *,
    output_format: str | None,
    single: bool,
    compress: bool,
) -> Path:
    """Where ``source`` goes: ``output`` itself when it names a file, else a file inside it.

    ``output`` names a file when there is one input and either its extension is a
    known format or ``output_format`` is given and it is not an existing folder.
    Inside a folder the name is the source's stem plus the output format's first
    extension (``.nii.gz``, or ``.nii`` without compression, by default).
    """
    if output is not None and single and not output.is_dir():
        try:
            formats.format_for(output)
            return output
        except FormatError:
            if output_format:
                return output
    folder = output if output is not None else source.parent
    if output_format:
        extension = formats.format_named(output_format).EXTENSIONS[0]
    else:
        extension = ".nii.gz" if compress else ".nii"
    return folder / f"{stem_of(source)}{extension}"


def run(
    inputs: Sequence[Path],
    output: Path | None,
    *,
    input_format: str | None = None,
    output_format: str | None = None,
    compress: bool = True,
    to_dicom: bool = False,
    like: Path | None = None,
    echo: Callable[[str], None] = print,
) -> TranscodeReport:
    """Convert each volume file in ``inputs``; a bad file is reported and skipped.

    Parameters
    ----------
    inputs:
        Volume files (NIfTI, NRRD, MetaImage, Analyze, MGH, MINC).
    output:
        A file (one input) or a folder; for ``to_dicom``, the folder of the series.
    input_format, output_format:
        Override the formats the extensions imply.
    compress:
        Default ``.nii.gz`` rather than ``.nii`` when no output format is named.
    to_dicom:
        Write a DICOM series instead (see :mod:`medbridge.formats.to_dicom`).
    like:
        With ``to_dicom``: a DICOM file or series folder whose patient and study the
        new series joins.
    echo:
        Receives one line per file written or refused, and each warning.
    """
    report = TranscodeReport()
    for source in inputs:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                target = _convert_one(
                    source,
                    output,
                    input_format=input_format,
                    output_format=output_format,
                    compress=compress,
                    to_dicom=to_dicom,
                    like=like,
                    single=len(inputs) == 1,
                )
            except (MedbridgeError, OSError) as exc:
                message = str(exc) if str(source) in str(exc) else f"{source}: {exc}"
                report.failed.append((source, message))
                echo(f"error: {message}")
            else:
                report.written.append((source, target))
                echo(f"{source} -> {target}")
        for warning in caught:
            report.warnings.append(str(warning.message))
            echo(f"warning: {warning.message}")
    return report


def main(
    inputs: Sequence[Path],
    output: Path | None,
    *,
    input_format: str | None = None,
    output_format: str | None = None,
    compress: bool = True,
    to_dicom: bool = False,
    like: Path | None = None,
    quiet: bool = False,
) -> int:
    """:func:`run` for the command line: lines to stdout (errors, warnings to stderr).

    Returns
    -------
    int
        :class:`~medbridge.exitcodes.ExitCode`: ``OK`` when every input was written,
        ``PARTIAL`` when some were refused, ``ERROR`` when none was written.
    """
    if like is not None and not to_dicom:
        click.echo("medbridge convert: --like needs --to-dicom", err=True)
        return int(ExitCode.USAGE)
    unknown = _unknown_output_name(output, output_format=output_format, to_dicom=to_dicom)
    if unknown:
        click.echo(f"medbridge convert: {unknown}", err=True)
        return int(ExitCode.USAGE)

    def echo(line: str) -> None:
        problem = line.startswith(("error:", "warning:"))
        if problem or not quiet:
            click.echo(line, err=problem)

    report = run(
        inputs,
        output,
        input_format=input_format,
        output_format=output_format,
        compress=compress,
        to_dicom=to_dicom,
        like=like,
        echo=echo,
    )
    if not report.failed:
        return int(ExitCode.OK)
    return int(ExitCode.PARTIAL if report.written else ExitCode.ERROR)


def _unknown_output_name(
    output: Path | None, *, output_format: str | None, to_dicom: bool
) -> str | None:
    """Why ``-o`` cannot be used, when it names a file of no known format.

    ``-o x.xyz`` is a file name by its look; writing into a new folder of that name (as
    a plain ``-o OUT`` does) would hide the mistake. An existing folder, a known
    extension or an explicit ``--format`` are all fine.
    """
    if output is None or to_dicom or output_format or output.is_dir() or not output.suffix:
        return None
    try:
        formats.format_for(output)
    except FormatError:
        known = " ".join(ext for _label, m in formats._modules() for ext in m.EXTENSIONS)
        return (
            f"-o {output}: unknown extension '{output.suffix}' (known: {known}); "
            "name a known extension, give --format, or create the folder first"
        )
    return None


def _convert_one(
    source: Path,
    output: Path | None,
    *,
    input_format: str | None,
    output_format: str | None,
    compress: bool,
    to_dicom: bool,
    like: Path | None,
    single: bool,
) -> Path:
    volume = formats.read(source, format=input_format)
    if to_dicom:
        from medbridge.formats.to_dicom import write_series

        for key, value in sidecar_metadata(source).items():
            volume.metadata.setdefault(key, value)
        folder = output if output is not None else source.parent / f"{stem_of(source)}_dicom"
        target = folder if single or output is None else folder / stem_of(source)
        write_series(volume, target, like=like, series_description=stem_of(source))
        return target
    target = output_path(
        source, output, output_format=output_format, single=single, compress=compress
    )
    if target.resolve() == source.resolve():
        raise FormatError("output would overwrite the input; name another file", path=source)
    target.parent.mkdir(parents=True, exist_ok=True)
    formats.write(volume, target, format=output_format)
    return target
