"""Define, change and look up management classes (管理区分, R51, R52).

The system administrator manages them; every stored record carries one, defaulting per
record type. SEED is what a new home starts with.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from kura.access.actions import Action
from kura.access.policy import CONFIDENTIALITY, Target
from kura.access.roles import Role
from kura.classes.legal import LEGAL_KINDS, legal_kind
from kura.classes.models import ManagementClass
from kura.errors import Invalid, NotFound
from kura.ledger.tags import LedgerTag
from kura.operation import Context

__all__ = ["SEED", "seed", "define", "list_classes", "get_class", "default_for", "target_for"]

_CLINICAL = "physician,nurse,technologist,clerk"
_ALL_CARE = "physician,nurse,technologist,clerk"

# code, 名称, name, confidentiality, scope, years, start, default_for, description, legal kind
SEED = [
    ("iji-kaikei", "医事会計", "Medical accounting", "N", "clerk,physician,nurse", 5, "completion",
     "Coverage,ChargeItem,Invoice,Encounter", "療担規則 §9 の3年を超えて5年保存", "ryotan"),
    ("kanja-kihon", "患者基本情報", "Patient demographics", "N", _ALL_CARE, 5, "completion",
     "Patient", "患者の基本情報・保険者番号等", "ryotan"),
    ("shinryoroku", "診療録", "Medical record", "N", "physician,nurse,clerk", 5, "completion",
     "DocumentReference", "医師法 §24: 完結の日から5年", "shinryoroku"),
    ("gazo", "画像", "Medical images", "N", "physician,nurse,technologist,workstation", 5, "completion",
     "ImagingStudy", "エックス線写真等: 療担規則 §9 は3年、推奨5年", "gazo"),
    ("seishin-kansen", "精神科・感染症", "Psychiatry and infectious disease", "R",
     "physician,nurse", 5, "completion", "", "制限付き: 明示的な権限 (R) が必要", "shinryoroku"),
    ("shokuin-vip", "職員・VIP", "Staff and VIP patients", "V", "physician,nurse,clerk", 5,
     "completion", "", "厳重制限: 閲覧には V 権限または緊急アクセス (break-glass)", "shinryoroku"),
    ("shinryo-shokiroku", "診療に関する諸記録", "Other clinical records", "N", _CLINICAL, 3,
     "completion", "", "医療法施行規則 §20(10): 2年、保険診療は3年", "shokiroku"),
]


def seed(ctx: Context) -> int:
    """Insert the seed classes that are missing; returns how many. Ledger: AdminClassDefined."""
    n = 0
    for code, ja, en, conf, scope, years, start, default, desc, kind in SEED:
        if ctx.session.get(ManagementClass, code) is None:
            ctx.session.add(ManagementClass(code=code, name_ja=ja, name_en=en, confidentiality=conf,
                                            scope_roles=scope, retention_years=years,
                                            retention_start=start, update_rule="versioned", legal_kind=kind,
                                            default_for=default, description=desc, updated_at=ctx.now()))
            ctx.session.flush()
            ctx.record(LedgerTag.AdminClassDefined, target=Target(kind="ManagementClass", id=code),
                       detail={"seed": True})
            n += 1
    return n


def _validate_retention(retention_years: int, retention_start: str, kind_code: str) -> None:
    """The hospital may lengthen a legal retention period, never shorten it (R52, R87–R89).

    Raises Invalid with the legal basis, in Japanese, as the administrator reads it."""
    kind = legal_kind(kind_code)
    if kind is None:
        raise Invalid(f"法定区分 {kind_code!r} は不明です (unknown legal kind; one of "
                      f"{', '.join(LEGAL_KINDS)})")
    if int(retention_years) < kind.years:
        raise Invalid(f"保存期間 {int(retention_years)} 年は、{kind.name_ja} の法定保存期間 {kind.years} 年 "
                      f"({kind.basis}) より短くできません。{kind.years} 年以上を指定してください。")
    if kind.years and retention_start != "completion":
        raise Invalid(f"{kind.name_ja} の法定保存期間は完結の日から数えます ({kind.basis})。"
                      "起算日は「完結日」にしてください。")


def _validate(confidentiality: str, scope_roles: Iterable[str], retention_years: int, retention_start: str) -> str:
    if confidentiality not in CONFIDENTIALITY:
        raise Invalid("confidentiality must be N, R or V")
    try:
        scope = sorted({Role(r.strip()) for r in scope_roles if r.strip()})
    except ValueError as exc:
        raise Invalid(f"unknown role in scope: {exc}") from None
    if not scope:
        raise Invalid("the usage scope needs at least one role")
    if not 1 <= int(retention_years) <= 100:
        raise Invalid("retention must be between 1 and 100 years")
    if retention_start not in ("completion", "creation"):
        raise Invalid("retention start must be completion (完結日) or creation")
    return ",".join(scope)


def define(ctx: Context, *, code: str, name_ja: str, name_en: str, confidentiality: str,
           scope_roles: Iterable[str], retention_years: int, retention_start: str = "completion",
           default_for: str = "", description: str = "", legal_kind: str | None = None) -> ManagementClass:
    """Create or change a class. `legal_kind` (kura.classes.legal) sets the minimum retention;
    None keeps a class's kind ("other" for a new one). Raises Invalid (retention below the
    legal minimum, with its basis), Denied. Ledger: AdminClassDefined/AdminClassChanged."""
    code = (code or "").strip().lower()
    if not code or len(code) > 64 or not all(c.isalnum() or c in "-_" for c in code):
        raise Invalid("class code must be 1–64 letters, digits, '-' or '_'")
    ctx.require(Action.AdminClassManage, Target(kind="ManagementClass", id=code))
    scope = _validate(confidentiality, scope_roles, retention_years, retention_start)
    if not name_ja.strip():
        raise Invalid("a class needs a Japanese name")
    mc = ctx.session.get(ManagementClass, code)
    kind = legal_kind if legal_kind is not None else (mc.legal_kind if mc else "other")
    _validate_retention(retention_years, retention_start, kind)
    tag = LedgerTag.AdminClassChanged if mc else LedgerTag.AdminClassDefined
    before = None
    if mc is None:
        mc = ManagementClass(code=code, update_rule="versioned")
        ctx.session.add(mc)
    else:
        before = {"confidentiality": mc.confidentiality, "scope": mc.scope_roles,
                  "retention_years": mc.retention_years, "legal_kind": mc.legal_kind}
    mc.name_ja, mc.name_en = name_ja.strip()[:200], (name_en or name_ja).strip()[:200]
    mc.confidentiality, mc.scope_roles = confidentiality, scope
    mc.retention_years, mc.retention_start, mc.legal_kind = int(retention_years), retention_start, kind
    mc.default_for, mc.description, mc.updated_at = default_for.strip(), description.strip(), ctx.now()
    ctx.session.flush()
    ctx.record(tag, target=Target(kind="ManagementClass", id=code),
               detail={"before": before, "confidentiality": confidentiality, "scope": scope,
                       "retention_years": int(retention_years), "legal_kind": kind})
    return mc


def list_classes(ctx: Context) -> list[ManagementClass]:
    ctx.require(Action.AdminClassRead, Target(kind="ManagementClass"))
    return list(ctx.session.scalars(select(ManagementClass).order_by(ManagementClass.code)))


def get_class(ctx: Context, code: str) -> ManagementClass:
    """No access check: the class of a record is part of that record's label."""
    mc = ctx.session.get(ManagementClass, code)
    if mc is None:
        raise NotFound(f"no management class {code!r}")
    return mc


def default_for(ctx: Context, record_type: str) -> ManagementClass:
    for mc in ctx.session.scalars(select(ManagementClass).order_by(ManagementClass.code)):
        if record_type in mc.default_for.split(","):
            return mc
    raise NotFound(f"no default management class for {record_type}")


def target_for(mc: ManagementClass, *, kind: str, id: str | None, patient_id: str | None,
               confidentiality: str | None = None) -> Target:
    """The access target of a record in class `mc`; a record's own label may only raise the class's."""
    label = mc.confidentiality
    if confidentiality and CONFIDENTIALITY.index(confidentiality) > CONFIDENTIALITY.index(label):
        label = confidentiality
    return Target(kind=kind, id=id, patient_id=patient_id, confidentiality=label,
                  scope_roles=mc.scope, class_code=mc.code)
