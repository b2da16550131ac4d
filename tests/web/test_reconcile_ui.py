"""The patient matching screens over HTTP (issue 10, R39): who may open them, the side-by-side
review in Japanese (和暦, words not codes), a correction from the form, the refusal to
confirm a flagged study (409 in Japanese on the API, a message on the screen), the count on
the worklist and the flag on the patient page."""

from __future__ import annotations

import pytest

from kura.classes import service as classes
from kura.imaging import service as imaging
from kura.ledger.tags import LedgerTag
from kura.records import service as records
from tests.factories import ADMIN
from tests.support.imaging import CLERK, TECH, make_dataset, part10
from tests.support.records import patient
from tests.web.ui import entries, page_as, text_of


@pytest.fixture
def flagged(server):
    """P100 is 山田 太郎 (1970-01-02); the CT under P100 says 鈴木 花子 (1990-01-01, F);
    a CR under ER-7 has no registered patient."""
    kura = server.kura
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        classes.seed(ctx)
    with kura.unit_of_work(CLERK, "HPAYMT") as ctx:
        pid = records.create(ctx, patient(mrn="P100", birth="1970-01-02")).id
    ds = make_dataset(patient_id="P100", name="Suzuki^Hanako=鈴木^花子=スズキ^ハナコ", birth_date="19900101", sex="F")
    er = make_dataset(patient_id="ER-7", name="Tanaka^Ichiro=田中^一郎=タナカ^イチロウ", modality="CR")
    with kura.unit_of_work(TECH, "TREAT") as ctx:
        imaging.store_instance(ctx, part10(ds))
        imaging.store_instance(ctx, part10(er))
    return {"study": ds.StudyInstanceUID, "unmatched": er.StudyInstanceUID, "patient": pid}


def test_r39_who_may_open_the_matching_screens(server, clock, flagged):
    uid = flagged["study"]
    for role in ("nurse", "physician", "admin"):
        with page_as(server, clock, role) as c:
            assert c.get("/images/reconcile").status_code == 403, role
            assert c.get(f"/images/studies/{uid}/review").status_code == 403, role
            assert c.post(f"/images/studies/{uid}/link", data={"identifier": "P100", "reason": "x"}).status_code == 403
    with page_as(server, clock, "clerk") as c:  # the records side: review and link, not correct
        assert c.get("/images/reconcile").status_code == 200
        page = c.get(f"/images/studies/{uid}/review")
        assert page.status_code == 200 and 'id="correct-form"' not in page.text
        r = c.post(f"/images/studies/{uid}/correct", data={"patient_id": "P100", "reason": "x"})
        assert r.status_code == 403
        assert c.get(f"/images/studies/{uid}").status_code == 403  # never the images themselves


def test_r39_review_side_by_side_then_correct_then_confirm(server, clock, flagged):
    uid = flagged["study"]
    with page_as(server, clock, "technologist") as c:
        index = text_of(c.get("/images").text)
        assert "患者情報の不一致 1 件" in index and "未照合 (患者ID未登録) 1 件" in index
        r = c.post(f"/images/studies/{uid}/confirm", data={"next": "/images"})
        assert r.status_code == 303 and "error=flagged" in r.headers["location"]
        shown = text_of(c.get(r.headers["location"]).text)
        assert "確定できません" in shown
        lists = text_of(c.get("/images/reconcile").text)
        assert "鈴木 花子" in lists and "田中 一郎" in lists
        review = text_of(c.get(f"/images/studies/{uid}/review").text)
        for words in ("画像の患者情報 (受信時)", "登録患者 (医事)", "鈴木 花子", "山田 太郎",
                      "平成2年1月1日 (1990-01-01)", "昭和45年1月2日 (1970-01-02)", " 女 ", " 男 ", "不一致"):
            assert words in review, words
        r = c.post(f"/images/studies/{uid}/correct", data={
            "patient_id": "P100", "kanji": "山田 太郎", "kana": "ヤマダ タロウ", "alpha": "",
            "birth_date": "1970-01-02", "sex": "M", "reason": ""})
        assert "error=reason" in r.headers["location"]
        r = c.post(f"/images/studies/{uid}/correct", data={
            "patient_id": "P100", "kanji": "山田 太郎", "kana": "ヤマダ タロウ", "alpha": "",
            "birth_date": "1970-01-02", "sex": "M", "reason": "装置の患者選択誤り"})
        assert "done=corrected" in r.headers["location"]
        after = text_of(c.get(r.headers["location"]).text)
        assert "画像の患者情報 (訂正後)" in after and "装置の患者選択誤り" in after
        r = c.post(f"/images/studies/{uid}/confirm", data={"next": "/images"})
        assert "done=confirmed" in r.headers["location"]
    assert [e.reason for e in entries(server.kura, LedgerTag.ImagingStudyCorrected)] == ["装置の患者選択誤り"]


def test_r39_api_refuses_to_confirm_a_flagged_study_in_japanese(server, clock, flagged, as_role):
    c = as_role("technologist")
    r = c.post(f"/api/studies/{flagged['study']}/confirm")
    assert r.status_code == 409
    assert r.json()["detail"].startswith("この検査は確定できません") and r.json()["flagged"] is True


def test_r39_patient_page_shows_the_flag(server, clock, flagged):
    with page_as(server, clock, "technologist") as c:
        page = text_of(c.get(f"/patients/{flagged['patient']}").text)
    assert "患者情報の不一致" in page
    with page_as(server, clock, "clerk") as c:  # who cannot open the images learns it too
        page = text_of(c.get(f"/patients/{flagged['patient']}").text)
    assert "患者照合を待っています" in page
