"""`kura audit export`: the ledger as CSV, a FHIR R4 AuditEvent Bundle, or RFC 5424 syslog
lines carrying DICOM PS3.15 A.5 audit messages (IHE ATNA, R28).

Every ledger tag maps to a DICOM audit event in one table, EVENTS: EventID (DCM CID 400),
EventTypeCode (CID 401, or none) and EventActionCode (C/R/U/D/E). FHIR AuditEvent reuses
the same codes (`type`, `subtype`, `action`), so the two exports always agree.
Reading the ledger to export it is itself recorded (R25): AuditLedgerExported.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import socket
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any, Iterator

from sqlalchemy import select

from kura.access.actions import Action
from kura.access.policy import Target
from kura.audit.events import DCM, DCM_SYSTEM, EVENTS, Event, event_of, name_of
from kura.errors import Invalid
from kura.ledger import service as ledger
from kura.ledger.encoding import field_text, iso_utc
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.operation import Context

Row = Mapping[Any, Any]  # one ledger row by column name: a result mapping, or the FHIR read's dict

__all__ = ["export_entries", "EVENTS", "DCM", "Event", "FORMATS", "audit_message_xml", "audit_event",
           "syslog_line"]

FORMATS = ("csv", "fhir", "syslog")
CHUNK = 500  # entries per yielded chunk: output streams, memory stays flat


# Participant object (DICOM) / entity (FHIR) type and role by target kind (RFC 3881 codes,
# FHIR audit-entity-type and object-role), and the ID type code.
_PERSON, _SYSTEM_OBJECT = "1", "2"
_KINDS: dict[str, tuple[str, str, str, tuple[str, str, str]]] = {
    # kind: (type, role, role display, (ID type code, its system, its meaning))
    "User": (_PERSON, "6", "User", ("11", "RFC-3881", "User Identifier")),
    "Ledger": (_SYSTEM_OBJECT, "13", "Security Resource", ("12", "RFC-3881", "URI")),
    "LedgerEntry": (_SYSTEM_OBJECT, "13", "Security Resource", ("12", "RFC-3881", "URI")),
    "ImagingStudy": (_SYSTEM_OBJECT, "3", "Report", ("110180", "DCM", "Study Instance UID")),
    "Study": (_SYSTEM_OBJECT, "3", "Report", ("110180", "DCM", "Study Instance UID")),
}
_DEFAULT_KIND = (_SYSTEM_OBJECT, "4", "Domain Resource", ("12", "RFC-3881", "URI"))
_CSV_COLUMNS = (*ledger.FIELDS, "leaf_hash", "chain_hash")
# After the hashed fields: the DICOM audit event and the display names (kura.audit.events).
_CSV_EVENT = ("event_id", "event_type_code", "event_name_ja", "event_name_en")


def export_entries(ctx: Context, *, fmt: str, since: dt.datetime | None = None,
                   until: dt.datetime | None = None) -> Iterator[str]:
    """Yield the ledger entries with `since` <= at < `until`, oldest first, as text chunks.

    `fmt`: ``csv`` (a header, then one row per entry with every hashed field and both
    hashes), ``fhir`` (one FHIR R4 Bundle of type collection holding an AuditEvent per
    entry) or ``syslog`` (one RFC 5424 line per entry whose MSG is a DICOM PS3.15 A.5 audit
    message). Raises Invalid for an unknown format and Denied without
    Action.AuditLedgerExport. Ledger: AuditLedgerExported (R25), before the first chunk.
    """
    if fmt not in FORMATS:
        raise Invalid(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    ctx.require(Action.AuditLedgerExport, Target(kind="Ledger"))
    ctx.record(LedgerTag.AuditLedgerExported, target=Target(kind="Ledger"),
               detail={k: v for k, v in (("format", fmt), ("since", since and iso_utc(since)),
                                         ("until", until and iso_utc(until))) if v})
    return _generate(ctx, fmt, since, until)


def _rows(ctx: Context, since: dt.datetime | None, until: dt.datetime | None) -> Iterator[list[Row]]:
    table = LedgerEntry.__table__
    stmt = select(*[table.c[name] for name in _CSV_COLUMNS]).order_by(table.c.seq)
    if since is not None:
        stmt = stmt.where(table.c.at >= since)
    if until is not None:
        stmt = stmt.where(table.c.at < until)
    ledger.sync_head(ctx.session)
    result = ctx.session.connection().execute(stmt.execution_options(stream_results=True, yield_per=CHUNK))
    for part in result.partitions(CHUNK):
        yield [row._mapping for row in part]


def _generate(ctx: Context, fmt: str, since: dt.datetime | None, until: dt.datetime | None) -> Iterator[str]:
    host = socket.gethostname() or "localhost"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow((*_CSV_COLUMNS, *_CSV_EVENT))
        yield buf.getvalue()
        for part in _rows(ctx, since, until):
            buf.seek(0)
            buf.truncate()
            for row in part:
                ev = event_of(row["tag"])
                writer.writerow(["" if row[c] is None else field_text(row[c]) for c in _CSV_COLUMNS]
                                + [ev.event_id, ev.type_code or "", name_of(row["tag"], "ja"), name_of(row["tag"], "en")])
            yield buf.getvalue()
    elif fmt == "fhir":
        head = {"resourceType": "Bundle", "type": "collection", "timestamp": _fhir_time(ctx.now())}

        def entries(part: list[Row]) -> str:
            return ",\n".join(json.dumps({"fullUrl": f"urn:kura:ledger:{row['seq']}",
                                          "resource": audit_event(row, host)},
                                         ensure_ascii=False, separators=(",", ":")) for row in part)

        parts = _rows(ctx, since, until)
        first = next(parts, None)
        if first is None:  # FHIR JSON has no empty arrays: a bundle without entries
            yield json.dumps(head, ensure_ascii=False) + "\n"
            return
        yield json.dumps(head, ensure_ascii=False)[:-1] + ', "entry": [\n' + entries(first)
        for part in parts:
            yield ",\n" + entries(part)
        yield "\n]}\n"
    else:
        for part in _rows(ctx, since, until):
            yield "".join(syslog_line(row, host) + "\n" for row in part)


# -- FHIR R4 AuditEvent -----------------------------------------------------------------

def _fhir_time(at: dt.datetime) -> str:
    return at.astimezone(dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _dcm(code: str) -> dict[str, str]:
    return {"system": DCM_SYSTEM, "code": code, "display": DCM[code]}


def _network_type(origin: str) -> str:
    """RFC 3881 network access point type: 2 an IP address, 1 a machine name (AE@host)."""
    host = origin.rsplit("@", 1)[-1]
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        return "2"
    except OSError:
        return "1"


def audit_event(row: Row, host: str) -> dict[str, Any]:
    """One ledger entry as a FHIR R4 AuditEvent (BALP-style: DICOM codes for type/subtype)."""
    ev = event_of(row["tag"])
    subtype = [_dcm(ev.type_code)] if ev.type_code else []
    subtype.append({"system": "urn:kura:ledger-tag", "code": row["tag"]})
    who: dict[str, Any] = {"display": row["actor_name"]}
    if row["actor_id"]:
        who["identifier"] = {"system": "urn:kura:user", "value": row["actor_id"]}
    agent: dict[str, Any] = {"who": who, "name": row["actor_name"], "requestor": True}
    if row["roles"]:
        agent["role"] = [{"coding": [{"system": "urn:kura:role", "code": r}]} for r in row["roles"].split(",")]
    if row["origin"]:
        agent["network"] = {"address": row["origin"], "type": _network_type(row["origin"])}
    if row["purpose"]:
        agent["purposeOfUse"] = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                                              "code": row["purpose"]}]}]
    details = [{"type": "kura:ledger:seq", "valueString": str(row["seq"])},
               {"type": "kura:ledger:leaf-hash", "valueString": row["leaf_hash"]},
               {"type": "kura:ledger:request-id", "valueString": row["request_id"] or "-"}]
    if row["digest"]:
        details.append({"type": "kura:content-sha256", "valueString": row["digest"]})
    if row["detail"] not in ("", "{}"):
        details.append({"type": "kura:detail", "valueString": row["detail"]})
    kind = row["target_kind"] or "System"
    ptype, prole, prole_display, _ = _KINDS.get(kind, _DEFAULT_KIND)
    what: dict[str, Any] = {"display": f"{kind}/{row['target_id']}" if row["target_id"] else kind}
    if row["target_id"]:
        what["identifier"] = {"system": f"urn:kura:{kind}", "value": row["target_id"]}
    entities = [{
        "what": what,
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": ptype},
        "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": prole,
                 "display": prole_display},
        "detail": details,
    }]
    if row["patient_id"]:
        entities.append({
            "what": {"reference": f"Patient/{row['patient_id']}"},
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": _PERSON},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1",
                     "display": "Patient"},
        })
    resource = {
        "resourceType": "AuditEvent",
        "id": f"ledger-{row['seq']}",
        "type": _dcm(ev.event_id),
        "subtype": subtype,
        "action": ev.action,
        "recorded": _fhir_time(row["at"]),
        "outcome": str(row["outcome"]),
        "agent": [agent],
        "source": {"site": host, "observer": {"display": f"kura@{host}"},
                   "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                             "code": "4", "display": "Application Server"}]},
        "entity": entities,
    }
    if row["reason"]:
        resource["outcomeDesc"] = row["reason"]
    return resource


# -- DICOM PS3.15 A.5 audit message in RFC 5424 syslog ----------------------------------

_XML_BAD = {c: "\ufffd" for c in range(32) if c not in (9, 10, 13)}


def _x(text: str) -> str:
    return text.translate(_XML_BAD)


def _code(parent: ET.Element, name: str, code: str, system: str, meaning: str) -> ET.Element:
    return ET.SubElement(parent, name, {"csd-code": code, "codeSystemName": system, "originalText": _x(meaning)})


def audit_message_xml(row: Row, host: str) -> str:
    """One ledger entry as a DICOM PS3.15 A.5.1 AuditMessage (no XML declaration, one line)."""
    ev = event_of(row["tag"])
    msg = ET.Element("AuditMessage")
    ident = ET.SubElement(msg, "EventIdentification", {
        "EventActionCode": ev.action, "EventDateTime": iso_utc(row["at"]),
        "EventOutcomeIndicator": str(row["outcome"])})
    _code(ident, "EventID", ev.event_id, "DCM", DCM[ev.event_id])
    if ev.type_code:
        _code(ident, "EventTypeCode", ev.type_code, "DCM", DCM[ev.type_code])
    if row["reason"]:
        ET.SubElement(ident, "EventOutcomeDescription").text = _x(row["reason"])
    if row["purpose"]:
        _code(ident, "PurposeOfUse", row["purpose"], "2.16.840.1.113883.5.8", row["purpose"])
    attrs = {"UserID": _x(row["actor_id"] or row["actor_name"]), "UserName": _x(row["actor_name"]),
             "UserIsRequestor": "true"}
    if row["origin"]:
        attrs["NetworkAccessPointID"] = _x(row["origin"])
        attrs["NetworkAccessPointTypeCode"] = _network_type(row["origin"])
    person = ET.SubElement(msg, "ActiveParticipant", attrs)
    for role in filter(None, row["roles"].split(",")):
        _code(person, "RoleIDCode", role, "urn:kura:role", role)
    source = ET.SubElement(msg, "AuditSourceIdentification", {"AuditSourceID": _x(f"kura@{host}")})
    ET.SubElement(source, "AuditSourceTypeCode", {"csd-code": "4", "codeSystemName": "DCM",
                                                  "originalText": "Application Server"})
    kind = row["target_kind"] or "System"
    ptype, prole, _, (id_code, id_system, id_meaning) = _KINDS.get(kind, _DEFAULT_KIND)
    obj = ET.SubElement(msg, "ParticipantObjectIdentification", {
        "ParticipantObjectID": _x(row["target_id"] or kind), "ParticipantObjectTypeCode": ptype,
        "ParticipantObjectTypeCodeRole": prole})
    _code(obj, "ParticipantObjectIDTypeCode", id_code, id_system, id_meaning)
    ET.SubElement(obj, "ParticipantObjectName").text = _x(kind)
    for name, value in (("kura-ledger-tag", row["tag"]), ("kura-ledger-seq", str(row["seq"])),
                        ("kura-ledger-leaf-hash", row["leaf_hash"]), ("kura-content-sha256", row["digest"])):
        if value:
            ET.SubElement(obj, "ParticipantObjectDetail",
                          {"type": name, "value": base64.b64encode(value.encode()).decode()})
    if row["patient_id"]:
        patient = ET.SubElement(msg, "ParticipantObjectIdentification", {
            "ParticipantObjectID": _x(row["patient_id"]), "ParticipantObjectTypeCode": _PERSON,
            "ParticipantObjectTypeCodeRole": "1"})
        _code(patient, "ParticipantObjectIDTypeCode", "2", "RFC-3881", "Patient Number")
    # One line per message: newlines inside values become character references.
    return ET.tostring(msg, encoding="unicode").replace("\r", "&#13;").replace("\n", "&#10;")


def syslog_line(row: Row, host: str) -> str:
    """RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG, as IHE ATNA (ITI-20)
    sends it: facility authpriv (10), severity notice (5) or warning (4) for an alert, MSGID
    IHE+RFC-3881, MSG a UTF-8 BOM and the XML audit message."""
    pri = 10 * 8 + (4 if row["alert"] else 5)
    return (f"<{pri}>1 {iso_utc(row['at'])} {host} kura - IHE+RFC-3881 - \ufeff"
            f'<?xml version="1.0" encoding="UTF-8"?>{audit_message_xml(row, host)}')
