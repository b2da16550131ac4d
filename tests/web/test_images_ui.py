"""The image screens over HTTP: study search and worklist, the study page, 検像 confirm and
send-back, key-image printing (R30, R32, R47, R72) — and who may reach each page."""

from __future__ import annotations

import json

import pytest

from kura.classes import service as classes
from kura.demo import images as demo
from kura.ledger.tags import LedgerTag
from tests.factories import ADMIN, make_user
from tests.web.ui import browser, entries, form_login, page_as, text_of

# (patient index, kind, study date, 検像 outcome): a CT chest waiting for the check,
# a confirmed CR chest and a CR chest that was sent back.
PLAN = [(0, "ct_chest", "20260310", "draft"), (1, "cr_chest", "20260322", "confirmed"),
        (6, "cr_chest", "20260420", "returned")]
DRAFT, CONFIRMED, RETURNED = (demo.study_uid(n) for n in range(3))


def seed_studies(kura, *, max_slices: int = 6):
    """Seed classes, the demo technologist `tech`, and three studies stored as `tech`."""
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        classes.seed(ctx)
    tech = make_user(kura, "tech", ("technologist",))
    demo.seed(kura, plan=PLAN, max_slices=max_slices)
    return tech


@pytest.fixture
def studies(server):
    return seed_studies(server.kura)


PAGES = ["/images", f"/images/studies/{DRAFT}", f"/images/studies/{DRAFT}/print?sop=1.2.3"]


def test_anonymous_is_sent_to_login_and_roles_without_image_rights_get_403(server, clock, studies):
    with browser(server) as c:
        for path in PAGES:
            r = c.get(path)
            assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
    for role in ("clerk", "admin"):
        with page_as(server, clock, role) as c:
            for path in PAGES:
                assert c.get(path).status_code == 403, (role, path)
            assert c.post(f"/images/studies/{DRAFT}/confirm").status_code == 403


@pytest.mark.parametrize("role", ["technologist", "physician", "nurse"])
def test_clinical_roles_see_the_study_list_and_page(server, clock, studies, role):
    with page_as(server, clock, role) as c:
        index = c.get("/images")
        study = c.get(f"/images/studies/{CONFIRMED}")
    assert index.status_code == 200 and study.status_code == 200
    text = text_of(index.text)
    assert "山田 太郎" in text and "やまだ たろう" in text and "確定済" in text
    assert ('id="worklist"' in index.text) == (role == "technologist")
    page = text_of(study.text)
    assert "佐藤 花子" in page and "検像: 確定済" in page and "tech" in page
    assert ("confirm-study" in study.text) is False  # confirmed: frozen, no button for anyone


def test_unknown_study_is_404(server, clock, studies):
    with page_as(server, clock, "physician") as c:
        assert c.get("/images/studies/1.2.3.4").status_code == 404


SEARCHES = [
    ({"name": "やまだ"}, {DRAFT}), ({"name": "ヤマダ"}, {DRAFT}), ({"name": "山田"}, {DRAFT}),
    ({"name": "sato"}, {CONFIRMED}), ({"pid": "00007"}, {RETURNED}),
    ({"modality": "CR"}, {CONFIRMED, RETURNED}), ({"since": "2026-03-15", "until": "2026-03-31"}, {CONFIRMED}),
    ({"since": "2026-04-20", "until": "2026-04-20"}, {RETURNED}), ({}, {DRAFT, CONFIRMED, RETURNED}),
]


