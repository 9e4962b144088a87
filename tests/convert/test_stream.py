"""Slices decoded ahead (threads, or worker processes plus this one) come in order, as
decoded one by one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import ExplicitVRLittleEndian, JPEGLSLossless, RLELossless

from convert.synth import SeriesSpec, write
from medbridge.convert._pipeline import ConvertOptions, plan_outputs
from medbridge.convert._stream import _compressed_files, _decoded


@pytest.mark.parametrize(
    ("syntax", "in_processes"),
    [(JPEGLSLossless, True), (RLELossless, False), (ExplicitVRLittleEndian, False)],
    ids=["jpegls", "rle", "native"],
)
@pytest.mark.parametrize("workers", [2, 3])
def test_decoded_ahead_equals_one_by_one(
    tmp_path: Path, syntax: str, in_processes: bool, workers: int
) -> None:
    """Every frame, in plan order, equal to decoding each frame here alone."""
    write(SeriesSpec("ahead", slices=11, transfer_syntax=syntax), tmp_path)
    (item,) = plan_outputs([tmp_path], ConvertOptions())[0]
    frames = [f for volume in item.plan.frames for f in volume]
    assert (_compressed_files(frames) is not None) == in_processes
    one_by_one = list(_decoded(frames, 1))
    ahead = list(_decoded(frames, workers))
    assert len(ahead) == len(one_by_one) == 11
    for got, expected in zip(ahead, one_by_one, strict=True):
        np.testing.assert_array_equal(got, expected)
    assert not all(np.array_equal(one_by_one[0], a) for a in one_by_one[1:])  # distinct slices
