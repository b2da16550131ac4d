"""The 医事 screens over the real wire (httpx against the live server): each page's guard
(anonymous → login, wrong role → 403, right role → 200), registration → 確定 → correction,
history and diff, search as you type, break-glass, print view, PDF and disclosure export."""

from __future__ import annotations

import base64
import io
import json
import re

import pypdf
import pytest
import pyzipper

from kura.ledger.tags import LedgerTag
from kura.records import disclosure
from kura.records import resources as R
from kura.records import service as records
from tests.factories import make_user, subject
from tests.support.records import seed_classes
from tests.web.ui import entries, page_as, text_of


@pytest.fixture
def seeded(server):
    """Classes, a clerk and a doctor, and one patient with a visit, a charge and a document."""
    kura = server.kura
    seed_classes(kura)
    clerk = make_user(kura, "iji-clerk", ("clerk",))
    doctor = make_user(kura, "naika-dr", ("physician",), clearance="R")
    with kura.unit_of_work(subject(clerk), "HPAYMT") as ctx:
        p = records.create(ctx, R.patient(mrn="00012345", family="山田", given="花子", family_kana="ヤマダ",
                                          given_kana="ハナコ", birth_date="1962-03-04", gender="female"))
        records.confirm(ctx, "Patient", p.id)
        e = records.create(ctx, R.encounter(patient_id=p.id, start="2026-04-01T09:00:00+09:00", department="内科"))
        records.create(ctx, R.charge_item(patient_id=p.id, code="111000110", when="2026-04-01", encounter_id=e.id))
        vip = records.create(ctx, R.patient(mrn="00099999", family="秘密", given="一郎", family_kana="ヒミツ",
                                            given_kana="イチロウ", birth_date="1950-01-01", gender="male"))
    with kura.unit_of_work(subject(doctor, "R"), "TREAT") as ctx:
        d = records.create(ctx, R.document_reference(patient_id=p.id, title="紹介状", date="2026-04-01T10:00:00+09:00",
                                                     data_b64=base64.b64encode(b"%PDF-1.4 letter").decode()))
        restricted = records.create(ctx, R.encounter(patient_id=p.id, start="2026-04-02T09:00:00+09:00",
                                                     department="精神科", label="R"))
    return {"pid": p.id, "vip": vip.id, "doc": d.id, "restricted": restricted.id, "clerk": clerk, "doctor": doctor}


def _pages(s):
    pid = s["pid"]
    return ["/patients", "/patients/search?q=ヤマダ", f"/patients/{pid}", f"/patients/{pid}/print",
            f"/patients/{pid}/pdf", f"/records/Patient/{pid}", f"/records/Patient/{pid}/history",
            f"/records/Patient/{pid}/diff?a=1&b=2", f"/records/Patient/{pid}/print", f"/records/Patient/{pid}/pdf"]


def test_anonymous_is_sent_to_login(server, seeded):
    from tests.web.ui import browser
    with browser(server) as c:
        for url in [*_pages(seeded), "/patients/new", f"/records/Patient/{seeded['pid']}/confirm"]:
            r = c.get(url)
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), url


def test_wrong_role_is_403(server, clock, seeded):
    with page_as(server, clock, "admin") as c:
        for url in _pages(seeded):
            assert c.get(url).status_code == 403, url
        assert c.post(f"/patients/{seeded['pid']}/export").status_code == 403


def test_right_role_is_200(server, clock, seeded):
    with page_as(server, clock, "physician") as c:
        for url in _pages(seeded):
            r = c.get(url)
            assert r.status_code == 200, (url, r.text[:300])


