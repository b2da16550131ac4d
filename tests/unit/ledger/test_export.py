"""`kura audit export`: CSV, a FHIR R4 AuditEvent Bundle, RFC 5424 syslog with DICOM PS3.15
A.5 audit messages (R23, R25, R28)."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import re
import xml.etree.ElementTree as ET

import pytest

from kura.access.actions import Action
from kura.access.policy import Subject, Target
from kura.access.roles import Role
from kura.audit.export import DCM, EVENTS, export_entries
from kura.errors import Denied, Invalid
from kura.ledger import service as ledger
from kura.ledger.tags import LedgerTag

AUDITOR = Subject(id=None, name="kansa", roles=frozenset({Role.auditor}))
DOCTOR = Subject(id="0b0e5f3c-0000-4000-8000-000000000001", name="dr.sato", roles=frozenset({Role.physician}))


def test_r25_every_ledger_tag_has_a_japanese_and_english_name():
    from kura.audit.events import KINDS, NAMES, kind_tags
    missing = [t.name for t in LedgerTag if t not in NAMES]
    assert not missing, f"add these to kura.audit.events.NAMES: {missing}"
    assert all(ja and en and ja != en and ":" not in ja for ja, en in NAMES.values())
    assert len({ja for ja, _ in NAMES.values()}) == len(NAMES)  # no two tags read alike
    assert all(kind_tags(k) for k in KINDS)
    assert set(kind_tags("login")) >= {LedgerTag.AuthLoginSucceeded, LedgerTag.AuthLoginFailed}


def test_r28_every_ledger_tag_maps_to_a_dicom_audit_event():
    missing = [t.name for t in LedgerTag if t not in EVENTS]
    assert not missing, f"add these to kura.audit.events.EVENTS: {missing}"
    for tag, ev in EVENTS.items():
        assert ev.event_id in DCM and ev.event_id.startswith("1101"), tag
        assert ev.type_code is None or ev.type_code in DCM, tag
        assert ev.action in "CRUDE" and len(ev.action) == 1, tag
    assert EVENTS[LedgerTag.AuthLoginSucceeded][:2] == ("110114", "110122")
    assert EVENTS[LedgerTag.AuthSessionEnded][:2] == ("110114", "110123")
    assert EVENTS[LedgerTag.AccessBreakGlassStarted][:2] == ("110113", "110127")
    assert EVENTS[LedgerTag.AccessBreakGlassStopped][:2] == ("110113", "110138")


@pytest.fixture
def events(kura, clock):
    """A login, a break-glass read of a V-labelled record, its end, a logout."""
    with kura.unit_of_work(DOCTOR, "TREAT", origin="192.0.2.10") as ctx:
        ctx.record(LedgerTag.AuthLoginSucceeded, target=Target(kind="User", id="dr.sato"))
    clock.advance(seconds=5)
    with kura.unit_of_work(DOCTOR, "ETREAT", origin="192.0.2.10", break_glass_reason="心停止で搬送") as ctx:
        target = Target(kind="Patient", id="p1", patient_id="P00042", confidentiality="V")
        ctx.require(Action.RecordsRecordRead, target)
        ctx.record(LedgerTag.RecordsRecordRead, target=target, digest="ab" * 32)
    clock.advance(seconds=5)
    with kura.unit_of_work(DOCTOR, "ETREAT", origin="192.0.2.10") as ctx:
        ctx.end_break_glass("P00042")  # the emergency is over before its time ran out
    clock.advance(seconds=5)
    with kura.unit_of_work(DOCTOR, "TREAT", origin="192.0.2.10") as ctx:
        ctx.record(LedgerTag.AuthSessionEnded, target=Target(kind="User", id="dr.sato"),
                   reason="logged out\nby the user")
    return kura


def _export(kura, fmt, **kw) -> str:
    with kura.unit_of_work(AUDITOR, "HOPERAT") as ctx:
        return "".join(export_entries(ctx, fmt=fmt, **kw))


def test_r23_csv_has_every_field_and_both_hashes(events):
    rows = list(csv.DictReader(io.StringIO(_export(events, "csv"))))
    with events.sessions() as s:
        n = ledger.count(s)
    assert len(rows) == n  # every entry, including this export's own (R25)
    assert {"seq", "at", "tag", "actor_name", "origin", "patient_id", "digest", "leaf_hash", "chain_hash"} <= set(rows[0])
    read = next(r for r in rows if r["tag"] == LedgerTag.RecordsRecordRead)
    assert read["patient_id"] == "P00042" and read["digest"] == "ab" * 32 and read["origin"] == "192.0.2.10"
    assert re.fullmatch(r"[0-9a-f]{64}", read["leaf_hash"]) and read["at"].endswith("Z")
    assert rows[-1]["tag"] == LedgerTag.AuditLedgerExported and rows[-1]["actor_name"] == "kansa"
    login = next(r for r in rows if r["tag"] == LedgerTag.AuthLoginSucceeded)
    assert (login["event_id"], login["event_type_code"], login["event_name_ja"], login["event_name_en"]) == (
        "110114", "110122", "ログイン", "Login")


def test_r28_fhir_bundle_of_audit_events_validates_as_r4(events):
    from fhir.resources.R4B.auditevent import AuditEvent
    from fhir.resources.R4B.bundle import Bundle

    doc = json.loads(_export(events, "fhir"))
    bundle = Bundle.model_validate(doc)
    assert bundle.type == "collection" and len(bundle.entry) >= 5
    by_tag = {}
    for entry in doc["entry"]:
        ev = AuditEvent.model_validate(entry["resource"])
        tag = next(c["code"] for c in entry["resource"]["subtype"] if c["system"] == "urn:kura:ledger-tag")
        by_tag.setdefault(tag, ev)
    login = by_tag[LedgerTag.AuthLoginSucceeded]
    assert (login.type.code, login.subtype[0].code, login.action, login.outcome) == ("110114", "110122", "E", "0")
    agent = login.agent[0]
    assert agent.requestor is True and agent.name == "dr.sato" and agent.network.address == "192.0.2.10"
    assert agent.network.type == "2" and agent.purposeOfUse[0].coding[0].code == "TREAT"
    assert login.source.observer.display.startswith("kura@")
    glass = by_tag[LedgerTag.AccessBreakGlassStarted]
    assert (glass.type.code, glass.subtype[0].code) == ("110113", "110127")
    assert "心停止で搬送" in glass.outcomeDesc
    assert by_tag[LedgerTag.AccessBreakGlassStopped].subtype[0].code == "110138"
    read = by_tag[LedgerTag.RecordsRecordRead]
    assert (read.type.code, read.action) == ("110110", "R")
    assert any(e.what.reference == "Patient/P00042" and e.role.code == "1" for e in read.entity)
    logout = by_tag[LedgerTag.AuthSessionEnded]
    assert logout.subtype[0].code == "110123"
    assert by_tag[LedgerTag.AuditLedgerExported].type.code == "110106"


SYSLOG = re.compile(r"<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (\S+) kura - IHE\+RFC-3881 - \ufeff(.*)")


def test_r28_syslog_lines_carry_dicom_audit_messages(events):
    lines = _export(events, "syslog").splitlines()
    assert len(lines) >= 5
    messages = {}
    for line in lines:
        m = SYSLOG.fullmatch(line)
        assert m, line[:120]
        assert int(m.group(1)) in (84, 85)  # authpriv.warning for alerts, authpriv.notice otherwise
        xml = m.group(4)
        assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?><AuditMessage>')
        root = ET.fromstring(xml.encode("utf-8"))
        assert [c.tag for c in root][:1] == ["EventIdentification"]
        order = [c.tag for c in root]
        assert order.index("ActiveParticipant") < order.index("AuditSourceIdentification") < \
            order.index("ParticipantObjectIdentification")
        ident = root.find("EventIdentification")
        tag = next(d.get("value") for d in root.iter("ParticipantObjectDetail") if d.get("type") == "kura-ledger-tag")
        messages[base64.b64decode(tag).decode()] = (root, ident)
    root, ident = messages[LedgerTag.AuthLoginSucceeded]
    assert ident.find("EventID").get("csd-code") == "110114"
    assert ident.find("EventTypeCode").get("csd-code") == "110122"
    assert ident.get("EventActionCode") == "E" and ident.get("EventOutcomeIndicator") == "0"
    who = root.find("ActiveParticipant")
    assert who.get("UserName") == "dr.sato" and who.get("UserIsRequestor") == "true"
    assert who.get("NetworkAccessPointID") == "192.0.2.10" and who.get("NetworkAccessPointTypeCode") == "2"
    assert root.find("AuditSourceIdentification").get("AuditSourceID").startswith("kura@")
    root, ident = messages[LedgerTag.AccessBreakGlassStarted]
    assert ident.find("EventID").get("csd-code") == "110113"
    assert ident.find("EventTypeCode").get("csd-code") == "110127"
    root, ident = messages[LedgerTag.RecordsRecordRead]
    patient = [p for p in root.findall("ParticipantObjectIdentification") if p.get("ParticipantObjectTypeCodeRole") == "1"]
    assert patient and patient[0].get("ParticipantObjectID") == "P00042"
    root, ident = messages[LedgerTag.AuthSessionEnded]
    assert ident.find("EventOutcomeDescription").text == "logged out\nby the user"  # newline kept, line intact


def test_r28_an_empty_range_is_a_bundle_without_entries(events):
    from fhir.resources.R4B.bundle import Bundle

    far = dt.datetime(2001, 1, 1, tzinfo=dt.timezone.utc)
    doc = json.loads(_export(events, "fhir", since=far, until=far + dt.timedelta(days=1)))
    assert "entry" not in doc and Bundle.model_validate(doc).type == "collection"
    assert _export(events, "syslog", since=far, until=far + dt.timedelta(days=1)) == ""


def test_export_filters_by_time(events, clock):
    everything = list(csv.DictReader(io.StringIO(_export(events, "csv"))))
    t = dt.datetime.fromisoformat(everything[1]["at"].replace("Z", "+00:00"))
    some = list(csv.DictReader(io.StringIO(_export(events, "csv", since=t, until=t + dt.timedelta(seconds=1)))))
    assert some and all(r["at"] == everything[1]["at"] for r in some)


def test_r25_export_needs_the_audit_role_and_a_refusal_is_recorded(events):
    with pytest.raises(Denied):
        with events.unit_of_work(DOCTOR, "TREAT") as ctx:
            export_entries(ctx, fmt="csv")
    with pytest.raises(Invalid):
        with events.unit_of_work(AUDITOR, "HOPERAT") as ctx:
            export_entries(ctx, fmt="xml")
    rows = list(csv.DictReader(io.StringIO(_export(events, "csv"))))
    denial = [r for r in rows if r["tag"] == LedgerTag.AccessRequestDenied]
    assert denial and denial[-1]["actor_name"] == "dr.sato" and "audit:ledger:export" in denial[-1]["detail"]
