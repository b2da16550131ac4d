"""A restricted patient's images are restricted (issue 7 §1, R13, R14, R18): a study's
effective label is the highest of its own, its class's and its patient's, everywhere a study
or its patient's demographics can be reached — QIDO-RS, WADO-RS, FHIR ImagingStudy, the
screens — and one study can be labelled, with a reason, by those allowed to."""

from __future__ import annotations

import httpx
import pytest

from kura.access.policy import Subject
from kura.access.roles import Role
from kura.imaging import service as imaging
from kura.ledger.tags import LedgerTag
from kura.records import service as records

from tests.support.imaging import TECH, make_dataset, part10, prepare
from tests.support.records import patient
from tests.web.ui import entries, page_as, text_of

MRN = "R100"
NAME = "Yamada^Tarou=山田^太郎=やまだ^たろう"
CLERK_R = Subject(id=None, name="clerk-r", roles=frozenset({Role.clerk}), clearance="R")


def register(kura, *, security=None, mrn=MRN) -> str:
    with kura.unit_of_work(CLERK_R, "HPAYMT") as ctx:
        return records.create(ctx, patient(mrn=mrn, birth="1970-01-01", security=security)).id


def relabel_patient(kura, pid: str, label: str) -> None:
    with kura.unit_of_work(CLERK_R, "HPAYMT") as ctx:
        body = patient(mrn=MRN, birth="1970-01-01", security=label)
        records.update(ctx, "Patient", pid, {**body, "id": pid})


def store(kura, mrn=MRN):
    ds = make_dataset(patient_id=mrn, name=NAME)
    with kura.unit_of_work(TECH, "TREAT") as ctx:
        imaging.store_instance(ctx, part10(ds))
    return ds


def urls(ds) -> dict[str, str]:
    inst = f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    return {"study": f"/dicom-web/studies/{ds.StudyInstanceUID}",
            "metadata": f"/dicom-web/studies/{ds.StudyInstanceUID}/metadata",
            "instance_metadata": f"{inst}/metadata", "rendered": f"{inst}/rendered"}


