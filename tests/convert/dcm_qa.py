"""Comparing a conversion with dcm2niix's reference outputs of a dcm_qa set.

Used by ``test_dcm_qa.py`` and runnable by hand (``python tests/convert/dcm_qa.py``)
to see every difference. Judged as the sets' README says: shape, datatype, voxel sha256
and sform/qform (within 1e-4) against ``Ref/manifest.json``; bval/bvec equal; sidecar
keys and values equal except ConversionSoftware, ConversionSoftwareVersion, BidsGuess.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

KNOWN = Path(__file__).with_name("known_differences.tsv")
IGNORED_KEYS = frozenset({"ConversionSoftware", "ConversionSoftwareVersion", "BidsGuess"})
AFFINE_TOLERANCE = 1e-4


def data_root() -> Path:
    """``$MEDBRIDGE_DCM_QA``, else ``shared/data/dcm_qa`` beside the repository.

    CI clones the repository next to ``shared/``; a git worktree sits one level deeper
    (``wt/<name>``), so the grandparent is tried too.
    """
    env = os.environ.get("MEDBRIDGE_DCM_QA")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    candidates = [
        repo / ".." / "shared" / "data" / "dcm_qa",
        repo / ".." / ".." / "shared" / "data" / "dcm_qa",
    ]
    return next((c for c in candidates if (c / "flags.tsv").exists()), candidates[0])


def set_flags(root: Path) -> dict[str, list[str]]:
    """``flags.tsv``: set name → dcm2niix arguments."""
    out = {}
    for line in (root / "flags.tsv").read_text().splitlines():
        if line.strip():
            name, _, flags = line.partition("\t")
            out[name] = shlex.split(flags)
    return out


@dataclass
class SetResult:
    """Differences found in one set; ``image`` and ``sidecar`` are lists of (series, what)."""

    name: str
    series: int = 0
    images_ok: int = 0
    keys_total: int = 0
    keys_ok: int = 0
    image: list[tuple[str, str]] = field(default_factory=list)
    sidecar: list[tuple[str, str, str]] = field(default_factory=list)


Difference = tuple[str, str, str, str]  # set, series, key, kind


def known_differences() -> dict[Difference, str]:
    """``known_differences.tsv``: (set, series, key, kind) → reason."""
    with KNOWN.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    out = {}
    for row in rows:
        assert row["reason"].strip(), f"known difference without a reason: {row}"
        out[(row["set"], row["series"], row["key"], row["kind"])] = row["reason"]
    return out


def kind_of(what: str) -> str:
    """'missing', 'extra' or 'value' for a difference described by ``compare_set``."""
    return what if what in ("missing", "extra") else "value"


def found_differences(result: SetResult) -> dict[Difference, str]:
    """The sidecar differences of one compared set, keyed as the TSV keys them."""
    return {(result.name, s, k, kind_of(what)): what for s, k, what in result.sidecar}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0) or float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _numbers(path: Path) -> list[list[float]]:
    return [
        [float(v) for v in line.split()] for line in path.read_text().splitlines() if line.strip()
    ]


def write_manifest(ref_dir: Path) -> dict[str, Any]:
    """Fingerprint every NIfTI image in ``ref_dir`` as ``Ref/manifest.json`` does, and save it.

    Lets live dcm2niix outputs (synthetic cases) be judged exactly as the dcm_qa sets are.
    """
    manifest: dict[str, Any] = {}
    for path in sorted(ref_dir.glob("*.nii*")):
        img = nib.load(path)
        data = np.asanyarray(img.dataobj.get_unscaled())
        manifest[path.name.removesuffix(".gz").removesuffix(".nii")] = {
            "shape": list(data.shape),
            "datatype": str(data.dtype),
            "sha256": hashlib.sha256(data.tobytes(order="F")).hexdigest(),
            "sform": img.header.get_sform().tolist(),
            "qform": img.header.get_qform().tolist(),
            "sform_code": int(img.header["sform_code"]),
            "qform_code": int(img.header["qform_code"]),
            "slope": _scale(img.dataobj.slope, 1.0),
            "inter": _scale(img.dataobj.inter, 0.0),
        }
    (ref_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def _scale(value: Any, neutral: float) -> float | None:
    """A scaling value, None when absent or neutral (nibabel's unscaled reading)."""
    if value is None or not math.isfinite(float(value)) or float(value) == neutral:
        return None
    return float(value)


def compare_set(name: str, ref_dir: Path, out_dir: Path) -> SetResult:
    """Compare ``out_dir`` (our outputs) with the set's ``Ref`` directory."""
    result = SetResult(name)
    manifest = json.loads((ref_dir / "manifest.json").read_text())
    ours = {p.name.removesuffix(".nii.gz").removesuffix(".nii") for p in out_dir.glob("*.nii*")}
    for series in sorted(set(manifest) | ours):
        if series not in manifest:
            result.image.append((series, "extra output, not in the reference"))
            continue
        result.series += 1
        ref = manifest[series]
        problems = _compare_image(series, ref, out_dir)
        problems += _compare_tables(series, ref_dir, out_dir)
        if problems:
            result.image += [(series, p) for p in problems]
        else:
            result.images_ok += 1
        _compare_sidecar(series, ref_dir, out_dir, result)
    return result


def _compare_image(series: str, ref: dict[str, Any], out_dir: Path) -> list[str]:
    path = next(
        (p for p in (out_dir / f"{series}.nii", out_dir / f"{series}.nii.gz") if p.exists()), None
    )
    if path is None:
        return ["missing output"]
    img = nib.load(path)
    data = np.asanyarray(img.dataobj.get_unscaled())
    problems = []
    if list(data.shape) != list(ref["shape"]):
        problems.append(f"shape {list(data.shape)} != {ref['shape']}")
    if str(data.dtype) != ref["datatype"]:
        problems.append(f"datatype {data.dtype} != {ref['datatype']}")
    if hashlib.sha256(data.tobytes(order="F")).hexdigest() != ref["sha256"]:
        problems.append("voxel sha256 differs")
    for form in ("sform", "qform"):
        ours = img.header.get_sform() if form == "sform" else img.header.get_qform()
        if not np.allclose(ours, np.asarray(ref[form], dtype=float), atol=AFFINE_TOLERANCE):
            problems.append(f"{form} differs by {np.abs(ours - np.asarray(ref[form])).max():.2g}")
        code = int(img.header[f"{form}_code"])
        if code != ref[f"{form}_code"]:
            problems.append(f"{form}_code {code} != {ref[f'{form}_code']}")
    # "slope"/"inter" are the applied scaling (write_manifest); the dcm_qa manifests' scl_*
    # were read after nibabel had moved them into the data object, so they cannot be used.
    for key, value, neutral in (
        ("slope", img.dataobj.slope, 1.0),
        ("inter", img.dataobj.inter, 0.0),
    ):
        ours_scale = _scale(value, neutral)
        if key in ref and not _same_scale(ours_scale, ref[key]):
            problems.append(f"scaling {key} {ours_scale} != {ref[key]}")
    return problems


def _same_scale(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def _compare_tables(series: str, ref_dir: Path, out_dir: Path) -> list[str]:
    problems = []
    for ext in (".bval", ".bvec"):
        ref, ours = ref_dir / f"{series}{ext}", out_dir / f"{series}{ext}"
        if ref.exists() != ours.exists():
            problems.append(f"{ext} {'missing' if ref.exists() else 'extra'}")
        elif ref.exists():
            a, b = _numbers(ref), _numbers(ours)
            if [len(r) for r in a] != [len(r) for r in b] or not np.allclose(
                np.asarray(a), np.asarray(b), atol=1e-5
            ):
                problems.append(f"{ext} values differ")
    return problems


def _compare_sidecar(series: str, ref_dir: Path, out_dir: Path, result: SetResult) -> None:
    ref_path, our_path = ref_dir / f"{series}.json", out_dir / f"{series}.json"
    if not ref_path.exists():
        return
    ref = {k: v for k, v in json.loads(ref_path.read_text()).items() if k not in IGNORED_KEYS}
    ours: dict[str, Any] = {}
    if our_path.exists():
        ours = {k: v for k, v in json.loads(our_path.read_text()).items() if k not in IGNORED_KEYS}
    ours.pop("Provenance", None)
    for key in sorted(set(ref) | set(ours)):
        if key in ref:
            result.keys_total += 1
        if key not in ours:
            result.sidecar.append((series, key, "missing"))
        elif key not in ref:
            result.sidecar.append((series, key, "extra"))
        elif not _same(ref[key], ours[key]):
            result.sidecar.append((series, key, f"{ours[key]!r} != {ref[key]!r}"))
        else:
            result.keys_ok += 1


def table(results: list[SetResult]) -> str:
    """The per-set summary as text."""
    lines = [f"{'set':<16}{'series':>7}{'images ok':>11}{'sidecar keys ok':>18}{'key %':>8}"]
    for r in results:
        pct = 100.0 * r.keys_ok / r.keys_total if r.keys_total else 100.0
        lines.append(
            f"{r.name:<16}{r.series:>7}{r.images_ok:>11}{r.keys_ok:>11}/{r.keys_total:<6}{pct:>8.1f}"
        )
    total_ok = sum(r.keys_ok for r in results)
    total = sum(r.keys_total for r in results)
    lines.append(
        f"{'all':<16}{sum(r.series for r in results):>7}{sum(r.images_ok for r in results):>11}"
        f"{total_ok:>11}/{total:<6}{100.0 * total_ok / max(total, 1):>8.1f}"
    )
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - a diagnostic aid
    import sys
    import tempfile

    from medbridge.convert.cli import convert_command

    root = data_root()
    flags = set_flags(root)
    results = []
    for name in sys.argv[1:] or sorted(flags):
        out = Path(tempfile.mkdtemp(prefix=f"dcmqa-{name}-"))
        convert_command.main(
            [*flags[name], "-o", str(out), str(root / name / "In")], standalone_mode=False
        )
        res = compare_set(name, root / name / "Ref", out)
        results.append(res)
        for series, what in res.image:
            print(f"IMAGE {name} {series}: {what}")
        for series, key, what in res.sidecar:
            print(f"KEY {name} {series} {key}: {what}")
    print(table(results))
