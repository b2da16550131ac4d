"""Validate an incoming resource against the FHIR R4 (R4B) models, the R4 required bindings
(records.fhir.bindings) and kura's own rules.

Raises Invalid (malformed: 400) or Unprocessable (a code outside a required value set: 422)
with a message naming the element at fault; the web adapter turns it into an
OperationOutcome. Nothing is stored for an invalid resource.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from pydantic import ValidationError

from kura.errors import Invalid, Unprocessable
from kura.limits import control_characters
from kura.records.fhir.bindings import violations

if TYPE_CHECKING:  # imported on first use, like the models (_model)
    from fhir_core.fhirabstractmodel import FHIRAbstractModel

__all__ = ["validate", "STORED_TYPES", "WRITABLE_TYPES", "PATIENT_REF", "GENERATED_TYPES"]

# Types a client may create and update (README, FHIR; ImagingStudy is written by the archive).
WRITABLE_TYPES = ("Patient", "Coverage", "Encounter", "ChargeItem", "Invoice", "DocumentReference")
# Types kura writes itself.
GENERATED_TYPES = ("Practitioner", "Provenance", "ImagingStudy")
STORED_TYPES = WRITABLE_TYPES + GENERATED_TYPES

# Where each type names its patient.
PATIENT_REF = {
    "Coverage": "beneficiary",
    "Encounter": "subject",
    "ChargeItem": "subject",
    "Invoice": "subject",
    "DocumentReference": "subject",
    "ImagingStudy": "subject",
}

MAX_DEPTH = 32  # nesting of objects and arrays; kura's resource types need about 8
_models: dict[str, type[FHIRAbstractModel]] = {}


def _model(rtype: str) -> type[FHIRAbstractModel]:
    if rtype not in _models:
        from fhir.resources.R4B import get_fhir_model_class
        _models[rtype] = get_fhir_model_class(rtype)
    return _models[rtype]


def _where(loc: Iterable[object]) -> str:
    return ".".join(str(p) for p in loc) or "(resource)"


def _check_shape(rtype: str, resource: dict[str, Any]) -> None:
    """Nesting depth and forbidden characters, walked without recursion (the models would
    recurse as deep as the JSON goes). Raises Invalid naming the element."""
    stack: list[tuple[Any, str, int]] = [(resource, rtype, 1)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, str):
            if control_characters(value):
                raise Invalid(f"{where}: contains a control character (FHIR allows only tab, CR and LF)")
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth > MAX_DEPTH:
            raise Invalid(f"{where}: nested more than {MAX_DEPTH} levels deep")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str) and control_characters(key):
                raise Invalid(f"{where}: an element name contains a control character")
            stack.append((item, f"{where}.{key}", depth + 1))


def validate(rtype: str, resource: Any) -> dict[str, Any]:
    """Check `resource` is a JSON object of type `rtype` valid under FHIR R4 (R4B models) whose
    coded elements with a required binding hold codes of their value sets.

    Returns the resource (unchanged). Raises Invalid naming the first problems, Unprocessable
    (with one issue per element) for codes outside a required value set.
    """
    if not isinstance(resource, dict):
        raise Invalid("the body must be a JSON object (a FHIR resource)")
    if resource.get("resourceType") != rtype:
        raise Invalid(f"resourceType must be {rtype}, not {resource.get('resourceType')!r}")
    _check_shape(rtype, resource)
    try:
        _model(rtype).model_validate(resource)
    except ValidationError as exc:
        problems = [f"{rtype}.{_where(e['loc'])}: {e['msg']}" for e in exc.errors()[:5]]
        raise Invalid("; ".join(problems)) from None
    except (TypeError, ValueError) as exc:
        raise Invalid(f"{rtype}: {exc}") from None
    issues = violations(resource)
    if issues:
        raise Unprocessable("; ".join(i["diagnostics"] for i in issues[:3])
                            + (f"; and {len(issues) - 3} more" if len(issues) > 3 else ""), issues=issues)
    return resource