def qido(c: httpx.Client, **params) -> list:
    r = c.get("/dicom-web/studies", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def fhir_studies(c: httpx.Client, pid: str) -> list:
    r = c.get("/fhir/ImagingStudy", params={"patient": pid})
    assert r.status_code == 200, r.text
    return [e["resource"] for e in r.json().get("entry") or [] if e.get("search", {}).get("mode", "match") == "match"]


def sees(c: httpx.Client, ds, pid: str) -> dict[str, object]:
    """What a client reaches of the study: each path's answer."""
    u = urls(ds)
    return {"qido_id": len(qido(c, PatientID=MRN)),
            "qido_kana": len(qido(c, PatientName="ヤマダ", fuzzymatching="true")),
            "qido_kanji": len(qido(c, PatientName="山田*")),
            "qido_series": c.get(f"{u['study']}/series").json() if c.get(f"{u['study']}/series").status_code == 200 else None,
            "metadata": c.get(u["metadata"]).status_code,
            "instance_metadata": c.get(u["instance_metadata"]).status_code,
            "rendered": c.get(u["rendered"]).status_code,
            "wado": c.get(u["study"]).status_code,
            "fhir_search": len(fhir_studies(c, pid)),
            "fhir_read": c.get(f"/fhir/ImagingStudy/{ds.StudyInstanceUID}").status_code}


HIDDEN = {"qido_id": 0, "qido_kana": 0, "qido_kanji": 0, "qido_series": [], "metadata": 403,
          "instance_metadata": 403, "rendered": 403, "wado": 403, "fhir_search": 0, "fhir_read": 403}


@pytest.fixture
def restricted(server):
    """Patient labelled R; a study of theirs stored under the ordinary image class (N)."""
    prepare(server.kura)
    pid = register(server.kura, security="R")
    return pid, store(server.kura)


def test_r14_restricted_patients_study_hidden_from_nurse_on_every_path(server, as_role, restricted):
    pid, ds = restricted
    nurse = as_role("nurse", clearance="N")
    assert sees(nurse, ds, pid) == HIDDEN
    r = nurse.get(urls(ds)["metadata"])
    assert r.json()["break_glass_available"] is True  # 403 tells of break-glass (CONTRACT.md)
    assert "R" in r.json()["detail"]
    body = nurse.get(f"/fhir/ImagingStudy/{ds.StudyInstanceUID}").json()
    assert body["resourceType"] == "OperationOutcome"
    everything = nurse.get(f"/fhir/Patient/{pid}/$everything")
    assert everything.status_code == 403


def test_r14_physician_with_clearance_r_sees_it_and_meta_security_is_effective(server, as_role, restricted):
    pid, ds = restricted
    doctor = as_role("physician", clearance="R")
    seen = sees(doctor, ds, pid)
    assert seen["qido_id"] == seen["qido_kana"] == seen["qido_kanji"] == 1
    assert all(seen[k] == 200 for k in ("metadata", "instance_metadata", "rendered", "wado", "fhir_read"))
    assert seen["fhir_search"] == 1
    study = doctor.get(f"/fhir/ImagingStudy/{ds.StudyInstanceUID}").json()
    assert {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"} in study["meta"]["security"]
    # the name, in kanji and kana, and the birth date: exactly what the nurse must not get
    (hit,) = qido(doctor, PatientID=MRN)
    assert hit["00100010"]["Value"][0]["Ideographic"] == "山田^太郎" and hit["00100030"]["Value"] == ["19700101"]


def test_r18_nurse_break_glass_is_allowed_and_alerted(server, as_role, restricted):
    pid, ds = restricted
    nurse = as_role("nurse", clearance="N")
    bg = {"X-Kura-Break-Glass": "%E6%80%A5%E5%A4%89"}  # 急変
    assert nurse.get(urls(ds)["metadata"], headers=bg).status_code == 200
    assert nurse.get(urls(ds)["rendered"], headers=bg).status_code == 200
    assert len(nurse.get("/dicom-web/studies", params={"PatientID": MRN}, headers=bg).json()) == 1
    alerts = entries(server.kura, LedgerTag.AccessBreakGlassStarted, actor=nurse.user.username)
    assert alerts and all(a.alert for a in alerts)
    assert any(a.target_id == ds.StudyInstanceUID for a in alerts)
    # a technologist may not break the glass (not a clinical role)
    tech = as_role("technologist", clearance="N")
    assert tech.get(urls(ds)["metadata"], headers=bg).status_code == 403


def test_r18_one_break_glass_opens_the_restricted_patients_study_for_the_viewer(server, as_role, restricted):
    """The reason is given once (the study page, or a first request); the viewer's frames then
    load under that break-glass, although the study's own label is N and its patient's R."""
    pid, ds = restricted
    nurse = as_role("nurse", clearance="N")
    u = urls(ds)
    assert nurse.get(u["rendered"]).status_code == 403
    assert nurse.get(u["metadata"], headers={"X-Kura-Break-Glass": "%E6%80%A5%E5%A4%89"}).status_code == 200
    assert nurse.get(u["rendered"]).status_code == 200  # no header: under the open break-glass
    assert nurse.get(u["instance_metadata"]).status_code == 200
    assert qido(nurse, PatientID=MRN) == []  # searches still leave the patient out
    assert len(entries(server.kura, LedgerTag.AccessBreakGlassStarted, actor=nurse.user.username)) == 1
    assert as_role("nurse", clearance="N").get(u["rendered"]).status_code == 403  # only for that nurse


def test_r14_raising_the_patients_label_hides_existing_studies_at_once(server, as_role):
    prepare(server.kura)
    pid = register(server.kura)  # N
    ds = store(server.kura)
    nurse = as_role("nurse", clearance="N")
    seen = sees(nurse, ds, pid)
    assert seen["qido_id"] == 1 and seen["metadata"] == 200 and seen["fhir_search"] == 1
    relabel_patient(server.kura, pid, "R")
    assert sees(nurse, ds, pid) == HIDDEN
    (entry,) = entries(server.kura, LedgerTag.ImagingStudyLabelled)
    assert entry.target_id == ds.StudyInstanceUID and "Patient/" in entry.reason
    doctor = as_role("physician", clearance="R")
    study = doctor.get(f"/fhir/ImagingStudy/{ds.StudyInstanceUID}").json()
    assert study["meta"]["security"][0]["code"] == "R"
    # lowered again: visible again, and the lowering is an alert for the audit manager
    relabel_patient(server.kura, pid, "N")
    assert sees(nurse, ds, pid)["metadata"] == 200
    lowered = [e for e in entries(server.kura, LedgerTag.ImagingStudyLabelled) if e.alert]
    assert len(lowered) == 1


def test_r14_patient_registered_after_the_images_restricts_them(server, as_role):
    prepare(server.kura)
    ds = store(server.kura, mrn="R200")
    register(server.kura, security="R", mrn="R200")
    nurse = as_role("nurse", clearance="N")
    assert qido(nurse, PatientID="R200") == []
    assert nurse.get(urls(ds)["metadata"]).status_code == 403


def test_r14_ui_study_list_worklist_and_page_hide_the_restricted_patient(server, clock, restricted):
    pid, ds = restricted
    uid = ds.StudyInstanceUID
    with page_as(server, clock, "nurse", clearance="N") as c:
        page = c.get("/images", params={"name": "やまだ"})
        assert page.status_code == 200 and uid not in page.text and "山田" not in text_of(page.text)
        study = c.get(f"/images/studies/{uid}")
        assert study.status_code == 403 and "山田" not in study.text
        assert c.get(f"/images/studies/{uid}/print", params={"sop": ds.SOPInstanceUID}).status_code == 403
        assert uid not in c.get(f"/patients/{pid}").text
    with page_as(server, clock, "technologist", clearance="N", name="gishi-n") as c:
        worklist = c.get("/images")
        assert worklist.status_code == 200 and 'id="worklist"' in worklist.text and uid not in worklist.text
    with page_as(server, clock, "technologist", clearance="R", name="gishi-r") as c:
        assert uid in c.get("/images").text  # in the worklist of one cleared for it
        page = c.get(f"/images/studies/{uid}")
        assert page.status_code == 200 and "制限" in text_of(page.text)


# -- labelling one study ----------------------------------------------------------------------

def test_r14_label_one_study_needs_a_reason_and_hides_it(server, as_role):
    prepare(server.kura)
    ds = store(server.kura, mrn="P300")
    url = f"/api/studies/{ds.StudyInstanceUID}/confidentiality"
    nurse = as_role("nurse", clearance="N")
    tech = as_role("technologist", clearance="R")
    assert qido(nurse, PatientID="P300") != []
    r = tech.put(url, json={"label": "R"})
    assert r.status_code == 400 and "reason" in r.json()["detail"]
    assert tech.put(url, json={"label": "X", "reason": "精神科依頼"}).status_code == 400
    assert qido(nurse, PatientID="P300") != []  # nothing half-done
    r = tech.put(url, json={"label": "R", "reason": "精神科からの依頼"})
    assert r.status_code == 200 and r.json() == {"study_uid": ds.StudyInstanceUID, "label": "R", "effective": "R"}
    assert qido(nurse, PatientID="P300") == []
    assert nurse.get(urls(ds)["metadata"]).status_code == 403
    (entry,) = entries(server.kura, LedgerTag.ImagingStudyLabelled)
    assert entry.reason == "精神科からの依頼" and not entry.alert
    # lowering needs a reason too, and is an alert
    assert tech.put(url, json={"label": "N", "reason": " "}).status_code == 400
    assert tech.put(url, json={"label": "N", "reason": "誤って設定"}).json()["effective"] == "N"
    assert qido(nurse, PatientID="P300") != []
    assert [e.alert for e in entries(server.kura, LedgerTag.ImagingStudyLabelled)].count(True) == 1


def test_r13_label_one_study_refused_for_roles_without_the_right_and_beyond_clearance(server, as_role):
    prepare(server.kura)
    ds = store(server.kura, mrn="P400")
    url = f"/api/studies/{ds.StudyInstanceUID}/confidentiality"
    body = {"label": "R", "reason": "依頼"}
    for role in ("nurse", "clerk", "admin"):
        r = as_role(role, clearance="V").put(url, json=body)
        assert r.status_code == 403, role
    assert server.client().put(url, json=body).status_code == 401
    # a physician may label, but not beyond their own clearance
    doctor_n = as_role("physician", clearance="N")
    assert doctor_n.put(url, json=body).status_code == 403
    assert doctor_n.put(url, json={"label": "N", "reason": "変更なし"}).status_code == 200
    assert as_role("physician", clearance="R").put(url, json=body).status_code == 200
    assert as_role("physician", clearance="R").put("/api/studies/1.2.3/confidentiality", json=body).status_code == 404
    # own label below the patient's: the effective label stays the patient's
    pid = register(server.kura, security="R", mrn="P500")
    ds2 = store(server.kura, mrn="P500")
    r = as_role("physician", clearance="R").put(f"/api/studies/{ds2.StudyInstanceUID}/confidentiality",
                                                json={"label": "N", "reason": "通常"})
    assert r.json() == {"study_uid": ds2.StudyInstanceUID, "label": "N", "effective": "R"}
    assert pid


def test_r14_label_control_on_the_study_page(server, clock):
    prepare(server.kura)
    ds = store(server.kura, mrn="P600")
    uid = ds.StudyInstanceUID
    with page_as(server, clock, "nurse", clearance="N") as c:
        page = c.get(f"/images/studies/{uid}")
        assert page.status_code == 200 and 'id="label-form"' not in page.text
        assert c.post(f"/images/studies/{uid}/confidentiality", data={"label": "R", "reason": "x"}).status_code == 403
    with page_as(server, clock, "physician", clearance="R") as c:
        page = c.get(f"/images/studies/{uid}")
        assert 'id="label-form"' in page.text and "機密区分" in text_of(page.text)
        r = c.post(f"/images/studies/{uid}/confidentiality", data={"label": "R", "reason": ""})
        assert r.status_code == 303 and "error=label-reason" in r.headers["location"]
        assert "理由" in text_of(c.get(r.headers["location"]).text)
        r = c.post(f"/images/studies/{uid}/confidentiality", data={"label": "R", "reason": "本人の希望"})
        assert r.status_code == 303 and "done=labelled" in r.headers["location"]
        page = c.get(r.headers["location"])
        assert "制限" in text_of(page.text)
    (entry,) = entries(server.kura, LedgerTag.ImagingStudyLabelled)
    assert entry.reason == "本人の希望"
    with page_as(server, clock, "nurse", clearance="N", name="nurse-2") as c:
        assert c.get(f"/images/studies/{uid}").status_code == 403


def test_r14_a_study_labelled_by_hand_leaves_the_fhir_searches_and_everything(server, as_role):
    prepare(server.kura)
    pid = register(server.kura, mrn="P700")  # an ordinary patient (N)
    ds = store(server.kura, mrn="P700")
    nurse = as_role("nurse", clearance="N")
    everything = lambda: [e["resource"]["resourceType"] for e in  # noqa: E731
                          nurse.get(f"/fhir/Patient/{pid}/$everything").json().get("entry") or []]
    assert "ImagingStudy" in everything() and len(fhir_studies(nurse, pid)) == 1
    r = as_role("physician", clearance="R").put(f"/api/studies/{ds.StudyInstanceUID}/confidentiality",
                                                json={"label": "R", "reason": "本人の希望"})
    assert r.status_code == 200
    assert "ImagingStudy" not in everything() and "Patient" in everything()
    assert fhir_studies(nurse, pid) == []
    assert nurse.get(f"/fhir/ImagingStudy/{ds.StudyInstanceUID}").status_code == 403
    assert qido(nurse, PatientID="P700") == []
