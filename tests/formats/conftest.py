"""Session fixtures: the source volumes of :mod:`formats.cases`, converted once."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import dcm_qa_root, require
from formats.cases import CASES, derive
from medbridge import formats
from medbridge.convert import convert
from medbridge.volume import Volume


@pytest.fixture(scope="session")
def source_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Case name → a NIfTI file of that case (converted from dcm_qa on first use)."""
    root = dcm_qa_root()
    require((root / "flags.tsv").is_file(), f"the dcm_qa reference data at {root}")
    folder = tmp_path_factory.mktemp("sources")
    out = {}
    for case in CASES:
        volumes = convert([root / case.series])
        chosen = [v for v in volumes if case.pick in str(v.metadata.get("name", ""))]
        assert chosen, f"{case.series}: no converted volume named like '{case.pick}'"
        volume = chosen[0]
        if case.derive:
            volume = derive(volume, case.derive)
        path = folder / f"{case.name}.nii.gz"
        formats.write(volume, path)
        out[case.name] = path
    return out


@pytest.fixture(scope="session")
def sources(source_files: dict[str, Path]) -> dict[str, Volume]:
    """Case name → the Volume its NIfTI file holds."""
    return {name: formats.read(path) for name, path in source_files.items()}
