"""The demo's 医事 data: about 200 synthetic patients with their insurance, visits, charges,
invoices and documents — entered through the records services as the demo users, so the
ledger shows the activity a real day would leave: the clerk (医事課) registers, enters and
confirms; the doctor writes referral letters and the restricted psychiatry visits; a senior
clerk with clearance V registers the staff/VIP patients. Some records are corrected after
confirmation, with a reason.

Everything is synthetic and deterministic (random.Random(seed)): names are common Japanese
surnames and given names of the patient's generation, 保険者番号 carry a valid check digit,
charges use real 診療行為コード of the レセプト電算処理システム.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import random
import secrets
from typing import Callable

from sqlalchemy import select

from kura.errors import Conflict
from kura.identity import service as identity
from kura.identity.models import User
from kura.records import resources as R
from kura.records import service as records

__all__ = ["DESCRIPTION", "STEPS", "PATIENTS", "seed", "plan", "PlannedPatient", "SENIOR_CLERK"]

PATIENTS = 200
DESCRIPTION = f"医事: {PATIENTS} 人の患者 (保険・受診・会計・請求・文書)"
STEPS = PATIENTS
SENIOR_CLERK = "iji-shunin"
BATCH = 10

SURNAMES = [
    ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"), ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"), ("小林", "コバヤシ"), ("加藤", "カトウ"),
    ("吉田", "ヨシダ"), ("山田", "ヤマダ"), ("佐々木", "ササキ"), ("山口", "ヤマグチ"), ("松本", "マツモト"),
    ("井上", "イノウエ"), ("木村", "キムラ"), ("林", "ハヤシ"), ("斎藤", "サイトウ"), ("清水", "シミズ"),
    ("山崎", "ヤマザキ"), ("森", "モリ"), ("池田", "イケダ"), ("橋本", "ハシモト"), ("阿部", "アベ"),
    ("石川", "イシカワ"), ("山下", "ヤマシタ"), ("中島", "ナカジマ"), ("石井", "イシイ"), ("小川", "オガワ"),
    ("前田", "マエダ"), ("岡田", "オカダ"), ("長谷川", "ハセガワ"), ("藤田", "フジタ"), ("後藤", "ゴトウ"),
    ("近藤", "コンドウ"), ("村上", "ムラカミ"), ("遠藤", "エンドウ"), ("青木", "アオキ"), ("坂本", "サカモト"),
    ("福田", "フクダ"), ("太田", "オオタ"), ("西村", "ニシムラ"), ("藤井", "フジイ"), ("金子", "カネコ"),
    ("岡本", "オカモト"), ("藤原", "フジワラ"), ("中野", "ナカノ"), ("三浦", "ミウラ"), ("原田", "ハラダ"),
    ("中川", "ナカガワ"), ("松田", "マツダ"), ("竹内", "タケウチ"), ("小野", "オノ"), ("田村", "タムラ"),
    ("中山", "ナカヤマ"), ("和田", "ワダ"), ("石田", "イシダ"), ("森田", "モリタ"), ("上田", "ウエダ"),
]

# Given names by generation: born up to 1960, 1961–1990, after 1990.
GIVEN = {
    "male": [
        [("清", "キヨシ"), ("茂", "シゲル"), ("勇", "イサム"), ("進", "ススム"), ("博", "ヒロシ"), ("正男", "マサオ"),
         ("和夫", "カズオ"), ("実", "ミノル"), ("昭", "アキラ"), ("勝", "マサル"), ("三郎", "サブロウ"), ("武", "タケシ")],
        [("誠", "マコト"), ("浩", "ヒロシ"), ("隆", "タカシ"), ("健一", "ケンイチ"), ("大輔", "ダイスケ"),
         ("直樹", "ナオキ"), ("秀樹", "ヒデキ"), ("達也", "タツヤ"), ("和也", "カズヤ"), ("拓也", "タクヤ"),
         ("修", "オサム"), ("哲也", "テツヤ")],
        [("翔太", "ショウタ"), ("蓮", "レン"), ("大翔", "ヒロト"), ("陽翔", "ハルト"), ("悠真", "ユウマ"),
         ("湊", "ミナト"), ("樹", "イツキ"), ("悠人", "ユウト"), ("颯太", "ソウタ"), ("健太", "ケンタ"),
         ("亮", "リョウ"), ("陸", "リク")],
    ],
    "female": [
        [("和子", "カズコ"), ("幸子", "サチコ"), ("節子", "セツコ"), ("洋子", "ヨウコ"), ("恵子", "ケイコ"),
         ("京子", "キョウコ"), ("久子", "ヒサコ"), ("敏子", "トシコ"), ("静江", "シズエ"), ("文子", "フミコ"),
         ("千代子", "チヨコ"), ("トメ", "トメ")],
        [("由美", "ユミ"), ("久美子", "クミコ"), ("真由美", "マユミ"), ("明美", "アケミ"), ("智子", "トモコ"),
         ("直美", "ナオミ"), ("裕子", "ユウコ"), ("恵", "メグミ"), ("美穂", "ミホ"), ("陽子", "ヨウコ"),
         ("千尋", "チヒロ"), ("愛", "アイ")],
        [("美咲", "ミサキ"), ("陽菜", "ヒナ"), ("結衣", "ユイ"), ("凛", "リン"), ("結菜", "ユイナ"),
         ("芽依", "メイ"), ("葵", "アオイ"), ("さくら", "サクラ"), ("彩", "アヤ"), ("舞", "マイ"),
         ("花子", "ハナコ"), ("七海", "ナナミ")],
    ],
}

DEPARTMENTS = ["内科", "内科", "内科", "整形外科", "外科", "皮膚科", "眼科", "耳鼻咽喉科"]
PREFECTURES = ["13", "13", "13", "11", "12", "14", "27", "23"]  # 東京・埼玉・千葉・神奈川・大阪・愛知
CORRECTIONS = {
    "Coverage": "保険証の再確認により記号・番号の入力誤りを訂正",
    "Patient": "本人確認書類 (マイナ保険証) により生年月日を訂正",
    "Invoice": "会計の再計算 (外来管理加算の算定漏れ) による請求額の訂正",
}


def _user(session, username: str, role: str) -> User:
    user = session.scalar(select(User).where(User.username == username, User.disabled.is_(False)))
    if user is None:
        user = next((u for u in session.scalars(select(User).where(User.disabled.is_(False)).order_by(User.created_at))
                     if role in u.role_set), None)
    if user is None:
        raise Conflict(f"the demo needs an active {role} account (e.g. {username!r})")
    return user


def _insurer(rng: random.Random, kind: str) -> tuple[str, str, str]:
    """(保険者番号, 記号, 番号) in the formats of 協会けんぽ/健保組合, 国保 and 後期高齢者医療."""
    pref = rng.choice(PREFECTURES)
    if kind == "kokuho":
        first = pref + f"{rng.randint(1, 99):02d}" + str(rng.randint(0, 9))
        return first[:5] + R.insurer_check_digit(first[:5]), rng.choice(["国", "千代", "みなと", "中"]), \
            f"{rng.randint(1, 9999999):07d}"
    if kind == "koki":
        first = "39" + pref + f"{rng.randint(1, 99):03d}"
        return first + R.insurer_check_digit(first), "", f"{rng.randint(10000000, 99999999)}"
    law = rng.choice(["01", "01", "06", "06", "31"])  # 協会けんぽ, 健保組合, 共済
    first = law + pref + f"{rng.randint(0, 999):03d}"
    return first + R.insurer_check_digit(first), f"{rng.randint(1, 9999999)}", f"{rng.randint(1, 999)}"


@dataclasses.dataclass(frozen=True)
class PlannedPatient:
    mrn: str
    family: str
    family_kana: str
    given: str
    given_kana: str
    gender: str
    birth: dt.date
    vip: bool
    kind: str
    insurer: str
    symbol: str
    number: str
    share: float
    department: str
    visits: list  # [(datetime (hospital time), [診療行為コード, …])]
    confirm: bool
    correct: str | None  # record type corrected after confirmation
    reconfirm: bool
    psych: str | None  # date of a restricted psychiatry visit
    letter: str | None  # "draft" | "confirmed": a 紹介状 by the doctor


def plan(patients: int, *, seed: int, today: dt.date, letters: int = 12) -> list[PlannedPatient]:
    """What the demo will enter, decided up front from `seed` alone (deterministic)."""
    rng = random.Random(seed)
    letter_every = max(1, patients // max(1, letters))
    out = []
    for i in range(patients):
        gender = "female" if rng.random() < 0.52 else "male"
        birth = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randint(0, (dt.date(2020, 12, 31) - dt.date(1930, 1, 1)).days))
        gen = 0 if birth.year <= 1960 else 1 if birth.year <= 1990 else 2
        family, family_kana = rng.choice(SURNAMES)
        given, given_kana = rng.choice(GIVEN[gender][gen])
        age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
        vip = i % 50 == 17  # a few staff/VIP patients (職員・VIP, V)
        kind = "koki" if age >= 75 else rng.choice(["shaho", "shaho", "kokuho"])
        insurer, symbol, number = _insurer(rng, kind)
        visits = []
        for n, when in enumerate(sorted(
                dt.datetime.combine(today - dt.timedelta(days=rng.randint(1, 600)),
                                    dt.time(rng.randint(9, 16), rng.choice([0, 15, 30, 45])))
                for _ in range(rng.randint(1, 4)))):
            codes = ["111000110"] if n == 0 else ["112007410"] + (["112011010"] if rng.random() < 0.6 else [])
            if rng.random() < 0.4:
                codes += rng.sample(["160008010", "160054710", "160019410"], rng.randint(1, 2)) + ["160061810"]
            if rng.random() < 0.25:
                codes += ["160000310", "160061710"]
            if rng.random() < 0.7:
                codes.append("120002910")
            visits.append((when, codes))
        confirm = rng.random() < 0.85
        correct = rng.choice(sorted(CORRECTIONS)) if confirm and i % 9 == 4 else None
        out.append(PlannedPatient(
            mrn=f"{10000001 + i:08d}", family=family, family_kana=family_kana, given=given, given_kana=given_kana,
            gender=gender, birth=birth, vip=vip, kind=kind, insurer=insurer, symbol=symbol, number=number,
            share=0.1 if kind == "koki" else 0.2 if age < 6 or age >= 70 else 0.3,
            department="小児科" if age < 15 else rng.choice(DEPARTMENTS), visits=visits, confirm=confirm,
            correct=correct, reconfirm=bool(correct) and i % 2 == 0,
            psych=(today - dt.timedelta(days=rng.randint(1, 90))).isoformat() if i % 23 == 11 and not vip else None,
            letter=(("confirmed" if rng.random() < 0.7 else "draft") if i % letter_every == 3 and not vip else None)))
    return out


def _letter(patient: str, kana: str, birth: str, department: str, when: dt.date) -> bytes:
    """A one-page 紹介状 (referral letter) as a small PDF."""
    from kura.records.printout import Section, render_pdf
    body = (f"平素より大変お世話になっております。下記の患者さんをご紹介いたします。"
            f"{department}にて経過観察中のところ、精査加療をお願いしたくご紹介申し上げます。"
            f"ご多忙のところ恐縮ですが、よろしくお願い申し上げます。")
    pdf, _ = render_pdf(title="診療情報提供書 (紹介状)", subtitle=f"{when:%Y年%m月%d日}",
                        sections=[Section("患者", [("氏名", f"{patient}（{kana}）"), ("生年月日", birth)]),
                                  Section("紹介目的", [], note=body),
                                  Section("紹介元", [("医療機関", "蔵総合病院 (デモ)"), ("診療科", department)])],
                        mark="デモ用の架空データ")
    return pdf


def seed(kura, progress: Callable[..., None] = lambda n=1: None, *, patients: int = PATIENTS,
         seed: int = 2026, letters: int = 12) -> dict[str, int]:
    """Fill the home with `patients` synthetic patients. Needs the demo users (clerk, doctor,
    admin) and the seed management classes. Returns counts of what was stored."""
    with kura.sessions() as session:
        clerk = identity.subject_of(_user(session, "clerk", "clerk"))
        doctor = identity.subject_of(_user(session, "doctor", "physician"))
        admin = identity.subject_of(_user(session, "admin", "admin"))
        senior = session.scalar(select(User).where(User.username == SENIOR_CLERK))
    if senior is None:
        with kura.unit_of_work(admin, "HSYSADMIN") as ctx:
            user, _ = identity.register(ctx, username=SENIOR_CLERK, display_name="医事課 主任 (VIP 担当)",
                                        roles=["clerk"], clearance="V", department="医事課",
                                        password=secrets.token_urlsafe(24))  # nobody signs in as them
            senior_subject = identity.subject_of(user)
    else:
        senior_subject = identity.subject_of(senior)

    today = kura.clock.now().astimezone(dt.timezone(dt.timedelta(hours=9))).date()
    counts = {"patients": 0, "records": 0, "confirmed": 0, "corrected": 0, "restricted": 0, "documents": 0}
    planned = plan(patients, seed=seed, today=today, letters=letters)
    # A handful of patients per transaction: one commit (fsync) each, not one per patient.
    for chunk in range(0, len(planned), BATCH):
        group = planned[chunk:chunk + BATCH]
        ids: dict[str, str] = {}
        for who, members in ((clerk, [pp for pp in group if not pp.vip]),
                             (senior_subject, [pp for pp in group if pp.vip])):
            if members:
                with kura.unit_of_work(who, "HPAYMT", origin="demo") as ctx:
                    for pp in members:
                        ids[pp.mrn] = _enter(ctx, pp, counts)
        clinical = [pp for pp in group if pp.psych or pp.letter]
        if clinical:
            with kura.unit_of_work(doctor, "TREAT", origin="demo") as ctx:
                for pp in clinical:
                    _clinical(ctx, pp, ids[pp.mrn], counts)
        progress(len(group))
    return counts


def _enter(ctx, pp: PlannedPatient, counts: dict[str, int]) -> str:
    """The clerk's part: register, insure, visits, charges, invoices; confirm; correct."""
    label = "V" if pp.vip else None
    made = []
    p = records.create(ctx, R.patient(mrn=pp.mrn, family=pp.family, given=pp.given,
                                      family_kana=pp.family_kana, given_kana=pp.given_kana,
                                      birth_date=pp.birth.isoformat(), gender=pp.gender, label=label, staff=pp.vip))
    made.append(p)
    made.append(records.create(ctx, R.coverage(patient_id=p.id, kind=pp.kind, insurer=pp.insurer,
                                               symbol=pp.symbol, number=pp.number,
                                               start=f"{pp.visits[0][0].year}-04-01", label=label)))
    for when, codes in pp.visits:
        stamp = when.isoformat(timespec="seconds") + "+09:00"
        e = records.create(ctx, R.encounter(patient_id=p.id, start=stamp, department=pp.department, label=label))
        day = when.date().isoformat()
        charges = [records.create(ctx, R.charge_item(patient_id=p.id, code=c, when=day, encounter_id=e.id,
                                                     label=label)) for c in codes]
        points = sum(R.CHARGE_CODES[c][1] for c in codes)
        made += [e, *charges, records.create(ctx, R.invoice(
            patient_id=p.id, date=day, total_yen=int(round(points * 10 * pp.share, -1)),
            charge_ids=[c.id for c in charges], label=label))]
    if pp.confirm:
        for v in made:
            records.confirm(ctx, v.rtype, v.id)
        counts["confirmed"] += len(made)
        if pp.correct:  # a correction after confirmation, with its reason (R36)
            target = next(v for v in made if v.rtype == pp.correct)
            cur = records.read(ctx, target.rtype, target.id).resource()
            if target.rtype == "Coverage":
                sid = cur["subscriberId"]
                cur["subscriberId"] = sid[:-1] + str((int(sid[-1]) + 1) % 10)
                cur["identifier"][0]["value"] = cur["subscriberId"]
            elif target.rtype == "Patient":
                cur["birthDate"] = (pp.birth + dt.timedelta(days=1)).isoformat()
            else:
                cur["totalGross"]["value"] = int(cur["totalGross"]["value"]) + 160
            records.update(ctx, target.rtype, target.id, cur, reason=CORRECTIONS[target.rtype])
            if pp.reconfirm:
                records.confirm(ctx, target.rtype, target.id)
            counts["corrected"] += 1
    counts["records"] += len(made)
    counts["patients"] += 1
    counts["restricted"] += len(made) if pp.vip else 0
    return p.id


def _clinical(ctx, pp: PlannedPatient, pid: str, counts: dict[str, int]) -> None:
    """The doctor's part: a restricted psychiatry visit (精神科・感染症, R), a 紹介状."""
    if pp.psych:
        e = records.create(ctx, R.encounter(patient_id=pid, start=f"{pp.psych}T14:00:00+09:00",
                                            department="精神科", label="R"))
        records.confirm(ctx, "Encounter", e.id)
        counts["restricted"] += 1
        counts["records"] += 1
    if pp.letter:
        when = pp.visits[-1][0]
        pdf = _letter(f"{pp.family} {pp.given}", f"{pp.family_kana} {pp.given_kana}", pp.birth.isoformat(),
                      pp.department, when.date())
        d = records.create(ctx, R.document_reference(
            patient_id=pid, title="紹介状", date=when.isoformat(timespec="seconds") + "+09:00",
            description=f"{pp.department}から地域の医療機関への診療情報提供書",
            data_b64=base64.b64encode(pdf).decode()))
        if pp.letter == "confirmed":
            records.confirm(ctx, "DocumentReference", d.id)
        counts["documents"] += 1
        counts["records"] += 1
