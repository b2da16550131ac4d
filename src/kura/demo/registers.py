"""The demo's equipment inventory (§7) and software review (§9): the servers, terminals, network
devices and media of a small hospital with their inspection logs — one server's inspection
overdue, one switch's findings still to follow up, the old image server retired through the disposal
register — and the running build of kura reviewed and approved by the operations manager.

Everything goes through the services as the demo users, so the ledger shows it as it happened.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable

from kura.disposal.retention import today
from kura.identity import service as identity
from kura.registers import equipment, inventory, software

__all__ = ["DESCRIPTION", "STEPS", "seed"]

DESCRIPTION = "機器台帳・点検・ソフトウェア審査"
STEPS = 3

# asset no, kind, name, location, responsible, serial, installed (days ago), interval,
# inspections: (days ago, inspector, result, findings, follow-up, closed note or None)
_Log = list[tuple[int, str, str, str, str, str | None]]
_ITEMS: list[tuple[str, str, str, str, str, str, int, int, _Log]] = [
    ("SV-001", "server", "画像サーバー 1号機 (Dell PowerEdge R650)", "本館 3F サーバー室", "情報システム課 運用 花子",
     "JP-7Q2X9F3", 700, 90, [(400, "運用 花子", "ok", "", "", None), (60, "運用 花子", "ok", "", "", None)]),
    ("SV-002", "server", "バックアップサーバー (Synology RS2423+)", "別館 1F 電算室", "情報システム課 運用 花子",
     "2350QXR014", 650, 90,
     [(300, "保守業者 東和システム 佐々木", "findings", "RAID ディスク 1 台に不良セクタ増加の警告",
       "ディスク交換 (保守契約で手配)", "ディスクを交換し、RAID 再構築の完了を確認"),
      (150, "運用 花子", "ok", "", "", None)]),  # last one 150 days ago, every 90 days: overdue
    ("NW-001", "network", "コアスイッチ (Cisco Catalyst 9300)", "本館 3F サーバー室", "情報システム課 運用 花子",
     "FCW2345L0AB", 900, 365,
     [(20, "保守業者 東和システム 佐々木", "findings", "ファームウェアが保守対象外の版 (脆弱性の修正あり)",
       "次回の計画停止でファームウェアを更新", None)]),
    ("PC-001", "terminal", "医事課 受付端末 1 (富士通 ESPRIMO D7013)", "本館 1F 医事課", "医事課 医事 由美",
     "YM8A001234", 400, 180, [(100, "運用 花子", "ok", "", "", None)]),
    ("PC-002", "terminal", "放射線科 検像端末 (EIZO RadiForce モニター付)", "本館 B1 放射線科", "放射線科 技師 誠",
     "YM8A005678", 380, 180, [(90, "技師 誠", "ok", "", "", None)]),
    ("MD-001", "medium", "バックアップ用外付け HDD (オフライン保管, 8TB)", "別館 1F 電算室 耐火金庫",
     "情報システム課 運用 花子", "WX12D34567", 200, 30, [(10, "運用 花子", "ok", "", "", None)]),
]
# The old image server whose disks the retention seeder disposed of (approved by a second person).
_RETIRED = ("SV-000", "server", "旧画像サーバー (PACS)", "本館 3F サーバー室", "情報システム課 運用 花子")


def _subject(ctx, username: str):
    return identity.subject_of(identity.get_user(ctx, username))


def seed(kura, progress: Callable[..., object] = lambda n=1: None) -> dict[str, int]:
    with kura.unit_of_work(None, "HOPERAT") as ctx:
        ops = _subject(ctx, "ops")
    with kura.unit_of_work(ops, "HOPERAT", origin="kura demo") as ctx:
        day = today(ctx)
        for asset, kind, name, where, who, serial, age, every, log in _ITEMS:
            e = inventory.add(ctx, asset_no=asset, kind=kind, name=name, location=where, responsible=who,
                              serial=serial, installed_on=(day - dt.timedelta(days=age)).isoformat(),
                              interval_days=every)
            for ago, inspector, result, findings, follow_up, closed in log:
                i = inventory.inspect(ctx, e.id, inspected_on=(day - dt.timedelta(days=ago)).isoformat(),
                                      inspector=inspector, result=result, findings=findings, follow_up=follow_up)
                if closed:
                    inventory.close_follow_up(ctx, i.id, note=closed)
    progress(1)
    with kura.unit_of_work(ops, "HOPERAT", origin="kura demo") as ctx:
        old = next((d for d in equipment.list_entries(ctx) if d.item_kind == "device" and d.approved_at), None)
        if old is not None:
            asset, kind, name, where, who = _RETIRED
            e = inventory.add(ctx, asset_no=asset, kind=kind, name=name, location=where, responsible=who,
                              serial=old.serial, installed_on=(day - dt.timedelta(days=2000)).isoformat())
            inventory.change(ctx, e.id, state="retired", disposal_id=old.id)
    progress(1)
    with kura.unit_of_work(ops, "HOPERAT", origin="kura demo") as ctx:
        review = software.submit(ctx)
        software.approve(ctx, review.id, comment="リリースノート・試験記録・SBOM を確認し、本番での使用を承認")
    progress(1)
    return {"equipment": len(_ITEMS) + 1}
