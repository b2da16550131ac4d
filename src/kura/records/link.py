"""The records store's link to the image archive: a Patient's confidentiality label covers
that patient's images (issue 7; kura.imaging.labels).

kura.records and kura.imaging are independent layers, so the records store states what it
tells the archive as ImagingPort and the composition root (kura.app, through kura.bridge)
supplies it to every unit of work as ``ctx.imaging_port``. Unset, nothing is told.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

from kura.operation import Context
from kura.records.models import Record

__all__ = ["ImagingPort", "port", "patient_changed"]


class ImagingPort(Protocol):
    def patient_label_changed(self, ctx: Context, *, fhir_patient_id: str, identifiers: list[str],
                              label: str) -> int:
        """The Patient is now labelled `label`; its studies take it in this transaction."""

    def patient_registered(self, ctx: Context, rec: Record, resource: dict[str, Any]) -> int:
        """Images filed under one of the Patient's identifiers before it was registered (or
        before the identifier was added) are linked to it now and mirrored."""


def port(ctx: Context) -> ImagingPort | None:
    """The image archive as the composition root wired it into the unit of work, or None."""
    return cast("ImagingPort | None", ctx.imaging_port)


def patient_changed(ctx: Context, rec: Record, resource: dict[str, Any]) -> None:
    """Tell the archive the Patient's label (and the identifiers its images may be filed
    under), in the unit of work that wrote the Patient."""
    imaging = port(ctx)
    if imaging is None or rec.rtype != "Patient":
        return
    identifiers = [str(i["value"]) for i in resource.get("identifier") or []
                   if isinstance(i, dict) and isinstance(i.get("value"), str) and i["value"]]
    imaging.patient_label_changed(ctx, fhir_patient_id=rec.logical_id, identifiers=identifiers,
                                  label=rec.confidentiality)
    imaging.patient_registered(ctx, rec, resource)
