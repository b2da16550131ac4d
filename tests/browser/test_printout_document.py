"""A printout is what leaves the building (R47, R72): the record PDF reads as a hospital
document — the content in words, the class by its name, no raw FHIR JSON, no internal
codes, 状態 once — with the watermark on every page."""

from __future__ import annotations

import io
import re

import pypdf
import pytest

from kura.records import resources as R
from kura.records import service as records
from tests.browser.conftest import sign_in
from tests.factories import make_user, subject
from tests.support.records import seed_classes

pytestmark = pytest.mark.browser


def test_r47_record_pdf_has_no_raw_fhir_or_internal_codes(page, server, clock):
    kura = server.kura
    seed_classes(kura)
    clerk = make_user(kura, "insatsu", ("clerk",))
    with kura.unit_of_work(subject(clerk), "HPAYMT") as ctx:
        p = records.create(ctx, R.patient(mrn="00088101", family="中村", given="翔", family_kana="ナカムラ",
                                          given_kana="ショウ", birth_date="1959-08-05", gender="male"))
        c = records.create(ctx, R.coverage(patient_id=p.id, kind="shaho", insurer="06139996", symbol="12",
                                           number="345", start="2026-04-01"))
    sign_in(page, clerk, clock)
    for path in (f"/records/Coverage/{c.id}/pdf", f"/records/Patient/{p.id}/pdf", f"/patients/{p.id}/pdf"):
        pdf = page.request.get(path)
        assert pdf.ok, path
        text = "".join(re.sub(r"\s+", "", pg.extract_text()) for pg in pypdf.PdfReader(io.BytesIO(pdf.body())).pages)
        assert "院外持出禁止" in text and "insatsu" in text, path
        assert "resourceType" not in text and "iji-kaikei" not in text and "urn:" not in text, path
        assert "active" not in text and "Coverage/" not in text, path
    assert text.count("状態") <= 1 + text.count("確定状態")
    coverage = page.request.get(f"/records/Coverage/{c.id}/pdf").body()
    words = re.sub(r"\s+", "", "".join(pg.extract_text() for pg in pypdf.PdfReader(io.BytesIO(coverage)).pages))
    assert "有効" in words and "確定状態" in words and "医事" in words  # status in words, class by name
    patient = page.request.get(f"/records/Patient/{p.id}/pdf").body()
    assert "昭和34年8月5日" in re.sub(r"\s+", "", pypdf.PdfReader(io.BytesIO(patient)).pages[0].extract_text())
    page.goto(f"/records/Coverage/{c.id}/print")
    page.emulate_media(media="print")
    page.screenshot(path="/tmp/screens/print-coverage.png", full_page=True)
