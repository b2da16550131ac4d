"""Printing a key image (R47, R72): the watermark names the user and the time and says
院外持出禁止, it is burned into the page, and the printout is a ledger entry."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from kura.errors import Denied
from kura.demo import images as demo
from kura.imaging import printing
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from tests.support.imaging import NURSE_V, PHYSICIAN, prepare


@pytest.fixture
def study(kura):
    prepare(kura)
    demo.seed(kura, plan=[(0, "ct_chest", "20260310", "draft")], max_slices=3)
    return demo.study_uid(0), demo.instance_uid(0, 1)


def test_r72_printout_carries_user_time_and_prohibition_and_is_ledgered(kura, clock, study):
    study_uid, sop = study
    with kura.unit_of_work(PHYSICIAN, "TREAT") as ctx:
        png = printing.key_image(ctx, study_uid, sop, center=-600, width=1500)
        pdf = printing.key_image(ctx, study_uid, sop, media_type="application/pdf")
    local = clock.now().astimezone(printing.LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    assert png.watermark.startswith("院外持出禁止") and "dr1" in png.watermark and local in png.watermark
    page = np.asarray(Image.open(io.BytesIO(png.data)))
    assert page.shape == (printing.PAGE[1], printing.PAGE[0])
    assert pdf.data.startswith(b"%PDF") and pdf.media_type == "application/pdf"
    with kura.sessions() as s:
        entries = list(s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(LedgerTag.ImagingStudyPrinted))
                                 .order_by(LedgerEntry.seq)))
    assert [e.digest for e in entries] == [hashlib.sha256(png.data).hexdigest(), hashlib.sha256(pdf.data).hexdigest()]
    assert all(e.actor_name == "dr1" and e.target_id == study_uid and "院外持出禁止" in e.detail for e in entries)


def test_the_watermark_is_burned_into_the_image(kura, study):
    study_uid, sop = study
    with kura.unit_of_work(PHYSICIAN, "TREAT") as ctx:
        marked = printing.key_image(ctx, study_uid, sop, center=50, width=350)
    page = np.asarray(Image.open(io.BytesIO(marked.data)), dtype=float)
    # The image's air (black in the mediastinal window) is no longer uniformly black: lettering.
    corner = page[400:700, 100:400]
    assert corner.min() < 30 and (corner > 60).mean() > 0.02


def test_printing_needs_the_print_right(kura, study):
    study_uid, sop = study
    with pytest.raises(Denied):
        with kura.unit_of_work(NURSE_V, "TREAT") as ctx:
            printing.key_image(ctx, study_uid, sop)
    with kura.sessions() as s:
        assert not list(s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(LedgerTag.ImagingStudyPrinted))))
        denied = list(s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(LedgerTag.AccessRequestDenied))))
    assert any(e.actor_name == "nurse-v" for e in denied)
