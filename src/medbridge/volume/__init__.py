"""Geometry: the `Volume` (voxels + RAS+ affine + metadata) and building it from DICOM."""

from medbridge.volume._volume import Volume

__all__ = ["Volume"]
