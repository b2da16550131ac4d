"""The FHIR R4 ImagingStudy that mirrors one archived study (README: kept in step). Pure.

Per-instance counts and instance lists are left out on purpose: the resource then changes
only when a series is added or the 検像 status changes, so the records store keeps a handful
of versions per study rather than one per received instance.
"""

from __future__ import annotations

from typing import Any

from kura.imaging.models import ImagingSeries, ImagingStudy

__all__ = ["imaging_study_resource", "DCM"]

DCM = "http://dicom.nema.org/resources/ontology/DCM"
V3_CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"


def _date(da: str) -> str | None:
    if len(da) == 8 and da.isdigit():
        return f"{da[:4]}-{da[4:6]}-{da[6:]}"
    return None


def imaging_study_resource(study: ImagingStudy, series: list[ImagingSeries], *, patient_fhir_id: str,
                           label: str = "N") -> dict[str, Any]:
    """ImagingStudy/{StudyInstanceUID}: a UID is a valid FHIR id (digits and dots, ≤ 64).
    `label` is the study's effective confidentiality (kura.imaging.labels), as meta.security."""
    resource: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "id": study.study_uid,
        "meta": {"security": [{"system": V3_CONFIDENTIALITY, "code": label}]},
        "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{study.study_uid}"}],
        "status": "available",
        "subject": {"reference": f"Patient/{patient_fhir_id}"},
        "modality": [{"system": DCM, "code": m} for m in study.modalities.split("\\") if m],
        "series": [],
    }
    if study.accession_number:
        resource["identifier"].append({"type": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"}]},
            "value": study.accession_number})
    if _date(study.study_date):
        resource["started"] = _date(study.study_date)
    if study.description:
        resource["description"] = study.description
    for s in series:
        item: dict[str, Any] = {"uid": s.series_uid, "modality": {"system": DCM, "code": s.modality or "OT"}}
        if s.series_number is not None and s.series_number >= 0:
            item["number"] = s.series_number
        if s.description:
            item["description"] = s.description
        resource["series"].append(item)
    if not resource["modality"]:
        del resource["modality"]
    if not resource["series"]:
        del resource["series"]
    return resource
