"""pydicom's own test files (pydicom.data, shipped in the pydicom wheel): DICOM written by
others — modalities, dcmtk, GDCM — in every transfer syntax kura accepts, with their
irregular values (old-style dates, group lengths, VR UN, odd lengths).

Only valid Part 10 files that kura must keep are chosen: a preamble and 'DICM', a transfer
syntax kura accepts, SOP Class/Instance, Study and Series UIDs; one file per SOP Instance
UID: the corpus holds several instances in many transfer syntaxes under one UID, and the
file in the rarest transfer syntax is taken, so that every transfer syntax is covered.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections import Counter
from functools import cache
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_files
from pynetdicom.dsutils import split_dataset

from kura.dicom.server import TRANSFER_SYNTAXES
from kura.imaging.instance import valid_uid

__all__ = ["CorpusFile", "corpus"]


@dataclasses.dataclass(frozen=True)
class CorpusFile:
    path: Path
    transfer_syntax: str
    sop_class_uid: str
    sop_uid: str
    study_uid: str
    series_uid: str
    offset: int  # where the data set starts, after the File Meta Information

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()

    @property
    def dataset_bytes(self) -> bytes:
        """The data set as encoded in the file (what C-STORE carries)."""
        return self.data[self.offset:]


@cache
def corpus() -> tuple[CorpusFile, ...]:
    files = _candidates()
    frequency = Counter(f.transfer_syntax for f in files)
    chosen: dict[str, CorpusFile] = {}
    ordered = sorted(files, key=lambda f: (frequency[f.transfer_syntax], f.path.name))
    for ts, _ in sorted(frequency.items(), key=lambda kv: kv[1]):  # one file of each, rarest first
        for f in ordered:
            if f.transfer_syntax == ts and f.sop_uid not in chosen:
                chosen[f.sop_uid] = f
                break
    for f in ordered:
        chosen.setdefault(f.sop_uid, f)
    return tuple(sorted(chosen.values(), key=lambda f: f.path.name))


def _candidates() -> list[CorpusFile]:
    found = []
    for name in sorted(get_testdata_files()):
        path = Path(name)
        if not path.is_file() or path.read_bytes()[128:132] != b"DICM":
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path, stop_before_pixels=True)
                meta, offset = split_dataset(path)
                f = CorpusFile(path=path, transfer_syntax=str(meta.TransferSyntaxUID),
                               sop_class_uid=str(ds.SOPClassUID), sop_uid=str(ds.SOPInstanceUID),
                               study_uid=str(ds.StudyInstanceUID), series_uid=str(ds.SeriesInstanceUID),
                               offset=offset)
        except Exception:  # noqa: BLE001, S112 — not a complete instance: not part of the corpus
            continue
        if f.transfer_syntax in TRANSFER_SYNTAXES and all(
                valid_uid(u) for u in (f.sop_class_uid, f.sop_uid, f.study_uid, f.series_uid)):
            found.append(f)
    return found
