"""The DICOM → NIfTI pipeline: find, group, stack, check, write, report.

Every output is decided from headers first (grouping, slice order, affine) and refused
with its reason when it cannot be right; only then are pixels read and files written, so
a refused series never leaves a file behind. Outputs are converted in parallel threads
(pixel decoding and compression release the GIL).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydicom.dataset import Dataset

from medbridge.convert._context import OutputContext
from medbridge.convert._diffusion import bvals_bvecs
from medbridge.convert._general import is_3d, is_epi
from medbridge.convert._group import OutputGroup, group_instances
from medbridge.convert._inputs import Instance, ScanReport, expand_inputs, read_instances
from medbridge.convert._naming import input_folder_name, render_template, unique_name
from medbridge.convert._nifti_fields import nifti_fields
from medbridge.convert._philips import philips_scaling
from medbridge.convert._sidecar import build_sidecar, dumps, numbers_line
from medbridge.convert._stream import stream_nifti
from medbridge.convert._workers import processes_allowed
from medbridge.errors import (
    ConversionError,
    GeometryError,
    IncompleteVolumeError,
    MedbridgeError,
)
from medbridge.volume import Volume
from medbridge.volume._ortho import canonical_order, unflip_rows
from medbridge.volume._stack import StackPlan, load_stack, plan_stack

__all__ = [
    "ConversionReport",
    "ConvertOptions",
    "Output",
    "Skipped",
    "convert_files",
    "plan_outputs",
]

logger = logging.getLogger(__name__)

#: What converters write beside their images; such files among the inputs are earlier
#: outputs (the default -o is the input folder), not "non-DICOM" surprises.
OUTPUT_EXTENSIONS = (".nii", ".nii.gz", ".json", ".bval", ".bvec", ".nrrd", ".nhdr")
#: dcm2niix's ``niiExists`` (an image under the name), and the sidecar beside it.
_EXISTING = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".json")


@dataclass
class ConvertOptions:
    """dcm2niix's options, by their meaning.

    Attributes
    ----------
    template:
        ``-f`` file name template (see :mod:`medbridge.convert._naming`).
    compress:
        ``-z y``: write ``.nii.gz``.
    bids:
        ``-b``: ``"y"`` image and sidecar, ``"n"`` image only, ``"o"`` sidecar only.
    ignore_derived:
        ``-i y``: skip derived images, localizers and single-slice (2D) images.
    anonymize_sidecar:
        Leave names, IDs and birth dates out of sidecars (default on).
    provenance:
        Add, per sidecar field, the DICOM element or rule it came from.
    deidentify:
        Applied to every header before grouping, naming and sidecars, so that names,
        sidecars and provenance hold only what it leaves (the CLI passes
        :func:`medbridge.deid.deidentify` with the user's key). Raising
        :class:`~medbridge.errors.MedbridgeError` skips the file with its reason; pixels
        are read from the files as they are.
    threads:
        Parallel outputs (0: CPU count).
    """

    template: str = "%f_%p_%t_%s"
    compress: bool = False
    bids: Literal["y", "n", "o"] = "y"
    ignore_derived: bool = False
    anonymize_sidecar: bool = True
    provenance: bool = False
    threads: int = 0
    deidentify: Callable[[Dataset], Dataset] | None = None


@dataclass
class Output:
    """One written (or, for the API, built) output."""

    name: str
    files: list[str]
    shape: tuple[int, ...]
    series_number: int | None
    description: str
    volume: Volume | None = None


@dataclass
class Skipped:
    """A series or file left out, with why; ``incomplete`` marks missing slices."""

    name: str
    reason: str
    incomplete: bool = False


@dataclass
class ConversionReport:
    """What a run wrote and what it left out."""

    outputs: list[Output] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    not_dicom: int = 0
    earlier_outputs: int = 0
    """Files skipped that look like a converter's outputs (.nii, .json, .bval...): a
    folder converted into itself holds the previous run's."""

    @property
    def incomplete(self) -> list[Skipped]:
        """Series refused because volumes miss slices."""
        return [s for s in self.skipped if s.incomplete]

    @property
    def errors(self) -> list[Skipped]:
        """Series refused for any other reason (derived/2D exclusions are not errors)."""
        return [s for s in self.skipped if not s.incomplete and not s.reason.startswith("ignored:")]


@dataclass
class _Planned:
    group: OutputGroup
    plan: StackPlan
    name: str
    renamed_from: str = ""


def _deliberate(reason: str) -> bool:
    """Files left out on purpose (``-i y``): reported as ignored, not as refused."""
    return "-i y" in reason


def _by_folder(refused: dict[str, str]) -> list[Skipped]:
    """One report row per folder and reason, so a refused 1,000-file series is one line.

    Files left out on purpose (``-i y``) are rows too, marked "ignored:", so nothing is
    ever dropped without a word; they do not count as errors.
    """
    rows: dict[tuple[str, str], list[str]] = {}
    for path, why in refused.items():
        rows.setdefault((os.path.dirname(path), why), []).append(path)
    out = []
    for (folder, why), paths in rows.items():
        name = paths[0] if len(paths) == 1 else f"{len(paths)} files in {folder}"
        out.append(Skipped(name, f"ignored: {why}" if _deliberate(why) else why))
    return out


def plan_outputs(
    inputs: Iterable[str | os.PathLike[str]], options: ConvertOptions
) -> tuple[list[_Planned], ConversionReport]:
    """Scan, group and plan every output from headers alone."""
    report = ConversionReport()
    scan = ScanReport()
    folders: dict[str, str] = {}

    def files() -> Iterator[str]:
        for item in inputs:  # %f is the input's folder, as dcm2niix's is
            folder = input_folder_name(item)
            for path in expand_inputs([item]):
                folders[path] = folder
                yield path

    instances = read_instances(files(), scan)
    earlier = [p for p in scan.skipped if p.lower().endswith(OUTPUT_EXTENSIONS)]
    report.earlier_outputs = len(earlier)
    report.not_dicom = len(scan.skipped) - len(earlier)
    report.skipped += [Skipped(path, why) for path, why in scan.damaged.items()]
    if options.deidentify is not None:
        instances = _deidentified(instances, options.deidentify, report)
    groups, skipped_files = group_instances(instances, ignore_derived=options.ignore_derived)
    report.skipped += _by_folder(skipped_files)
    planned: list[_Planned] = []
    taken: set[str] = set()
    for group in groups:
        first = group.instances[0].path
        base = render_template(
            options.template,
            group.ds,
            path=first,
            echo=group.echo_number,
            folder=folders.get(first),
        )
        label = base + group.suffix(options.template)
        try:
            plan = plan_stack(group.frames)
        except IncompleteVolumeError as exc:
            report.skipped.append(Skipped(label, str(exc), incomplete=True))
            continue
        except (GeometryError, ConversionError) as exc:
            report.skipped.append(Skipped(label, str(exc)))
            continue
        if options.ignore_derived and len(plan.frames[0]) < 2:
            report.skipped.append(Skipped(label, "ignored: 2D image (-i y)"))
            continue
        planned.append(_Planned(group, plan, unique_name(label, taken)))
    return planned, report


def _deidentified(
    instances: list[Instance], deidentify: Callable[[Dataset], Dataset], report: ConversionReport
) -> list[Instance]:
    """The instances with de-identified headers; a file that cannot be is reported, left out."""
    out = []
    for inst in instances:
        try:
            out.append(Instance(inst.path, deidentify(inst.ds)))
        except MedbridgeError as exc:
            report.skipped.append(Skipped(inst.path, f"not de-identified: {exc}"))
    return out


def _dcm2niix_dtype(volume: Volume, bits_stored: int) -> Volume:
    """dcm2niix stores unsigned data with fewer than 16 bits stored as int16 (lossless)."""
    if volume.array.dtype == np.uint16 and 0 < bits_stored < 16:
        volume.array = volume.array.view(np.int16)
    return volume


def _is_3d_acquisition(ds: Any) -> bool:
    """A 3D acquisition other than 3D EPI: no slice timing, so dcm2niix reorients it."""
    return is_3d(ds) and not is_epi(ds)


@dataclass
class _Description:
    """What one output is, from headers: sidecar, diffusion tables, scaling, layout."""

    fields: dict[str, Any]
    diffusion: Any
    scaling: tuple[float, float] | None
    bits_stored: int
    reorient: bool
    header: dict[str, Any] = field(default_factory=dict)  # NIfTI descrip, aux_file...


def _describe(item: _Planned, options: ConvertOptions) -> _Description:
    ctx = OutputContext(item.group, item.plan)
    car = build_sidecar(ctx, anonymize=options.anonymize_sidecar)
    fields = car.ordered(provenance=options.provenance)
    return _Description(
        fields=fields,
        header=nifti_fields(ctx, fields),
        diffusion=None if item.group.adc_copy else bvals_bvecs(item.plan),
        scaling=philips_scaling(ctx.ds),
        bits_stored=int(ctx.ds.get("BitsStored", 16) or 16),
        reorient=_is_3d_acquisition(ctx.ds) and ctx.n_slices > 1 and ctx.n_volumes == 1,
    )


def _load(item: _Planned, about: _Description) -> Volume:
    volume = load_stack(item.plan, metadata=dict(about.fields) | about.header)
    volume = _dcm2niix_dtype(volume, about.bits_stored)
    if about.reorient:
        volume.array, volume.affine_ras = canonical_order(
            *unflip_rows(volume.array, volume.affine_ras)
        )
    if about.scaling is not None:
        volume.slope, volume.intercept = about.scaling
    if about.diffusion is not None:
        volume.metadata["bvals"] = about.diffusion[0]
        volume.metadata["bvecs"] = about.diffusion[1].tolist()
    return volume


def build_volume(item: _Planned, options: ConvertOptions) -> tuple[Volume, dict[str, Any], Any]:
    """Pixels, sidecar and diffusion tables of one planned output."""
    about = _describe(item, options)
    return _load(item, about), about.fields, about.diffusion


def _decoder_threads(item: _Planned) -> int:
    """Threads decoding ahead: one file per frame only (mosaic/enhanced share a decoder)."""
    if item.group.mosaic or item.group.enhanced:
        return 1
    return min(4, os.cpu_count() or 1)


def _write_image(
    item: _Planned, about: _Description, path: str, processes: bool = True
) -> tuple[int, ...]:
    """Stream slices into the file when the layout allows, else build the volume first."""
    from medbridge.formats import nifti

    if not about.reorient:
        shape = stream_nifti(
            item.plan,
            path,
            metadata=dict(about.fields) | about.header,
            bits_stored=about.bits_stored,
            scaling=about.scaling,
            decoders=_decoder_threads(item),
            processes=processes,
        )
        if shape is not None:
            return shape
    volume = _load(item, about)
    nifti.write(volume, path)
    return volume.shape


def _write_one(
    item: _Planned, out_dir: str, options: ConvertOptions, processes: bool = True
) -> Output:
    about = _describe(item, options)
    fields, diffusion = about.fields, about.diffusion
    stem = os.path.join(out_dir, item.name)
    os.makedirs(os.path.dirname(stem) or ".", exist_ok=True)
    files = []
    shape = item.plan.shape
    if options.bids != "o" or item.group.adc_copy:
        path = stem + (".nii.gz" if options.compress else ".nii")
        shape = _write_image(item, about, path, processes)
        files.append(path)
    if options.bids in ("y", "o") and not item.group.adc_copy:
        with open(stem + ".json", "w", encoding="utf-8") as fh:
            fh.write(dumps(fields))
        files.append(stem + ".json")
    if diffusion is not None:
        bvals, bvecs = diffusion
        with open(stem + ".bval", "w", encoding="ascii") as fh:
            fh.write(numbers_line(bvals) + "\n")
        with open(stem + ".bvec", "w", encoding="ascii") as fh:
            fh.write("\n".join(numbers_line(row) for row in bvecs) + "\n")
        files += [stem + ".bval", stem + ".bvec"]
    ds = item.group.ds
    description = str(ds.get("SeriesDescription", ""))
    if item.group.adc_copy:
        description += " (with the derived trace/ADC volumes, last)"
    if item.renamed_from:
        description += f" ({item.renamed_from} existed)"
    return Output(
        item.name,
        files,
        shape,
        int(ds.SeriesNumber) if ds.get("SeriesNumber") not in (None, "") else None,
        description.strip(),
    )


def _keep_existing(
    planned: list[_Planned], out_dir: str, report: ConversionReport
) -> list[_Planned]:
    """Rename outputs whose name an existing file holds, as dcm2niix does (``a``..``z``)."""
    reserved = {item.name for item in planned}

    def taken(name: str) -> bool:
        return any(os.path.exists(os.path.join(out_dir, name + ext)) for ext in _EXISTING)

    kept = []
    for item in planned:
        if taken(item.name):
            free = next(
                (
                    item.name + letter
                    for letter in "abcdefghijklmnopqrstuvwxyz"
                    if item.name + letter not in reserved and not taken(item.name + letter)
                ),
                None,
            )
            if free is None:
                report.skipped.append(
                    Skipped(item.name, f"{item.name} and {item.name}a..z exist in {out_dir}")
                )
                continue
            item.renamed_from, item.name = item.name, free
            reserved.add(free)
        kept.append(item)
    return kept


def convert_files(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    options: ConvertOptions | None = None,
    *,
    progress: Callable[[Output | Skipped], None] | None = None,
    on_plan: Callable[[int], None] | None = None,
) -> ConversionReport:
    """Convert DICOM under ``inputs`` into NIfTI (+ JSON, bval/bvec) files in ``out_dir``.

    Files already in ``out_dir`` are never overwritten: a name taken by an earlier run
    gets dcm2niix's suffix, the first free of ``a`` to ``z`` (``nii_createFilename``);
    when all 26 are taken the output is refused with the reason. ``on_plan`` receives
    the number of outputs once planned, ``progress`` each result.

    Returns
    -------
    ConversionReport
        Outputs written, series refused (incomplete volumes apart), non-DICOM file count.
    """
    options = options or ConvertOptions()
    processes = processes_allowed(sys._getframe(1))  # here: the writers run in threads
    out = os.fspath(out_dir)
    os.makedirs(out, exist_ok=True)
    planned, report = plan_outputs(inputs, options)
    planned = _keep_existing(planned, out, report)
    if on_plan is not None:
        on_plan(len(planned))
    workers = options.threads or min(4, os.cpu_count() or 1)

    def run(item: _Planned) -> Output | Skipped:
        try:
            return _write_one(item, out, options, processes)
        except (GeometryError, ConversionError) as exc:
            return Skipped(item.name, str(exc), incomplete=isinstance(exc, IncompleteVolumeError))
        except Exception as exc:  # a decoder failure must not stop the other series
            logger.exception("converting %s failed", item.name)
            return Skipped(item.name, f"{type(exc).__name__}: {exc}")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for result in pool.map(run, planned):
            if isinstance(result, Output):
                report.outputs.append(result)
            else:
                report.skipped.append(result)
            if progress is not None:
                progress(result)
    return report