def test_clerk_registers_confirms_and_corrects_with_a_reason(server, clock, seeded):
    kura = server.kura
    with page_as(server, clock, "clerk") as c:
        form = {"mrn": "00054321", "family": "佐藤", "given": "健太", "family_kana": "サトウ", "given_kana": "ケンタ",
                "birth_date": "1985-07-15", "gender": "male", "label": "N"}
        r = c.post("/patients", data=form)
        assert r.status_code == 303, r.text
        pid = r.headers["location"].split("/")[2].split("?")[0]
        page = text_of(c.get(f"/patients/{pid}").text)
        assert "佐藤 健太" in page and "サトウ ケンタ" in page and "下書き" in page
        # Re-sending the registration finds the same patient (conditional create on 患者ID).
        again = c.post("/patients", data=form)
        assert again.headers["location"] == f"/patients/{pid}?done=exists"

        preview = c.get(f"/records/Patient/{pid}/confirm").text
        sha = re.search(r'name="sha256" value="([0-9a-f]{64})"', preview)[1]
        with kura.unit_of_work(subject(seeded["clerk"]), "HPAYMT") as ctx:
            assert records.read(ctx, "Patient", pid).sha256 == sha  # the preview shows what is stored
        assert "佐藤" in preview and sha in text_of(preview)
        # A stale preview is refused.
        assert c.post(f"/records/Patient/{pid}/confirm", data={"version": 1, "sha256": "0" * 64}).status_code == 409
        r = c.post(f"/records/Patient/{pid}/confirm", data={"version": 1, "sha256": sha})
        assert r.status_code == 303 and r.headers["location"].endswith("done=confirmed")
        assert "確定済み" in text_of(c.get(f"/records/Patient/{pid}").text)

        fixed = {**form, "given_kana": "ケンタ", "given": "健太郎", "version": "2"}
        r = c.post(f"/records/Patient/{pid}/edit", data=fixed)
        assert r.status_code == 400 and "理由" in text_of(r.text)  # a correction needs a reason
        r = c.post(f"/records/Patient/{pid}/edit", data={**fixed, "reason": "戸籍の表記に合わせて名を訂正"})
        assert r.status_code == 303 and r.headers["location"].endswith("done=corrected")

        hist = text_of(c.get(f"/records/Patient/{pid}/history").text)
        assert "戸籍の表記に合わせて名を訂正" in hist and "iji-clerk" not in hist
        diff = text_of(c.get(f"/records/Patient/{pid}/diff?a=2&b=3").text)
        assert "健太郎" in diff and "氏名: 名" in diff
    with kura.unit_of_work(subject(seeded["clerk"]), "HPAYMT") as ctx:
        v2 = records.vread(ctx, "Patient", pid, 2)
        assert v2.status == "confirmed" and v2.resource()["name"][0]["given"] == ["健太"]


def test_search_as_you_type_normalises_kana_and_finds_ids_and_birth_dates(server, clock, seeded):
    with page_as(server, clock, "clerk") as c:
        for q in ("やまだ", "ﾔﾏﾀﾞ", "山田", "00012345", "１９６２-０３-０４", "1962/3/4"):
            html = c.get("/patients/search", params={"q": q}).text
            assert "山田 花子" in html, q
            assert "<html" not in html  # a fragment
        assert "山田" not in c.get("/patients/search", params={"q": "サトウ"}).text


def test_r18_nurse_break_glass_on_a_restricted_record(server, clock, seeded):
    kura = server.kura
    rid = seeded["restricted"]
    with page_as(server, clock, "nurse", name="kango") as c:
        r = c.get(f"/records/Encounter/{rid}")
        assert r.status_code == 403 and 'id="break-glass"' in r.text and "監査責任者" in text_of(r.text)
        r = c.post(f"/records/Encounter/{rid}", data={"break_glass": "夜間急変、精神科受診歴の確認"})
        assert r.status_code == 200 and "精神科" in text_of(r.text)
    alerts = entries(kura, LedgerTag.AccessBreakGlassStarted, actor="kango")
    assert alerts and "夜間急変" in alerts[0].reason and alerts[0].patient_id == seeded["pid"]


