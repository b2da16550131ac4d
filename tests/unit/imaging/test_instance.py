"""kura.imaging.instance.parse: only the indexed attributes are decoded, from the raw element
bytes, in any character set and transfer syntax; the framing of everything else is still
checked, so a cut or mangled instance is refused (R38)."""

from __future__ import annotations

import io

import pytest
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian

from kura.errors import Invalid
from kura.imaging.instance import parse

from tests.support.imaging import KANJI_NAME, make_dataset, part10


@pytest.mark.parametrize("charset", ["ISO_IR 192", "\\ISO 2022 IR 87"])
def test_r23_indexed_attributes_decoded_in_the_instances_character_set(charset):
    ds = make_dataset(charset=charset, name=KANJI_NAME, accession="A77")
    ds.ReferringPhysicianName = "Sato^Hanako=佐藤^花子=さとう^はなこ"
    ds.StudyDescription = "胸部 CT"
    ds.NumberOfFrames = 3
    info = parse(part10(ds))
    assert (info.patient_name.alphabetic, info.patient_name.ideographic, info.patient_name.phonetic) == \
        ("Yamada^Tarou", "山田^太郎", "やまだ^たろう")
    assert info.referring_physician == "Sato^Hanako=佐藤^花子=さとう^はなこ"
    assert info.study_description == "胸部 CT" and info.accession_number == "A77"
    assert (info.rows, info.columns, info.frames, info.instance_number) == (64, 64, 3, 1)


@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRBigEndian])
def test_other_transfer_syntaxes_read_alike(syntax):
    ds = make_dataset(name="Suzuki^Ichiro")
    ds.file_meta.TransferSyntaxUID = syntax
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True, little_endian=syntax != ExplicitVRBigEndian,
               implicit_vr=syntax == ImplicitVRLittleEndian)
    info = parse(buf.getvalue())
    assert info.patient_name.alphabetic == "Suzuki^Ichiro" and (info.rows, info.columns) == (64, 64)
    assert info.transfer_syntax == syntax


def test_r38_a_cut_in_the_pixel_data_is_refused_though_it_is_never_decoded():
    data = part10(make_dataset())
    with pytest.raises(Invalid):
        parse(data[:-100])


def test_r38_an_unknown_vr_is_refused():
    data = bytearray(part10(make_dataset(accession="A12345")))
    at = data.index(b"\x08\x00\x50\x00SH")  # AccessionNumber, explicit VR little endian
    data[at + 4:at + 6] = b"ZZ"
    with pytest.raises(Invalid):
        parse(bytes(data))


def test_r49_an_over_long_indexed_value_is_left_out_of_the_index_not_refused():
    ds = make_dataset()
    ds.PatientID = "P" * 65
    info = parse(part10(ds))
    assert info.patient_id == "" and info.unindexed == ("PatientID: longer than the index's 64 characters",)
