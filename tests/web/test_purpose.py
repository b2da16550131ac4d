"""The purpose of use is decided once (kura.access.purpose): the same break-glass read through
the screens, FHIR and DICOMweb is ledgered with the same purpose, and so is the same plain
read by the same kind of user."""

from __future__ import annotations

import httpx
import pytest

from kura.access.purpose import Purpose
from kura.imaging import service as imaging
from kura.ledger.tags import LedgerTag
from kura.records import resources as R
from kura.records import service as records
from tests.factories import ADMIN, make_user, subject
from tests.support.imaging import TECH, make_dataset, part10, prepare
from tests.support.records import seed_classes
from tests.web.ui import browser, entries, form_login

REASON = "救急搬送、意識なし"


@pytest.fixture
def restricted(server):
    """A restricted (R) encounter and a very restricted (V) study, and a physician cleared for N."""
    kura = server.kura
    seed_classes(kura)
    prepare(kura)
    clerk = make_user(kura, "reg-clerk", ("clerk",))
    author = make_user(kura, "author-dr", ("physician",), clearance="R")
    with kura.unit_of_work(subject(clerk)) as ctx:
        p = records.create(ctx, R.patient(mrn="00077777", family="急患", given="一", family_kana="キュウカン",
                                          given_kana="ハジメ", birth_date="1960-01-01", gender="male"))
    with kura.unit_of_work(subject(author, "R")) as ctx:
        enc = records.create(ctx, R.encounter(patient_id=p.id, start="2026-04-02T09:00:00+09:00",
                                              department="精神科", label="R"))
    ds = make_dataset(patient_id="E1")
    with kura.unit_of_work(TECH) as ctx:
        imaging.store_instance(ctx, part10(ds))
    with kura.unit_of_work(ADMIN) as ctx:
        imaging.get_study_row(ctx, ds.StudyInstanceUID).confidentiality = "V"
    return {"encounter": enc.id, "study": ds.StudyInstanceUID}


def _purposes(kura, actor, tag) -> set[str]:
    return {e.purpose for e in entries(kura, tag, actor=actor)}


def test_r23_the_same_break_glass_read_has_one_purpose_through_ui_fhir_and_dicomweb(server, clock, restricted):
    kura = server.kura
    ui, api, web = (make_user(kura, name, ("physician",)) for name in ("ui-dr", "fhir-dr", "dw-dr"))
    with browser(server) as c:
        form_login(server, clock, ui, c)
        assert c.post(f"/records/Encounter/{restricted['encounter']}", data={"break_glass": REASON}).status_code == 200
    glass = {"X-Kura-Break-Glass": "emergency admission, unconscious"}
    with server.client(server.login(api, clock)) as c:
        assert c.get(f"/fhir/Encounter/{restricted['encounter']}", headers=glass).status_code == 200
    with server.client(server.login(web, clock)) as c:
        assert c.get(f"/dicom-web/studies/{restricted['study']}/metadata", headers=glass).status_code == 200
    for user in (ui, api, web):
        assert _purposes(kura, user.username, LedgerTag.AccessBreakGlassStarted) == {Purpose.ETREAT}, user.username


def test_r23_a_clerks_read_is_payment_and_a_physicians_is_treatment_on_every_route(server, clock, restricted):
    kura = server.kura
    clerk, doctor = make_user(kura, "purpose-clerk", ("clerk",)), make_user(kura, "purpose-dr", ("physician",))
    for user, expected in ((clerk, Purpose.HPAYMT), (doctor, Purpose.TREAT)):
        with browser(server) as c:
            form_login(server, clock, user, c)
            assert c.get("/patients/search", params={"q": "キュウカン"}).status_code == 200
        with server.client(server.login(user, clock)) as c:
            assert c.get("/fhir/Patient", params={"name": "キュウカン"}).status_code == 200
        with httpx.Client(base_url=server.url) as anonymous:
            assert anonymous.get("/healthz").status_code == 200
        assert _purposes(kura, user.username, LedgerTag.RecordsRecordSearched) == {expected}, user.username