def test_r72_printout_carries_its_watermark_and_is_in_the_ledger(server, clock, seeded):
    kura = server.kura
    pid = seeded["pid"]
    with page_as(server, clock, "clerk", name="insatsu") as c:
        html = c.get(f"/records/Patient/{pid}/print").text
        assert "院外持出禁止" in html and "insatsu" in text_of(html)
        r = c.get(f"/patients/{pid}/pdf")
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
        reader = pypdf.PdfReader(io.BytesIO(r.content))
        for p in reader.pages:
            text = re.sub(r"\s+", "", p.extract_text())
            assert "院外持出禁止" in text and "insatsu" in text
        assert "山田花子" in re.sub(r"\s+", "", reader.pages[0].extract_text())
    printed = entries(kura, LedgerTag.RecordsRecordPrinted, actor="insatsu")
    assert {e.target_id for e in printed} == {pid}
    assert any(e.digest == r.headers["x-kura-sha256"] for e in printed)


def test_r69_disclosure_export_hashes_match_and_needs_the_right(server, clock, seeded):
    kura = server.kura
    pid = seeded["pid"]
    with page_as(server, clock, "physician", clearance="R", name="kaiji") as c:
        assert "目的" in c.get(f"/patients/{pid}/export").text
        refused = c.post(f"/patients/{pid}/export", data={"purpose": "", "recipient": "本人"})
        assert refused.status_code == 400 and "目的" in refused.text
        refused = c.post(f"/patients/{pid}/export", data={"purpose": "patient", "recipient": ""})
        assert refused.status_code == 400
        assert not entries(kura, LedgerTag.RecordsRecordExported, actor="kaiji")
        page = c.post(f"/patients/{pid}/export", data={"purpose": "patient", "recipient": "患者本人"})
        assert page.status_code == 201 and "この画面でのみ表示" in page.text
        password = re.search(r'<code class="password">([^<]+)</code>', page.text)[1]
        link = re.search(r'href="(/patients/[^"]+/export/[^"]+)"', page.text)[1]
        r = c.get(link)
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        assert c.get(link).status_code == 404  # handed out once
    assert disclosure.verify_zip(r.content, password) == []
    assert disclosure.verify_zip(r.content) == ["the ZIP is encrypted: the password is missing or wrong"]
    zf = pyzipper.AESZipFile(io.BytesIO(r.content))
    zf.setpassword(password.encode())
    names = set(zf.namelist())
    assert {"manifest.json", "fhir/bundle.json", "fhir/history.json", "summary.pdf"} <= names
    assert any(n.startswith("attachments/") and zf.read(n) == b"%PDF-1.4 letter" for n in names)
    exported = entries(kura, LedgerTag.RecordsRecordExported, actor="kaiji")
    assert len(exported) == 1 and exported[0].digest == r.headers["x-kura-sha256"]
    assert json.loads(exported[0].detail)["destination"] == "患者本人" and password not in exported[0].detail
    with page_as(server, clock, "nurse", name="kango2") as c:
        assert c.post(f"/patients/{pid}/export", data={"purpose": "patient", "recipient": "x"}).status_code == 403
    assert entries(kura, LedgerTag.AccessRequestDenied, actor="kango2")


def test_attachment_download_is_authenticated(server, clock, seeded):
    with page_as(server, clock, "physician") as c:
        page = c.get(f"/records/DocumentReference/{seeded['doc']}").text
        url = re.search(r'href="(/records/attachments/[^"]+)"', page)[1]
        assert c.get(url).content == b"%PDF-1.4 letter"
    from tests.web.ui import browser
    with browser(server) as anon:
        assert anon.get(url).status_code == 303


def test_entry_forms_save_drafts(server, clock, seeded):
    pid = seeded["pid"]
    with page_as(server, clock, "clerk") as c:
        for kind, data in [("coverage", {"kind": "kokuho", "insurer": "138123", "symbol": "千代", "number": "1234",
                                         "start": "2026-04-01"}),
                           ("encounter", {"start": "2026-04-10T10:30", "department": "整形外科"}),
                           ("charge", {"code": "112007410", "when": "2026-04-10", "quantity": "1"}),
                           ("invoice", {"date": "2026-04-10", "total_yen": "870", "status": "issued"})]:
            assert c.get(f"/patients/{pid}/new/{kind}").status_code == 200
            r = c.post(f"/patients/{pid}/new/{kind}", data=data)
            assert r.status_code == 303 and r.headers["location"].endswith("?done=created"), (kind, r.text[:500])
        assert c.post(f"/patients/{pid}/new/coverage", data={"kind": "shaho", "insurer": "12", "symbol": "a",
                                                             "number": "1", "start": "2026-04-01"}).status_code == 400
        page = text_of(c.get(f"/patients/{pid}").text)
        assert "再診料" in page and "整形外科" in page and "870 円" in page
        # A clerk may not write documents: the form refuses.
        assert c.post(f"/patients/{pid}/new/document", data={"title": "x", "date": "2026-04-10T10:00", "label": "N"},
                      files={"file": ("a.pdf", b"%PDF-1.4", "application/pdf")}).status_code == 403


