"""Fuzzing every reader with mutated real files (issue 13).

Real files (dcm2niix's dcm_qa sets and pydicom's test files, one per encoding and
codec) are mutated by hypothesis: bytes flipped, the file cut short, length fields set
to lies (0xFFFFFFFF, 4 GB, the file's size...), chunks of another file spliced in,
item and delimiter tags inserted. Each mutant is fed to the header walker, ``ls`` and
``info`` (through the click commands), pydicom behind :func:`read_dataset`,
``anonymize`` and ``convert`` (their library entry points), and a running server's
C-STORE. No mutant may raise anything but medbridge's own errors
(:class:`~medbridge.errors.MedbridgeError`); each case runs under a per-case deadline
(hypothesis ``deadline``) and its peak of traced allocations stays below a bound
proportional to the file (tracemalloc), so no header claim is ever allocated.

The default run is short (a few hundred cases); ``MEDBRIDGE_FUZZ_CASES=N`` runs N
cases for the cheap readers (and proportionally more for the others), with random
(not derandomized) generation, for a longer hunt.
"""

from __future__ import annotations

import contextlib
import os
import struct
import tracemalloc
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file

from conftest import dcm_qa_root
from medbridge.cli import main
from medbridge.convert import ConvertOptions, convert_files
from medbridge.deid import Policy
from medbridge.deid.runner import anonymize_file
from medbridge.dicom import read_dataset
from medbridge.dicom._header import NeedsFullParse, read_raw_header_bytes
from medbridge.dicom.part10 import file_meta_prefix
from medbridge.errors import MedbridgeError

_ENV_CASES = os.environ.get("MEDBRIDGE_FUZZ_CASES")
CASES = int(_ENV_CASES) if _ENV_CASES else 100

#: Peak traced allocation a case may reach: a fixed allowance (pydicom's and numpy's
#: working sets, decoded pixels of a 384² slice) plus a multiple of the file's size.
MEMORY_BASE = 48 << 20
MEMORY_PER_BYTE = 40

PYDICOM_SEEDS = (
    "CT_small.dcm",
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_jp2klossless.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "JPGExtended.dcm",
    "image_dfl.dcm",
    "rtplan.dcm",
    "nested_priv_SQ.dcm",
    "UN_sequence.dcm",
    "ExplVR_LitEndNoMeta.dcm",
    "reportsi.dcm",
)
DCM_QA_SEEDS = (
    "dcm_qa_ts/In/2.dcm",  # Implicit VR Little Endian
    "dcm_qa_ts/In/3.dcm",  # Explicit VR Big Endian
    "dcm_qa_ts/In/5.dcm",  # JPEG Lossless
    "dcm_qa_philips/In/Magdeburg_2014/fmri/201_EPI_asc_CLEAR_0001_01.dcm",
)
_VRS = frozenset(
    b"AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI "
    b"UL UN UR US UT UV".split()
)
_LONG = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())
_LIES = (0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFF0, 0x7FFFFFFF, 0x10000, 0xFFFF, 0, 1, 3)
_TAGS = (
    b"\xfe\xff\x00\xe0\xff\xff\xff\xff",  # item, undefined length
    b"\xfe\xff\x00\xe0\x00\x00\x00\x10",  # item claiming 256 MB
    b"\xfe\xff\x0d\xe0\x00\x00\x00\x00",  # item delimiter
    b"\xfe\xff\xdd\xe0\x00\x00\x00\x00",  # sequence delimiter
    b"\x40\x00\x30\xa7SQ\x00\x00\xff\xff\xff\xff",  # content sequence, undefined length
    b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff",  # encapsulated pixel data
)


