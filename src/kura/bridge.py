"""The link between the image archive and the records store, both ways
(kura.imaging.link.RecordsPort and kura.records.link.ImagingPort).

kura.records and kura.imaging are independent layers; this module sits above both and
kura.app wires it in: the DICOM Patient ID is matched to the FHIR Patient identifier, the
FHIR ImagingStudy is kept in step with each study (README), and a Patient's
confidentiality label reaches that patient's studies at once (kura.imaging.labels).
"""

from __future__ import annotations

from sqlalchemy import select

from kura.imaging.names import normalise
from kura.errors import NotFound
from kura.imaging import reconcile, relabel
from kura.imaging.link import RegisteredPatient
from kura.records import service as records
from kura.records.fhir import params
from kura.records.models import Record, RecordVersion, SearchToken
from kura.records.store import blinder, get_record, version_of

_SEX = {"male": "M", "female": "F", "other": "O"}
_REP = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"


def registered_from(rec: Record, resource: dict, identifier: str = "") -> RegisteredPatient:
    """The archive's view of a Patient: its names (normalised, and as shown), birth date, sex,
    label, and the 患者ID its images carry (`identifier`, else its first identifier)."""
    names, shown, kana = set(), "", ""
    for name in resource.get("name") or []:
        full = (name.get("family") or "") + "".join(name.get("given") or [])
        if full:
            names.add(normalise(full))
        text = " ".join([name.get("family") or "", *(name.get("given") or [])]).strip()
        if any(e.get("url") == _REP and e.get("valueCode") == "SYL" for e in name.get("extension") or []):
            kana = kana or text
        else:
            shown = shown or text
    ids = [str(i["value"]) for i in resource.get("identifier") or [] if isinstance(i, dict) and i.get("value")]
    return RegisteredPatient(fhir_id=rec.logical_id, names=frozenset(names),
                             birth_date=(resource.get("birthDate") or "").replace("-", ""),
                             sex=_SEX.get(resource.get("gender") or "", ""),
                             confidentiality=rec.confidentiality, name=shown, kana=kana,
                             identifier=identifier or (ids[0] if ids else ""))


class RecordsBridge:
    def registered_patient(self, ctx, patient_id: str) -> RegisteredPatient | None:
        """The one Patient whose identifier equals the DICOM Patient ID (none if ambiguous)."""
        pks = list(ctx.session.scalars(select(SearchToken.record_pk).where(
            SearchToken.rtype == "Patient", SearchToken.param == "identifier",
            SearchToken.value == params.token_value("Patient", "identifier", patient_id, blinder(ctx)))
            .distinct().limit(2)))
        if len(pks) != 1:
            return None
        rec = ctx.session.get(Record, pks[0])
        # opened and verified like every read (records.sealing)
        resource = version_of(ctx, rec, ctx.session.get(RecordVersion, (rec.pk, rec.current_version))).resource()
        return registered_from(rec, resource, patient_id)

    def find_registered(self, ctx, fhir_patient_id: str) -> RegisteredPatient | None:
        """The registered Patient `fhir_patient_id` (current version), or None."""
        try:
            rec = get_record(ctx, "Patient", fhir_patient_id)
        except NotFound:
            return None
        resource = version_of(ctx, rec, ctx.session.get(RecordVersion, (rec.pk, rec.current_version))).resource()
        return registered_from(rec, resource)

    def study_changed(self, ctx, resource: dict, *, confirmed: bool, reason: str = "") -> None:
        records.upsert_imaging_study(ctx, resource, confirmed=confirmed, reason=reason)

    # -- kura.records.link.ImagingPort ------------------------------------------------------
    def patient_label_changed(self, ctx, *, fhir_patient_id: str, identifiers: list[str], label: str) -> int:
        return relabel.patient_label_changed(ctx, fhir_patient_id=fhir_patient_id, identifiers=identifiers,
                                             label=label)

    def patient_registered(self, ctx, rec: Record, resource: dict) -> int:
        ids = [str(i["value"]) for i in resource.get("identifier") or [] if isinstance(i, dict) and i.get("value")]
        return reconcile.patient_registered(ctx, registered_from(rec, resource), ids)
