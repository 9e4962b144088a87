"""Every private element the converter reads is either kept as safe or listed as not kept.

De-identified research data must still convert (issue 6): a private element conversion
reads but Retain Safe Private drops silently changes the output (a Philips fMRI whose
(2005,10A0) was dropped came out as three series). So every private element that the
converter is seen reading, by private creator and element byte, must be in
``safe_private.csv`` or, with its reason, in ``private_not_kept.csv``; a new read of any
other element fails here until someone decides which list it belongs on.

The reads are recorded at pydicom's Dataset while the real converter converts every
dcm_qa series and the synthetic vendor series of ``tests/convert`` (GE, Philips, UIH,
Canon, Siemens XA conventions the dcm_qa sets lack): see ``private_reads.py`` for why
this is preferred to scanning the converter's source.
"""

from __future__ import annotations

import pytest
from conversion_check import SETS, UNITS, dicom_files
from planted_data import KEY
from private_reads import PrivateRead, recording
from pydicom.dataset import Dataset

from medbridge.convert import convert
from medbridge.deid import Policy, deidentify
from medbridge.deid.private import not_kept_private_rules, safe_private_rules

HINT = (
    "add each to src/medbridge/deid/data/safe_private.csv if it holds only numbers, codes, "
    "sequence names, timing, gradient or scaling values (say why conversion needs it), "
    "or to private_not_kept.csv with why it may carry identity and what conversion does "
    "without it"
)


def _listed() -> set[PrivateRead]:
    rules = safe_private_rules() + not_kept_private_rules()
    return {PrivateRead(r.creator, r.group, r.element) for r in rules}


def unlisted(reads: set[PrivateRead] | frozenset[PrivateRead]) -> list[str]:
    """The reads on neither list, readable."""
    return [str(r) for r in sorted(reads - _listed())]


@pytest.mark.slow
class TestConverterReads:
    @pytest.mark.parametrize("unit", UNITS)
    def test_dcm_qa_reads_are_listed(self, original_conversion, unit):
        """Converting a dcm_qa series reads only listed private elements."""
        _outputs, reads = original_conversion(unit)
        assert unlisted(reads) == [], HINT

    def test_units_hold_every_dcm_qa_input(self, dcm_qa_sets):
        """The units cover every DICOM file of the eight sets: no series goes unchecked."""
        for name in SETS:
            units = [u for u in UNITS if u.startswith(f"{name}/")]
            covered = set().union(*(dicom_files(dcm_qa_sets, u) for u in units))
            assert covered and covered == dicom_files(dcm_qa_sets, f"{name}/In"), name

    def test_synthetic_vendor_reads_are_listed(self, tmp_path):
        """Converting the synthetic vendor series reads only listed private elements."""
        from convert.test_generality import CASES, write_case

        with recording() as reads:
            for n, case in enumerate(CASES):
                write_case(case, tmp_path / str(n))
                convert([tmp_path / str(n)])
        assert {r.creator for r in reads} >= {"GEMS_PARM_01", "Image Private Header"}
        assert unlisted(reads) == [], HINT


def _vendor_dataset() -> Dataset:
    ds = Dataset()
    ds.PatientName = "Zyxwert^Plantedfirst"
    ds.add_new(0x20050011, "LO", "Philips MR Imaging DD 001")  # block 0x11, not 0x10
    ds.add_new(0x200511A0, "FL", 12.5)  # Dynamic Scan Begin Time
    ds.add_new(0x20051199, "LO", "not on any list")
    ds.add_new(0x00431010, "SS", 1)  # a block without creator
    return ds


class TestRecorder:
    def test_reads_named_by_creator_and_element(self):
        """Reads by tag, by ``get`` and through ``private_block`` are recorded by creator."""
        ds = _vendor_dataset()
        with recording() as reads:
            assert ds[0x200511A0].value == 12.5
            assert ds.get((0x2005, 0x1199)).value == "not on any list"
            assert ds.private_block(0x2005, "Philips MR Imaging DD 001")[0xA0].value == 12.5
            assert ds.get((0x0043, 0x1010)).value == 1
        assert reads == {
            PrivateRead("Philips MR Imaging DD 001", 0x2005, 0xA0),
            PrivateRead("Philips MR Imaging DD 001", 0x2005, 0x99),
        }
        assert unlisted(reads) == ["(2005,xx99) 'Philips MR Imaging DD 001'"]

    def test_iteration_and_standard_reads_not_recorded(self):
        """Copying every element (iteration) and standard attributes read nothing private."""
        ds = _vendor_dataset()
        with recording() as reads:
            assert len(list(ds)) == 5
            assert ds.PatientName == "Zyxwert^Plantedfirst"
        assert reads == set()

    def test_dataset_restored_after_recording(self):
        """Outside the block nothing is recorded any more."""
        ds = _vendor_dataset()
        with recording() as reads:
            pass
        assert ds[0x200511A0].value == 12.5
        assert reads == set()


def _rule_keys(rules) -> list[tuple[str, int, int]]:
    return [(r.creator, r.group, r.element) for r in rules]


class TestLists:
    @pytest.mark.parametrize("rules", [safe_private_rules, not_kept_private_rules])
    def test_rows_well_formed(self, rules):
        """Odd group, element byte, a VR, a name and a reason in every row, none twice."""
        keys = _rule_keys(rules())
        assert len(keys) == len(set(keys))
        for rule in rules():
            assert rule.group & 1 and 0 <= rule.element <= 0xFF, rule
            assert len(rule.vr) == 2 and rule.name and len(rule.why) > 10, rule

    def test_lists_disjoint(self):
        """An element is kept or not kept, never both."""
        kept, not_kept = _rule_keys(safe_private_rules()), _rule_keys(not_kept_private_rules())
        assert set(kept) & set(not_kept) == set()

    @pytest.mark.parametrize(
        "rule", not_kept_private_rules(), ids=lambda r: f"{r.group:04X}xx{r.element:02X}"
    )
    def test_not_kept_removed_under_retain_safe_private(self, rule):
        """An element on the not-kept list is removed even when safe private ones are kept."""
        ds = Dataset()
        ds.PatientID = "PLANTID-93847"
        ds.add_new((rule.group << 16) | 0x0010, "LO", rule.creator)
        ds.add_new((rule.group << 16) | 0x1000 | rule.element, "OB", b"\x1f\x8b 09/18/118 ")
        out = deidentify(ds, Policy(key=KEY, retain_safe_private=True))
        assert not [e for e in out if e.tag.is_private]
