"""A study's confidentiality (R14, issue 7): the highest of its own label, its management
class's label and its patient's label.

The patient's label is the registered FHIR Patient's, kept on the imaging patient row
(ImagingPatient.confidentiality) and changed in the same transaction as the Patient record
(kura.imaging.relabel.patient_label_changed), so a restricted patient's studies are
restricted at once, wherever they are reached: QIDO-RS, WADO-RS, C-FIND/C-GET/C-MOVE, the
FHIR ImagingStudy, the screens. Search filters on the same rule in SQL
(kura.imaging.query.visible); a single study is checked through service.study_target.
"""

from __future__ import annotations

from kura.access.policy import highest
from kura.classes import service as classes
from kura.imaging.models import ImagingPatient, ImagingStudy
from kura.operation import Context

__all__ = ["patient_label", "effective_label"]


def patient_label(ctx: Context, study: ImagingStudy) -> str:
    """The label of the study's patient (N for a patient not registered, or unrestricted)."""
    patient = ctx.session.get(ImagingPatient, study.patient_ref)
    return patient.confidentiality if patient is not None and patient.confidentiality else "N"


def effective_label(ctx: Context, study: ImagingStudy) -> str:
    """The label every access to `study` is decided on. Raises NotFound (unknown class)."""
    return highest(classes.get_class(ctx, study.class_code).confidentiality, study.confidentiality,
                   patient_label(ctx, study))
