"""Printouts (R47, R72, R69): a PDF of a record or a summary, watermarked on every page with
the user, the time and 院外持出禁止, and recorded in the ledger with the PDF's SHA-256."""

import hashlib
import io
import re

import pypdf
import pytest

from kura.errors import Denied
from kura.ledger.tags import LedgerTag
from kura.records import printout
from kura.records import resources as R
from kura.records import service as records
from tests.factories import make_user, subject
from tests.support.records import seed_classes
from tests.web.ui import entries


@pytest.fixture
def patient(kura):
    seed_classes(kura)
    clerk = subject(make_user(kura, "clerk-p", ("clerk",)))
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        p = records.create(ctx, R.patient(mrn="00000100", family="渡辺", given="恵子", family_kana="ワタナベ",
                                          given_kana="ケイコ", birth_date="1948-08-08", gender="female"))
        for day in range(1, 29):  # enough charges for a summary of more than one page
            records.create(ctx, R.charge_item(patient_id=p.id, code="112007410", when=f"2026-02-{day:02d}"))
        records.confirm(ctx, "Patient", p.id)
    return clerk, p.id


def _pages(pdf: bytes) -> list[str]:
    return [re.sub(r"\s+", "", pg.extract_text()) for pg in pypdf.PdfReader(io.BytesIO(pdf)).pages]


def test_r72_every_page_of_a_summary_carries_the_watermark(kura, clock, patient):
    clerk, pid = patient
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        out = printout.print_summary(ctx, pid)
    pages = _pages(out.pdf)
    assert len(pages) == out.pages >= 2
    stamp = clock.now().astimezone(printout.LOCAL_TZ).strftime("%Y-%m-%d%H:%M:%S")
    for text in pages:
        assert "院外持出禁止" in text and "clerk-p" in text and stamp in text
    assert "渡辺恵子" in pages[0] and "112007410再診料" in "".join(pages)
    assert out.sha256 == hashlib.sha256(out.pdf).hexdigest()


def test_r69_a_printout_is_a_ledger_entry_with_the_pdf_digest(kura, patient):
    clerk, pid = patient
    with kura.unit_of_work(clerk, "HPAYMT") as ctx:
        out = printout.print_record(ctx, "Patient", pid, version=1)
    text = "".join(_pages(out.pdf))
    assert "更新履歴" in text and "確定" in text
    printed = entries(kura, LedgerTag.RecordsRecordPrinted, actor="clerk-p")
    assert len(printed) == 1 and printed[0].digest == out.sha256 and printed[0].patient_id == pid
    assert '"version":1' in printed[0].detail


def test_printing_needs_the_print_right(kura, patient):
    _, pid = patient
    tech = subject(make_user(kura, "gishi", ("technologist",)))
    with pytest.raises(Denied), kura.unit_of_work(tech, "TREAT") as ctx:
        printout.print_summary(ctx, pid)
    assert not entries(kura, LedgerTag.RecordsRecordPrinted, actor="gishi")
    assert entries(kura, LedgerTag.AccessRequestDenied, actor="gishi")
