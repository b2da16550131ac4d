"""The one access decision (R13 deny by default, R14 labels, R15 separation, R17, R18)."""

import pytest

from kura.access.actions import Action
from kura.access.policy import Subject, Target, check
from kura.access.roles import ROLE_GRANTS, Role


def subj(*roles, clearance="N"):
    return Subject(id="u", name="u", roles=frozenset(Role(r) for r in roles), clearance=clearance)


def test_r13_deny_by_default():
    d = check(subject=subj(), action=Action.RecordsRecordRead, target=Target(kind="Patient"), purpose="TREAT")
    assert not d.allowed and "no role" in d.reason
    assert not check(subject=None, action=Action.RecordsRecordRead, target=Target(kind="Patient"), purpose="TREAT").allowed


def test_r14_clearance_against_label():
    t = Target(kind="Patient", confidentiality="R")
    assert not check(subject=subj("physician"), action=Action.RecordsRecordRead, target=t, purpose="TREAT").allowed
    assert check(subject=subj("physician", clearance="R"), action=Action.RecordsRecordRead, target=t, purpose="TREAT").allowed


def test_r18_break_glass_for_clinical_roles_only_with_reason():
    t = Target(kind="Patient", confidentiality="V")
    d = check(subject=subj("physician"), action=Action.RecordsRecordRead, target=t, purpose="ETREAT",
              break_glass_reason="救急搬送、意識なし")
    assert d.allowed and d.break_glass and "break-glass" in d.reason
    d = check(subject=subj("clerk"), action=Action.RecordsRecordRead, target=t, purpose="ETREAT",
              break_glass_reason="急ぎ")
    assert not d.allowed
    d = check(subject=subj("nurse"), action=Action.RecordsRecordRead, target=t, purpose="ETREAT",
              break_glass_reason="   ")
    assert not d.allowed and d.needs_break_glass


def test_class_scope_excludes_roles():
    t = Target(kind="Patient", scope_roles=frozenset({"physician"}), class_code="seishin")
    assert not check(subject=subj("clerk"), action=Action.RecordsRecordRead, target=t, purpose="TREAT").allowed
    assert check(subject=subj("physician"), action=Action.RecordsRecordRead, target=t, purpose="TREAT").allowed


def test_r15_r17_separation_of_duties():
    readers = {role for role, grants in ROLE_GRANTS.items() if Action.RecordsRecordRead in grants}
    assert Role.admin not in readers and Role.operations not in readers and Role.auditor not in readers
    ledger_readers = {role for role, grants in ROLE_GRANTS.items() if Action.AuditLedgerRead in grants}
    assert ledger_readers == {Role.auditor}
    user_managers = {role for role, grants in ROLE_GRANTS.items() if Action.AdminUserManage in grants}
    assert user_managers == {Role.admin}


def test_r17_the_console_operator_reads_no_records_nor_images(monkeypatch):
    from kura.access.console import console_operator
    monkeypatch.setenv("USER", "kura-svc")
    monkeypatch.delenv("SUDO_USER", raising=False)
    console = console_operator()
    assert console.name == "console:kura-svc" and Role.admin in console.roles
    for action in (Action.RecordsRecordRead, Action.RecordsRecordSearch, Action.ImagingStudyRead,
                   Action.ImagingStudySearch):
        for purpose, reason in (("TREAT", None), ("ETREAT", "急ぎ")):
            d = check(subject=console, action=action, target=Target(kind="Patient"), purpose=purpose,
                      break_glass_reason=reason)
            assert not d.allowed, (action, purpose)


@pytest.mark.parametrize("enum_path", ["kura.access.actions:Action", "kura.ledger.tags:LedgerTag"])
def test_enums_are_alphabetised_and_follow_the_scheme(enum_path):
    import importlib
    module, name = enum_path.split(":")
    enum = getattr(importlib.import_module(module), name)
    names = [m.name for m in enum]
    assert names == sorted(names)
    for member in enum:
        assert len(member.value.split(":")) == 3, member
