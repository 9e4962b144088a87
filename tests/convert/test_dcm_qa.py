"""Conformance with dcm2niix: every dcm_qa set, converted with its own flags, against ``Ref/``.

Per set (one test each, so xdist spreads them): every reference series must match in
shape, datatype, voxel sha256, sform/qform (1e-4), bval and bvec; every sidecar
difference must be listed in ``known_differences.tsv`` with its reason, and every listed
difference must still occur, so the list can only shrink. Across sets, sidecar keys must
agree for at least 95%; since each set's differences are exactly its listed ones, that
share follows from the list and the reference sidecars.

Run with ``-s`` to see each set's row; ``python tests/convert/dcm_qa.py [set...]`` prints
every difference.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from conftest import DCM_QA_SETS
from convert.dcm_qa import (
    IGNORED_KEYS,
    SetResult,
    compare_set,
    found_differences,
    known_differences,
    set_flags,
    table,
)
from medbridge.convert.cli import convert_command

MIN_KEY_SHARE = 0.95
SETS = DCM_QA_SETS


def convert_set(root: Path, name: str, out: Path) -> None:
    """Run ``medbridge convert`` in-process with the set's flags from ``flags.tsv``."""
    flags = set_flags(root)[name]
    try:
        convert_command.main(
            [*flags, "-q", "-o", str(out), str(root / name / "In")], standalone_mode=False
        )
    except SystemExit as exc:  # a refused series; compare_set reports it as missing
        assert exc.code in (None, 0), f"{name}: medbridge convert exited {exc.code}"


class TestDcmQa:
    @pytest.mark.parametrize("name", SETS)
    def test_set_matches_reference(self, name: str, dcm_qa: Path, tmp_path: Path) -> None:
        """Images, geometry, bval/bvec match; sidecar differences are exactly the listed ones."""
        convert_set(dcm_qa, name, tmp_path)
        result = compare_set(name, dcm_qa / name / "Ref", tmp_path)
        print("\n" + table([result]))
        assert not result.image, "\n".join(f"{s}: {w}" for s, w in result.image)
        assert result.images_ok == len(
            json.loads((dcm_qa / name / "Ref" / "manifest.json").read_text())
        )
        found = found_differences(result)
        listed = {d: r for d, r in known_differences().items() if d[0] == name}
        unlisted = sorted(set(found) - set(listed))
        gone = sorted(set(listed) - set(found))
        assert not unlisted, "unlisted sidecar differences:\n" + "\n".join(
            f"{d[1]} {d[2]} ({d[3]}): {found[d]}" for d in unlisted
        )
        assert not gone, "listed differences that no longer occur (remove them):\n" + "\n".join(
            "\t".join(d) for d in gone
        )

    def test_sidecar_keys_agree_for_95_percent(self, dcm_qa: Path) -> None:
        """Reference keys minus listed missing/different ones are at least 95% of all."""
        listed = known_differences()
        failing = Counter(d[0] for d in listed if d[3] != "extra")
        rows = []
        for name in SETS:
            total = 0
            for ref in sorted((dcm_qa / name / "Ref").glob("*.json")):
                if ref.name == "manifest.json":
                    continue
                total += len(set(json.loads(ref.read_text())) - IGNORED_KEYS)
            series = len(json.loads((dcm_qa / name / "Ref" / "manifest.json").read_text()))
            rows.append(SetResult(name, series, series, total, total - failing[name]))
        print("\n" + table(rows))
        total = sum(r.keys_total for r in rows)
        ok = sum(r.keys_ok for r in rows)
        assert ok / total >= MIN_KEY_SHARE, f"sidecar keys agree for {ok}/{total}"

    def test_flags_cover_every_set(self, dcm_qa: Path) -> None:
        """Every set in flags.tsv is tested (a new set must not go unchecked)."""
        assert set(set_flags(dcm_qa)) == set(SETS)