def test_study_search_by_id_name_kana_date_modality(server, clock, studies):
    with page_as(server, clock, "physician") as c:
        for query, found in SEARCHES:
            r = c.get("/images", params=query)
            assert r.status_code == 200
            results = r.text.split('id="results"', 1)[1]
            assert {uid for uid in (DRAFT, CONFIRMED, RETURNED) if f'data-study="{uid}"' in results} == found, query
        bad = c.get("/images", params={"since": "2026-13"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text


def test_r30_technologist_confirms_from_the_worklist(server, clock, studies):
    with page_as(server, clock, "technologist", name="gishi") as c:
        worklist = c.get("/images").text.split('id="worklist"', 1)[1].split("</section>", 1)[0]
        assert f'data-study="{DRAFT}"' in worklist and f'data-study="{CONFIRMED}"' not in worklist
        assert f'data-study="{RETURNED}"' not in worklist  # back at the modality, not waiting
        r = c.post(f"/images/studies/{DRAFT}/confirm", data={"next": "/images"})
        assert r.status_code == 303 and r.headers["location"] == "/images?done=confirmed"
        after = c.get("/images").text
        assert f'data-study="{DRAFT}"' not in after.split('id="worklist"', 1)[1].split("</section>", 1)[0]
        page = text_of(c.get(f"/images/studies/{DRAFT}").text)
        assert "確定済" in page and "gishi" in page
        again = c.post(f"/images/studies/{DRAFT}/confirm")
        assert again.status_code == 303 and again.headers["location"].endswith("error=conflict")
    (entry,) = entries(server.kura, LedgerTag.ImagingStudyConfirmed, actor="gishi")
    assert entry.target_id == DRAFT


def test_send_back_needs_a_reason(server, clock, studies):
    with page_as(server, clock, "technologist", name="gishi") as c:
        r = c.post(f"/images/studies/{DRAFT}/return", data={"reason": "  "})
        assert r.headers["location"].endswith("error=reason")
        assert "未確定" in text_of(c.get(f"/images/studies/{DRAFT}").text)
        r = c.post(f"/images/studies/{DRAFT}/return", data={"reason": "体動アーチファクト"})
        assert r.status_code == 303 and r.headers["location"].endswith("done=returned")
        page = text_of(c.get(f"/images/studies/{DRAFT}").text)
    assert "差し戻し" in page and "体動アーチファクト" in page
    assert entries(server.kura, LedgerTag.ImagingStudyReturned, actor="gishi")


def test_r30_physician_may_not_confirm(server, clock, studies):
    with page_as(server, clock, "physician", name="dr-ito") as c:
        page = c.get(f"/images/studies/{DRAFT}").text
        assert "confirm-study" not in page and "未確定" in text_of(page)
        assert c.post(f"/images/studies/{DRAFT}/confirm").status_code == 403
    assert DRAFT not in {e.target_id for e in entries(server.kura, LedgerTag.ImagingStudyConfirmed)}
    assert entries(server.kura, LedgerTag.AccessRequestDenied, actor="dr-ito")


def _viewer(client, study_uid) -> dict:
    import html
    page = client.get(f"/images/studies/{study_uid}").text
    return json.loads(html.unescape(page.split('data-viewer="', 1)[1].split('"', 1)[0]))


def _first_sop(client, study_uid):
    return _viewer(client, study_uid)["series"][0]["sops"][0]


def test_a_multiframe_instance_is_shown_and_printed_frame_by_frame(server, clock, studies):
    import numpy as np

    from kura.imaging import service as imaging
    from tests.support.imaging import TECH, make_dataset, part10

    ds = make_dataset(patient_id="00001", name="Yamada^Taro=山田^太郎=やまだ^たろう", birth_date="19580412")
    ds.NumberOfFrames = 3
    ds.PixelData = (np.arange(3 * 64 * 64, dtype=np.uint16) % 4096).tobytes()
    with server.kura.unit_of_work(TECH, "TREAT") as ctx:
        imaging.store_instance(ctx, part10(ds))
    with page_as(server, clock, "physician") as c:
        (series,) = _viewer(c, ds.StudyInstanceUID)["series"]
        assert series["sops"] == [ds.SOPInstanceUID] * 3 and series["frames"] == [1, 2, 3]
        base = f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
        frame = c.get(f"{base}/frames/2/rendered", headers={"Accept": "image/png"})
        assert frame.status_code == 200 and frame.content.startswith(b"\x89PNG")
        printed = c.get(f"/images/studies/{ds.StudyInstanceUID}/print",
                        params={"sop": ds.SOPInstanceUID, "frame": 3})
        assert printed.status_code == 200 and "院外持出禁止" in printed.text
    (entry,) = entries(server.kura, LedgerTag.ImagingStudyPrinted)
    assert json.loads(entry.detail)["frame"] == 3


def test_r72_key_image_print_carries_the_watermark_and_is_ledgered(server, clock, studies):
    user = make_user(server.kura, "dr-sasaki", ("physician",))
    with browser(server) as c:
        form_login(server, clock, user, c)
        sop = _first_sop(c, DRAFT)
        r = c.get(f"/images/studies/{DRAFT}/print", params={"sop": sop, "window": "-600,1500"})
        assert r.status_code == 200
        text = text_of(r.text)
        assert "院外持出禁止" in text and "dr-sasaki" in text and "印刷日時" in text
        assert 'src="data:image/png;base64,' in r.text
        pdf = c.get(f"/images/studies/{DRAFT}/print.pdf", params={"sop": sop, "window": "-600,1500"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    printed = entries(server.kura, LedgerTag.ImagingStudyPrinted, actor="dr-sasaki")
    assert len(printed) == 2 and {e.target_id for e in printed} == {DRAFT}
    assert all(e.patient_id == "00001" and "院外持出禁止" in e.detail for e in printed)


def test_nurse_may_view_but_not_print(server, clock, studies):
    with page_as(server, clock, "nurse") as c:
        sop = _first_sop(c, DRAFT)
        assert "print-key" not in c.get(f"/images/studies/{DRAFT}").text
        assert c.get(f"/images/studies/{DRAFT}/print", params={"sop": sop}).status_code == 403
    assert not entries(server.kura, LedgerTag.ImagingStudyPrinted)
