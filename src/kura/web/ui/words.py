"""Words for codes on the screens: action names (権限表, 403 pages, the ledger) and the
core's English messages as the Japanese UI shows them.

The core speaks English message ids (the API's language); a screen passes every message it
shows through `say`, which finds its translation — exactly, or by pattern for the messages
that carry values (a user name, an action, a label).
"""

from __future__ import annotations

import re
from typing import Callable

__all__ = ["AREAS", "action_name", "area_of", "say", "audit_reason"]

# area -> (ja, en), in the order the permission table groups them.
AREAS = {"records": ("医事記録", "Records"), "imaging": ("画像", "Images"), "audit": ("監査", "Audit"),
         "admin": ("システム管理", "Administration"), "ops": ("運用管理", "Operations"),
         "self": ("自分のアカウント", "Own account")}
_RESOURCES = {"class": "管理区分", "peer": "DICOM 接続先", "permissions": "権限表", "user": "利用者",
              "alert": "アラート", "checkpoint": "署名付きチェックポイント", "ledger": "監査ログ",
              "instance": "画像", "study": "画像検査", "backup": "バックアップ", "key": "マスター鍵 (復旧キット)",
              "replica": "複製", "scrub": "保存データの検査", "selfcheck": "自己点検", "status": "運用状況",
              "record": "記録", "password": "パスワード", "session": "セッション", "hold": "訴訟ホールド",
              "disposal": "廃棄", "incident": "インシデント", "export": "持ち出し", "label": "機密区分",
              "patient": "患者", "software": "ソフトウェア", "request": "利用申請", "training": "研修記録",
              "duties": "利用者の責務",
              "report": "監査レビュー報告", "review": "権限の棚卸", "archive": "画像保管庫",
              "equipment": "機器・媒体", "media": "患者提供媒体", "entry": "台帳", "emergency": "緊急遮断",
              "print": "印刷・持ち出し台帳"}
_VERBS = {"manage": "管理", "read": "閲覧", "signoff": "確認 (サインオフ)", "create": "作成", "export": "書き出し",
          "verify": "検証", "store": "受信・保存", "confirm": "確定", "print": "印刷", "return": "差し戻し",
          "search": "検索", "prune": "整理", "restore": "復元", "run": "実行", "update": "訂正・更新",
          "change": "変更", "end": "終了", "place": "設定", "lift": "解除", "approve": "承認", "dispose": "実施",
          "label": "設定", "report": "登録", "decide": "承認・却下", "acknowledge": "同意", "identify": "特定",
          "generate": "作成", "reconcile": "患者照合", "correct": "患者情報の訂正",
          "request": "申請", "switch": "実行・解除"}
_SPECIAL = {"imaging:study:confirm": "画像検査の確定 (検像)", "imaging:instance:store": "画像の受信・保存",
            "records:record:update": "記録の更新・訂正", "records:record:export": "記録の書き出し (開示)",
            "ops:scrub:run": "保存データの検査 (スクラブ)", "ops:selfcheck:run": "自己点検の実行",
            "ops:status:read": "運用状況の閲覧", "self:password:change": "自分のパスワード変更",
            "self:session:end": "ログアウト", "ops:software:approve": "ソフトウェアの審査・承認 (使用開始の可否)",
            "admin:request:create": "利用申請 (アカウント・権限変更) の提出",
            "admin:duties:manage": "利用者の責務 (本文) の編集", "self:duties:acknowledge": "利用者の責務への同意",
            "imaging:study:reconcile": "画像検査の患者照合 (比較・紐付け)",
            "imaging:study:correct": "画像検査の患者情報の訂正",
            "imaging:archive:reconcile": "画像保管庫全体の患者照合 (kura images reconcile)"}


def area_of(action: str) -> str:
    return str(action).split(":", 1)[0]


def action_name(action: str, lang: str = "ja") -> str:
    """A person's name for an action code: records:record:read → 記録の閲覧 (ja) or
    'record: read' (en). Unknown parts fall back to the code's own words."""
    code = str(action)
    parts = code.split(":")
    if len(parts) != 3:
        return code
    _, resource, verb = parts
    if lang != "ja":
        return f"{resource}: {verb}"
    if code in _SPECIAL:
        return _SPECIAL[code]
    return f"{_RESOURCES.get(resource, resource)}の{_VERBS.get(verb, verb)}"


