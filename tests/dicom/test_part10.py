"""The Part 10 header encoder (dicom/part10.py) against pydicom's writer."""

from __future__ import annotations

import pytest
from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION
from pynetdicom.dsutils import create_file_meta, encode_file_meta

from medbridge.dicom.part10 import file_meta_prefix

CASES = {
    "odd-uids": ("1.2.840.10008.5.1.4.1.1.2", "1.2.3.45", "1.2.840.10008.1.2.1"),
    "even-uids": ("1.2.840.10008.5.1.4.1.1.4", "1.2.3.4", "1.2.840.10008.1.2"),
    "jpeg2000": ("1.2.840.10008.5.1.4.1.1.7", "2.25." + "9" * 38, "1.2.840.10008.1.2.4.90"),
}


class TestFileMetaPrefix:
    @pytest.mark.parametrize("uids", CASES.values(), ids=CASES.keys())
    @pytest.mark.parametrize("version", [PYNETDICOM_IMPLEMENTATION_VERSION, "ODD_LEN"])
    def test_same_bytes_as_pydicom(self, uids, version):
        """Preamble, prefix and meta group equal what pynetdicom writes through pydicom."""
        sop_class, sop_instance, syntax = uids
        meta = create_file_meta(
            sop_class_uid=sop_class,
            sop_instance_uid=sop_instance,
            transfer_syntax=syntax,
            implementation_version=version,
        )
        expected = b"\x00" * 128 + b"DICM" + encode_file_meta(meta)
        got = file_meta_prefix(
            sop_class_uid=sop_class,
            sop_instance_uid=sop_instance,
            transfer_syntax_uid=syntax,
            implementation_class_uid=PYNETDICOM_IMPLEMENTATION_UID,
            implementation_version_name=version,
        )
        assert got == expected
