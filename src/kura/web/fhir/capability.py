"""The CapabilityStatement served at /fhir/metadata. Pure data."""

from __future__ import annotations

from typing import Any

from kura import __version__
from kura.records.fhir.params import SEARCH_PARAMS
from kura.records.fhir.validate import STORED_TYPES, WRITABLE_TYPES

__all__ = ["capability_statement"]

_KIND = {"token": "token", "string": "string", "date": "date", "patient": "reference"}


def capability_statement(base: str) -> dict:
    resources = []
    for rtype in STORED_TYPES:
        interactions = ["read", "vread", "search-type", "history-instance", "history-type"]
        if rtype in WRITABLE_TYPES:
            interactions += ["create", "update"]
        res: dict[str, Any] = {"type": rtype, "versioning": "versioned", "readHistory": True,
               "updateCreate": False, "conditionalCreate": rtype in WRITABLE_TYPES,
               "interaction": [{"code": c} for c in interactions],
               "searchParam": [{"name": n, "type": _KIND[k]} for n, k in SEARCH_PARAMS.get(rtype, {}).items()]
               + [{"name": "_lastUpdated", "type": "date"}, {"name": "_id", "type": "token"}]}
        if rtype in WRITABLE_TYPES:
            res["operation"] = [{"name": "confirm", "definition": f"{base}/OperationDefinition/confirm"}]
        if rtype == "Patient":
            res["operation"].append({"name": "everything",
                                     "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"})
        resources.append(res)
    resources.append({"type": "AuditEvent", "interaction": [{"code": "read"}, {"code": "search-type"}],
                      "searchParam": [{"name": "patient", "type": "reference"}, {"name": "date", "type": "date"},
                                      {"name": "agent", "type": "string"}]})
    return {"resourceType": "CapabilityStatement", "status": "active", "date": "2026-04-01",
            "kind": "instance", "fhirVersion": "4.0.1", "format": ["application/fhir+json"],
            "software": {"name": "kura", "version": __version__},
            "implementation": {"description": "kura 医事 records store", "url": base},
            "rest": [{"mode": "server", "security": {"description":
                      "Bearer token from POST /api/session (password + TOTP). X-Kura-Break-Glass: <reason> "
                      "for emergency access; X-Kura-Reason: <why> to correct a confirmed resource; "
                      "X-Kura-On-Behalf-Of: <user> for proxy entry. Header values are ASCII: Japanese "
                      "text is sent percent-encoded as UTF-8 (X-Kura-Reason: %E8%A8%82%E6%AD%A3 for "
                      "訂正); a raw non-ASCII value is refused with 400."},
                      "resource": resources,
                      "interaction": [{"code": "transaction", "documentation":
                                       "POST /fhir with a transaction Bundle: one unit of work, all or nothing; "
                                       "entries POST {type} (ifNoneExist), PUT {type}/{id} (ifMatch), "
                                       "POST {type}/{id}/$confirm, GET {type}/{id}[/_history/{n}]; urn:uuid "
                                       "fullUrls resolved in references and request URLs. The reason for "
                                       "correcting a confirmed resource: entry.request.extension "
                                       "urn:kura:reason (valueString), else the X-Kura-Reason header."},
                                      {"code": "batch", "documentation":
                                       "POST /fhir with a batch Bundle: the same entries, each on its own "
                                       "with its own response status."}]}]}