# (pattern of the core's English message, message id with fields); fields named `action` are
# shown by their action name, those named `field` translated as form labels.
_PATTERNS: list[tuple[re.Pattern, str]] = [(re.compile(p), m) for p, m in [
    (r"^Fill in: (?P<field>.+)$", "Fill in: %(field)s"),
    (r"^no role of (?P<user>\S+) grants (?P<action>\S+) on (?P<kind>\S+)$",
     "None of your roles allows this (%(action)s)."),
    (r"^clearance (?P<clearance>[NRV]) < label (?P<label>[NRV])(;.*)?$",
     "This record is labelled %(label)s, above your clearance %(clearance)s."),
    (r"^class (?P<cls>\S+) is outside the scope of .*$",
     "This record's management class (%(cls)s) is outside the scope of your roles."),
    (r"^\S+ is confirmed; a correction needs a reason.*$", "A correction of a confirmed record needs a reason."),
    (r"^not a date and time: .*$", "Not a date and time."),
    (r"^(?P<field>\w+): not a number$", "Not a number: %(field)s"),
    (r"^unknown procedure code .*$", "Unknown procedure code."),
    (r"^denied: (?P<rest>.+)$", "%(rest)s"),
    (r"^mark every account first \((?P<n>\d+) left.*$", "Mark every account first (%(n)s left)."),
    (r"^.* was signed off by (?P<who>\S+) already$", "It was signed off by %(who)s already."),
    (r"^the period must start before it ends and span at most (?P<n>\d+) days$",
     "The period must start before it ends and span at most %(n)s days."),
]]


def say(message: str, _: Callable[..., str], lang: str = "ja") -> str:
    """`message` in the UI language: its catalogue entry, else the first matching pattern's."""
    if not message:
        return ""
    exact = _(message)
    if exact != message or lang != "ja":
        return exact
    for pattern, msgid in _PATTERNS:
        m = pattern.match(message)
        if m:
            fields = {k: v for k, v in m.groupdict().items() if v is not None}
            if "action" in fields:
                fields["action"] = action_name(fields["action"], lang)
            if "field" in fields:
                fields["field"] = _(fields["field"])
            if "rest" in fields:
                fields["rest"] = say(fields["rest"], _, lang)
            return _(msgid, **fields)
    return exact


# The reasons the core writes into ledger entries, as the audit manager reads them: neutral
# (not "your clearance"), each naming who and what. Checked before the screens' patterns.
_AUDIT_PATTERNS: list[tuple[re.Pattern, str]] = [(re.compile(p), m) for p, m in [
    (r"^clearance (?P<clearance>[NRV]) < label (?P<label>[NRV]); break-glass by (?P<user>\S+): (?P<why>.*)$",
     "Label %(label)s above clearance %(clearance)s: break-glass by %(user)s, stating: %(why)s"),
    (r"^clearance (?P<clearance>[NRV]) < label (?P<label>[NRV]); under break-glass #(?P<seq>\d+) by (?P<user>\S+): (?P<why>.*)$",
     "Label %(label)s above clearance %(clearance)s: under break-glass #%(seq)s by %(user)s (%(why)s)"),
    (r"^clearance (?P<clearance>[NRV]) < label (?P<label>[NRV])$",
     "Label %(label)s is above the user's clearance %(clearance)s."),
    (r"^no role of (?P<user>\S+) grants (?P<action>\S+) on (?P<kind>\S+)$",
     "No role of %(user)s allows %(action)s."),
    (r"^(?P<n>\d+) failed logins within (?P<m>\d+) minutes$", "%(n)s failed logins within %(m)s minutes"),
    (r"^clearance (?P<clearance>[NRV]) < label (?P<label>[NRV]); break-glass is for clinical roles only$",
     "Label %(label)s above clearance %(clearance)s: break-glass is for clinical roles only."),
    (r"^class (?P<cls>\S+) is outside the scope of (?P<user>\S+)'s roles$",
     "Management class %(cls)s is outside the scope of the roles of %(user)s."),
]]


def audit_reason(message: str, _: Callable[..., str], lang: str = "ja") -> str:
    """A ledger entry's reason in the UI language, for the audit screens."""
    if not message or lang != "ja":
        return message or ""
    for pattern, msgid in _AUDIT_PATTERNS:
        m = pattern.match(message)
        if m:
            fields = {k: v for k, v in m.groupdict().items() if v is not None}
            if "action" in fields:
                fields["action"] = action_name(fields["action"], lang)
            return _(msgid, **fields)
    return say(message, _, lang)