class Seed:
    """A real file and where its explicit-VR length fields are (the lies go there)."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name = name
        self.data = data
        self.lengths = [
            (p + 8, 4) if data[p + 4 : p + 6] in _LONG else (p + 6, 2)
            for p in range(0, len(data) - 12, 2)
            if data[p + 4 : p + 6] in _VRS
        ]

    def __repr__(self) -> str:
        return self.name


def _seeds() -> list[Seed]:
    seeds = []
    for name in PYDICOM_SEEDS:
        path = get_testdata_file(name)
        if path is not None:
            seeds.append(Seed(name, Path(str(path)).read_bytes()))
    root = dcm_qa_root()
    for rel in DCM_QA_SEEDS:
        if (root / rel).is_file():
            seeds.append(Seed(rel, (root / rel).read_bytes()))
    return seeds


SEEDS = _seeds()


class Mutant(tuple):  # type: ignore[type-arg]
    """(name, bytes) shown by its name alone: a failing case says how to rebuild it."""

    def __repr__(self) -> str:
        return repr(self[0])


@st.composite
def mutants(draw: st.DrawFn) -> tuple[str, bytes]:
    """A seed after one to four mutations; its name says what was done."""
    seed = draw(st.sampled_from(SEEDS))
    data = bytearray(seed.data)
    done = []
    for op in draw(st.lists(st.sampled_from(_OPS), min_size=1, max_size=4)):
        if not data:
            break
        done.append(op(draw, seed, data))
    return Mutant((f"{seed.name}: {'; '.join(done)}", bytes(data)))


def _flip(draw: st.DrawFn, seed: Seed, data: bytearray) -> str:
    pos = draw(st.integers(0, len(data) - 1))
    data[pos] = draw(st.integers(0, 255))
    return f"byte {pos} = {data[pos]}"


def _truncate(draw: st.DrawFn, seed: Seed, data: bytearray) -> str:
    keep = draw(st.integers(0, len(data) - 1))
    del data[keep:]
    return f"cut at {keep}"


def _length(draw: st.DrawFn, seed: Seed, data: bytearray) -> str:
    fields = [(p, w) for p, w in seed.lengths if p + w <= len(data)]
    if not fields:
        return "no length field"
    pos, width = draw(st.sampled_from(fields))
    value = draw(st.sampled_from(_LIES) | st.integers(0, 2**32 - 1)) & ((1 << 8 * width) - 1)
    data[pos : pos + width] = value.to_bytes(width, "little")
    return f"length at {pos} = {value:#x}"


def _splice(draw: st.DrawFn, seed: Seed, data: bytearray) -> str:
    other = draw(st.sampled_from(SEEDS)).data
    start = draw(st.integers(0, len(other) - 1))
    chunk = other[start : start + draw(st.integers(1, 4096))]
    at = draw(st.integers(0, len(data)))
    data[at:at] = chunk
    return f"{len(chunk)} bytes spliced at {at}"


def _insert_tag(draw: st.DrawFn, seed: Seed, data: bytearray) -> str:
    tag = draw(st.sampled_from(_TAGS))
    at = draw(st.integers(0, len(data) // 2)) * 2
    data[at:at] = tag
    return f"{tag[:4].hex()} inserted at {at}"


_OPS = (_flip, _truncate, _length, _length, _splice, _insert_tag)


def _settings(cases: int, seconds: float) -> settings:
    return settings(
        max_examples=cases,
        deadline=timedelta(seconds=seconds),
        derandomize=_ENV_CASES is None,  # CI runs the same cases; a hunt explores
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


class _Bounded:
    """Run a case: only medbridge's errors may escape, and memory stays bounded."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name = name
        self.limit = MEMORY_BASE + MEMORY_PER_BYTE * len(data)

    def __enter__(self) -> _Bounded:
        warnings.simplefilter("ignore")  # pydicom warns about every oddity it reads
        tracemalloc.reset_peak()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> bool:
        peak = tracemalloc.get_traced_memory()[1]
        assert peak < self.limit, f"{self.name}: {peak >> 20} MB allocated at the peak"
        if exc is None or isinstance(exc, MedbridgeError):
            return True
        raise AssertionError(f"{self.name}: {type(exc).__name__}: {exc}") from exc


@pytest.fixture(scope="module", autouse=True)
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def _write(tmp: Path, data: bytes) -> Path:
    path = tmp / "mutant.dcm"
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def test_seeds_are_there() -> None:
    """The seeds cover every encoding (pydicom's files are always installed)."""
    assert len(SEEDS) >= len(PYDICOM_SEEDS)


