"""Reading DICOM as it is found: files, folders, DICOMDIR media, every common syntax.

The entry points are :func:`scan` (light records, no pixel data), :func:`load_pixels`
(decoded pixels as numpy), :func:`read_dataset` (a whole header by pydicom, bounded and
checked), :func:`build_hierarchy` (the Patient → Study → Series →
Instance model) and :func:`dump` (a readable listing of one file).
"""

from medbridge.dicom._read import read_dataset
from medbridge.dicom.dicomdir import read_dicomdir
from medbridge.dicom.dump import dump, dump_file
from medbridge.dicom.files import collect_files, iter_files
from medbridge.dicom.model import Patient, Series, Study, build_hierarchy, series_summaries
from medbridge.dicom.pixels import decoder_status, load_pixels
from medbridge.dicom.records import InstanceRecord, ScanFailure
from medbridge.dicom.scan import read_record, scan, scan_files

__all__ = [
    "InstanceRecord",
    "Patient",
    "ScanFailure",
    "Series",
    "Study",
    "build_hierarchy",
    "collect_files",
    "decoder_status",
    "dump",
    "dump_file",
    "iter_files",
    "load_pixels",
    "read_dataset",
    "read_dicomdir",
    "read_record",
    "scan",
    "scan_files",
    "series_summaries",
]
