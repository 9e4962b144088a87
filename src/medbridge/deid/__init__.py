"""De-identification per DICOM PS3.15 Annex E (Basic Profile and its options).

``deidentify(dataset, policy)`` applies Table E.1-1 (shipped as data) to one dataset:
keyed, deterministic UID remapping, per-patient date shifting, private attributes removed
or kept as safe, every sequence walked. ``anonymize_paths`` runs it over files and
folders, writing each output atomically and reporting each input; ``anonymize_bytes``
does the same to one file held in memory (archive exports, web API).
"""

from medbridge.deid.deidentify import deidentify, patient_pseudonym
from medbridge.deid.instance import anonymize_bytes, encode_dataset
from medbridge.deid.policy import Option, PixelRegion, Policy
from medbridge.deid.runner import FileResult, RunSummary, anonymize_paths
from medbridge.deid.uids import remap_uid

__all__ = [
    "FileResult",
    "Option",
    "PixelRegion",
    "Policy",
    "RunSummary",
    "anonymize_bytes",
    "anonymize_paths",
    "deidentify",
    "encode_dataset",
    "patient_pseudonym",
    "remap_uid",
]