def test_physician_uploads_a_document_and_downloads_it(server, clock, seeded):
    pid = seeded["pid"]
    with page_as(server, clock, "physician", clearance="R", name="geka") as c:
        assert c.get(f"/patients/{pid}/new/document").status_code == 200
        r = c.post(f"/patients/{pid}/new/document",
                   data={"title": "診療情報提供書", "date": "2026-04-11T11:00", "description": "整形外科へ紹介",
                         "label": "N"},
                   files={"file": ("letter.pdf", b"%PDF-1.4 shoukaijou", "application/pdf")})
        assert r.status_code == 303, r.text[:500]
        page = c.get(r.headers["location"]).text
        assert "診療情報提供書" in page and "下書き" in text_of(page)
        url = re.search(r'href="(/records/attachments/[^"]+)"', page)[1]
        got = c.get(url)
        assert got.content == b"%PDF-1.4 shoukaijou" and got.headers["cache-control"] == "no-store"
        # Editing the draft keeps the attachment when no new file is chosen.
        doc_url = r.headers["location"].split("?")[0]
        r = c.post(doc_url + "/edit", data={"title": "診療情報提供書 (整形外科)", "date": "2026-04-11T11:00",
                                            "label": "N", "version": "1"})
        assert r.status_code == 303
        assert re.search(r'href="(/records/attachments/[^"]+)"', c.get(doc_url).text)[1] == url


def test_english_pages_render(server, clock, seeded):
    with page_as(server, clock, "physician") as c:
        c.cookies.set("kura_lang", "en")
        page = text_of(c.get(f"/patients/{seeded['pid']}").text)
        assert "Insurance" in page and "Visits" in page and "Imaging studies" in page
        assert "Register a patient" not in page  # a physician does not register patients


def test_the_patient_page_lists_the_patients_imaging_studies(server, clock, seeded):
    from kura.imaging import service as imaging
    from tests.support.imaging import TECH, make_dataset, part10
    with server.kura.unit_of_work(TECH, "TREAT") as ctx:
        imaging.store_instance(ctx, part10(make_dataset(patient_id="00012345", name="Yamada^Hanako=山田^花子",
                                                        study_date="20260405")))
    with page_as(server, clock, "physician") as c:
        page = c.get(f"/patients/{seeded['pid']}").text
    assert "2026-04-05" in page and "/images/studies/" in page


def test_the_record_page_offers_only_what_the_role_may_do(server, clock, seeded):
    url = f"/records/Patient/{seeded['vip']}"  # a draft
    with page_as(server, clock, "clerk") as c:
        page = c.get(url).text
        assert 'id="confirm-button"' in page and "/edit" in page and "/pdf" in page
    with page_as(server, clock, "nurse") as c:
        page = c.get(url).text
        assert 'id="confirm-button"' not in page and "/edit" not in page and "/pdf" in page
        assert c.get(url + "/confirm").status_code == 200  # the preview is a read …
        assert c.post(url + "/confirm", data={"version": 1, "sha256": "0" * 64}).status_code == 403  # … 確定 is not
    with page_as(server, clock, "nurse", name="kango3") as c:
        assert c.post(f"/records/Patient/{seeded['pid']}/edit", data={"mrn": "1"}).status_code == 403
        assert c.get(f"/records/Patient/{seeded['pid']}/edit").status_code == 403
        assert c.get(f"/patients/{seeded['pid']}/new/charge").status_code == 403
