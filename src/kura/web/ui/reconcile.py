"""The patient matching screens (画像の患者照合, issue 10): studies whose patient is unknown
(unmatched) or whose demographics disagree with the registration (flagged), and the review
of one study — both sets of demographics side by side, then link, correct or send back.

Every step is one service call (kura.imaging.reconcile / correct), which checks access and
writes the ledger entry; this module only translates forms and picks the page.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request

from kura.access.actions import Action
from kura.errors import Invalid, NotFound
from kura.imaging import correct, reconcile
from kura.imaging.names import split_person_name
from kura.web.deps import work
from kura.web.ui.render import PageDep, can, redirect, render

__all__ = ["router"]

router = APIRouter(prefix="/images", include_in_schema=False)

KIND = "ImagingStudy"
Reason = Annotated[str, Form(max_length=2000)]
Field = Annotated[str, Form(max_length=64)]
NameField = Annotated[str, Form(max_length=200)]


def _name(study) -> dict:
    return {"kanji": study.name_ideographic.replace("^", " ").strip(),
            "kana": study.name_phonetic.replace("^", " ").strip(),
            "alpha": study.name_alphabetic.replace("^", " ").strip()}


def _shown(pn: str) -> str:
    """A PN value as people read it: 山田 太郎 (ヤマダ タロウ), else the alphabetic name."""
    n = split_person_name(pn)
    kanji, kana, alpha = (g.replace("^", " ").strip() for g in (n.ideographic, n.phonetic, n.alphabetic))
    main = kanji or alpha or kana
    return f"{main} ({kana})" if kana and kana != main else main


def _row(study) -> dict:
    d = study.study_date
    return {"uid": study.study_uid, "patient_id": study.patient_id, "name": _name(study),
            "date": f"{d[:4]}-{d[4:6]}-{d[6:]}" if len(d) == 8 else d, "birth_date": study.birth_date,
            "sex": study.sex, "modalities": study.modalities.replace("\\", " / "),
            "description": study.description, "status": study.status, "flagged": study.flagged,
            "created_at": study.created_at}


@router.get("/reconcile")
def index(request: Request, auth: PageDep, done: str = ""):
    """Flagged and unmatched studies, for the technologists and the clerks."""
    with work(request, auth) as ctx:
        flagged = [_row(s) for s in reconcile.flagged(ctx)]
        unmatched = [_row(s) for s in reconcile.unmatched(ctx)]
    return render(request, "images/reconcile.html", {"flagged": flagged, "unmatched": unmatched,
                                                      "done": done})


def _review_url(study_uid: str, **params) -> str:
    url = f"/images/studies/{quote(study_uid, safe='')}/review"
    return f"{url}?{urlencode(params)}" if params else url


@router.get("/studies/{study_uid}/review")
def review_page(study_uid: str, request: Request, auth: PageDep, done: str = "", error: str = ""):
    with work(request, auth) as ctx:
        r = correct.review(ctx, study_uid)
        study = _row(r.study)
    reg = r.registered
    registered = None if reg is None else {
        "fhir_id": reg.fhir_id, "patient_id": reg.identifier or r.study.patient_id, "name": reg.name,
        "kana": reg.kana, "birth_date": reg.birth_date, "sex": reg.sex}
    history = [{"version": c.version, "kind": c.kind, "by": c.corrected_by, "at": c.corrected_at,
                "reason": c.reason, "patient_id": c.patient_id, "name": _shown(c.patient_name),
                "birth_date": c.birth_date, "sex": c.sex} for c in r.history]
    return render(request, "images/review.html", {
        "study": study, "received": r.received, "current": r.current, "registered": registered,
        "differs": r.differs, "history": history, "corrected": bool(r.history),
        "may_correct": can(auth, Action.ImagingStudyCorrect, KIND),
        "may_return": can(auth, Action.ImagingStudyReturn, KIND) and study["status"] == "draft",
        "may_confirm": can(auth, Action.ImagingStudyConfirm, KIND),
        "done": done, "error": error})


@router.post("/studies/{study_uid}/link")
def link(study_uid: str, request: Request, auth: PageDep, identifier: Field = "", reason: Reason = ""):
    """(a) Link the study to the patient registered under a 患者ID."""
    try:
        with work(request, auth) as ctx:
            study = correct.link_to_identifier(ctx, study_uid, identifier=identifier, reason=reason)
            flagged = study.flagged
    except Invalid:
        return redirect(_review_url(study_uid, error="reason"))
    except NotFound as exc:
        if str(exc) != correct.NO_PATIENT:
            raise
        return redirect(_review_url(study_uid, error="no-patient"))
    return redirect(_review_url(study_uid, done="still-flagged" if flagged else "linked"))


@router.post("/studies/{study_uid}/correct")
def correct_study(study_uid: str, request: Request, auth: PageDep, patient_id: Field = "",
                  kanji: NameField = "", kana: NameField = "", alpha: NameField = "",
                  birth_date: Field = "", sex: Field = "", reason: Reason = ""):
    """(b) Correct the study's patient attributes as a new version, with a reason."""
    try:
        with work(request, auth) as ctx:
            study = correct.correct(ctx, study_uid, patient_id=patient_id, ideographic=kanji, phonetic=kana,
                                    alphabetic=alpha, birth_date=birth_date, sex=sex, reason=reason)
            flagged = study.flagged
    except Invalid:
        return redirect(_review_url(study_uid, error="correction" if reason.strip() else "reason"))
    return redirect(_review_url(study_uid, done="still-flagged" if flagged else "corrected"))