class TestReaders:
    @_settings(CASES, 30)
    @given(case=mutants())
    def test_walker_and_read_dataset(self, case: tuple[str, bytes]) -> None:
        """The header walker and the door to pydicom: medbridge's errors only."""
        name, data = case
        with _Bounded(name, data), contextlib.suppress(NeedsFullParse):
            read_raw_header_bytes(data)
        with _Bounded(name, data):
            read_dataset(data, name=name)

    @_settings(CASES // 2, 60)
    @given(case=mutants())
    def test_ls_and_info(self, tmp: Path, case: tuple[str, bytes]) -> None:
        """``medbridge ls`` and ``medbridge info`` exit with a status, never a traceback."""
        name, data = case
        path = _write(tmp, data)
        runner = CliRunner()
        with _Bounded(name, data):
            for command in ("ls", "info"):
                result = runner.invoke(main, [command, str(path)])
                if not isinstance(result.exception, SystemExit | type(None)):
                    raise result.exception  # type: ignore[misc]
                assert result.exit_code in (0, 1, 3), (command, result.output)


class TestWriters:
    @_settings(CASES // 3, 60)
    @given(case=mutants())
    def test_anonymize(self, tmp: Path, case: tuple[str, bytes]) -> None:
        """``anonymize``: written, skipped or failed with a reason; never an exception."""
        name, data = case
        path = _write(tmp, data)
        with _Bounded(name, data):
            result = anonymize_file(path, tmp / "anon", Policy(key=b"k" * 32))
            assert result.status == "written" or result.reason
            if result._partial:
                Path(result._partial).unlink()

    @_settings(max(10, CASES // 6), 120)
    @given(case=mutants())
    def test_convert(self, tmp: Path, case: tuple[str, bytes]) -> None:
        """``convert``: an output, or the file reported; never an exception."""
        name, data = case
        folder = tmp / "convert-in"
        folder.mkdir(exist_ok=True)
        _write(folder, data)
        with _Bounded(name, data):
            report = convert_files([folder], tmp / "convert-out", ConvertOptions(threads=1))
        assert all(
            not s.reason.startswith(("ValueError", "TypeError", "KeyError")) for s in report.skipped
        ), report.skipped


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from dimse.peers import MedbridgeServer

    srv = MedbridgeServer(tmp_path_factory.mktemp("fuzz-server") / "var")
    try:
        yield srv.start(timeout=120)  # a loaded 2-core machine starts it slowly
    finally:
        srv.__exit__(None, None, None)


@pytest.fixture(scope="module")
def association(server: Any) -> Iterator[Any]:
    """One association for every case: a failure status must not end it."""
    from pynetdicom import AE, _config, build_context

    ae = AE(ae_title="FUZZER")
    ae.dimse_timeout = ae.network_timeout = ae.acse_timeout = 30
    ae.requested_contexts = [
        build_context("1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.1.2.1"),
        build_context("1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.1.2"),
    ]
    previous = _config.STORE_SEND_CHUNKED_DATASET
    _config.STORE_SEND_CHUNKED_DATASET = True
    assoc = ae.associate("127.0.0.1", server.port, ae_title="MEDBRIDGE")
    assert assoc.is_established
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()
        _config.STORE_SEND_CHUNKED_DATASET = previous


class TestServer:
    @_settings(CASES // 2, 120)
    @given(case=mutants(), implicit=st.booleans())
    def test_c_store(
        self, server: Any, association: Any, tmp: Path, case: tuple[str, bytes], implicit: bool
    ) -> None:
        """The mutant's data set over C-STORE: medbridge's status, never pynetdicom's 0xC211."""
        name, data = case
        body = _data_set(data)
        uid = f"1.2.826.0.1.3680043.10.1313.{abs(hash(name)) % 10**12}.{len(body)}"
        meta = file_meta_prefix(
            sop_class_uid="1.2.840.10008.5.1.4.1.1.4",
            sop_instance_uid=uid,
            transfer_syntax_uid="1.2.840.10008.1.2" if implicit else "1.2.840.10008.1.2.1",
            implementation_class_uid="1.2.3.4",
            implementation_version_name="FUZZ",
        )
        path = tmp / "c-store.dcm"
        path.write_bytes(meta + body)
        status = association.send_c_store(path)
        code = int(status.get("Status", -1)) if status else -1
        assert code in (0x0000, 0x0111, 0xA700, 0xC000), f"{name}: status {code:#06x}"
        assert association.is_established, f"{name}: the association ended"
        assert "Traceback" not in server.log, server.log[-3000:]


def _data_set(data: bytes) -> bytes:
    """The bytes after the File Meta Information (what travels in a C-STORE)."""
    if data[128:132] == b"DICM" and len(data) >= 144:
        (length,) = struct.unpack_from("<I", data, 140)
        return data[144 + length :]
    return data
