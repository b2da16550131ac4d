"""Printouts (見読性, R47): a record or a patient summary as PDF, every page watermarked.

Regulation §11 (export and printout control) and R72: a printout carries the printing user
and the time, and 院外持出禁止, on every page, against 覗き見・持ち出し・コピー; R69: printing
needs the explicit right (Action.RecordsRecordPrint) and is a ledger entry
(LedgerTag.RecordsRecordPrinted) naming the record, the patient and the SHA-256 of what was
handed out. The HTML print view of the screens records the same entry (`record_printed`).

Fonts: fpdf2 embeds a subset of IPAex Gothic (Debian fonts-ipaexfont-gothic), else Noto
Sans CJK JP (fonts-noto-cjk, an OpenType collection whose index 0 is the JP face).
"""

from __future__ import annotations

from collections.abc import Sequence

import dataclasses
import datetime as dt
import functools
import hashlib
import zoneinfo
from typing import Any
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

from kura.access.actions import Action
from kura.access.policy import Target
from kura.classes import service as classes
from kura.errors import Invalid
from kura.ledger.tags import LedgerTag
from kura.operation import Context
from kura.records import resources
from kura.records import service as records
from kura.records.store import Version, higher

__all__ = ["Printout", "Section", "WATERMARK", "find_font", "render_pdf", "render_listing", "print_record", "print_summary",
           "record_printed", "watermark_text", "target_of_version", "summary_sections", "record_sections",
           "class_name"]

WATERMARK = "院外持出禁止"
LOCAL_TZ = zoneinfo.ZoneInfo("Asia/Tokyo")

# (path, collection index) in order of preference.
# IPAex Gothic (TrueType) embeds in ~0.2 s; Noto Sans CJK (CFF in a 20 MB collection) works
# too but costs ~1.7 s per document, so it is the fallback.
FONT_CANDIDATES = [
    ("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf", 0),
    ("/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf", 0),
    ("/usr/share/fonts/truetype/fonts-japanese-gothic.ttf", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJKjp-Regular.otf", 0),
]


@dataclasses.dataclass(frozen=True)
class Section:
    """A heading and its rows: (label, value) pairs, or table rows under `columns`."""

    heading: str
    rows: Sequence[tuple[str, ...]]
    columns: tuple[str, ...] = ()
    note: str = ""
    widths: tuple[float, ...] = ()  # relative column widths (default: equal)


@dataclasses.dataclass(frozen=True)
class Printout:
    pdf: bytes
    filename: str
    sha256: str
    pages: int


@functools.cache
def find_font() -> tuple[str, int]:
    for path, index in FONT_CANDIDATES:
        if Path(path).exists():
            return path, index
    raise Invalid("no Japanese font for printouts: install fonts-noto-cjk (Debian)")


def watermark_text(user: str, at: dt.datetime) -> str:
    local = at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S +09:00")
    return f"{WATERMARK}  印刷: {user}  {local}"


class _Doc(FPDF):
    def __init__(self, *, title: str, mark: str, orientation: str = "P"):
        super().__init__(orientation=orientation, unit="mm", format="A4")
        self.kura_title, self.kura_mark = title, mark
        path, index = find_font()
        self.add_font("jp", "", path, collection_font_number=index)
        self.set_auto_page_break(auto=True, margin=22)
        self.set_margins(16, 24, 16)
        self.set_title(title)
        self.set_creator("kura")

    def header(self) -> None:
        # A plain line on top of every page; the diagonal mark is drawn by footer(), after
        # the page's content, so that no table background hides it.
        self.set_font("jp", size=8)
        self.set_text_color(160, 0, 0)
        self.set_xy(16, 9)
        self.cell(0, 5, self.kura_mark, align="L")
        self.set_text_color(0, 0, 0)
        self.set_xy(16, 15)

    def footer(self) -> None:
        # The watermark: diagonal across the middle, over the content, half transparent.
        with self.local_context(fill_opacity=0.35, text_color=(150, 150, 150)):
            self.set_font("jp", size=34)
            with self.rotation(35, x=self.w / 2, y=self.h / 2):
                self.text(self.w / 2 - self.get_string_width(WATERMARK) / 2, self.h / 2, WATERMARK)
        self.set_y(-14)
        self.set_font("jp", size=8)
        self.set_text_color(90, 90, 90)
        self.cell(0, 5, f"{self.kura_mark}    {self.page_no()} / {{nb}}", align="C")
        self.set_text_color(0, 0, 0)


def render_pdf(*, title: str, sections: list[Section], mark: str, subtitle: str = "") -> tuple[bytes, int]:
    """Lay `sections` out on A4 with the watermark `mark` on every page; (bytes, pages)."""
    doc = _Doc(title=title, mark=mark)
    doc.alias_nb_pages()
    doc.add_page()
    doc.set_font("jp", size=16)
    doc.multi_cell(0, 9, title, new_x="LMARGIN", new_y="NEXT")
    if subtitle:
        doc.set_font("jp", size=9)
        doc.multi_cell(0, 5, subtitle, new_x="LMARGIN", new_y="NEXT")
    width = doc.w - doc.l_margin - doc.r_margin
    for sec in sections:
        doc.ln(3)
        doc.set_font("jp", size=12)
        doc.set_fill_color(232, 238, 248)
        doc.multi_cell(0, 7, sec.heading, fill=True, new_x="LMARGIN", new_y="NEXT")
        doc.set_font("jp", size=9)
        if sec.note:
            doc.multi_cell(0, 5, sec.note, new_x="LMARGIN", new_y="NEXT")
        if not sec.rows:
            doc.multi_cell(0, 6, "（なし）", new_x="LMARGIN", new_y="NEXT")
            continue
        if sec.columns:
            n = len(sec.columns)
            with doc.table(col_widths=sec.widths or tuple([1] * n), width=width, line_height=5,
                           text_align="LEFT", first_row_as_headings=True,
                           headings_style=FontFace(emphasis="", fill_color=(236, 236, 234))) as table:
                table.row(list(sec.columns))
                for r in sec.rows:
                    table.row([str(c) for c in r])
        else:
            with doc.table(col_widths=(1, 3), width=width, line_height=5, text_align="LEFT",
                           first_row_as_headings=False) as table:
                for r in sec.rows:
                    table.row([str(c) for c in r])
    data = bytes(doc.output())
    return data, doc.page_no()


def _fit(doc: FPDF, text: str, width: float) -> str:
    """`text` cut with … to fit `width` mm in the current font (one line)."""
    text = " ".join(str(text).split())
    if doc.get_string_width(text) <= width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if doc.get_string_width(text[:mid] + "…") <= width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + "…"


def render_listing(*, title: str, mark: str, columns: Sequence[str], widths: Sequence[float],
                   rows: Sequence[Sequence[str]], subtitle: str = "", facts: Sequence[tuple[str, str]] = (),
                   note: str = "") -> tuple[bytes, int]:
    """A long listing (thousands of rows) on landscape A4: one line per row, cells cut with …
    to their column, the header repeated on every page, the watermark `mark` on every page.
    fpdf2's table() measures and wraps every cell, minutes for a few thousand rows; this
    lays a row out in one pass. (bytes, pages)"""
    doc = _Doc(title=title, mark=mark, orientation="L")
    doc.alias_nb_pages()
    doc.add_page()
    doc.set_font("jp", size=15)
    doc.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    doc.set_font("jp", size=9)
    if subtitle:
        doc.multi_cell(0, 5, subtitle, new_x="LMARGIN", new_y="NEXT")
    for label, value in facts:
        doc.cell(30, 5, label)
        doc.multi_cell(0, 5, value, new_x="LMARGIN", new_y="NEXT")
    if note:
        doc.multi_cell(0, 5, note, new_x="LMARGIN", new_y="NEXT")
    doc.ln(2)
    total = doc.w - doc.l_margin - doc.r_margin
    mm = [total * w / sum(widths) for w in widths]

    def header() -> None:
        doc.set_font("jp", size=8.5)
        doc.set_fill_color(236, 236, 234)
        for w, c in zip(mm, columns):
            doc.cell(w, 6, _fit(doc, c, w - 2), border="B", fill=True)
        doc.ln(6)

    header()
    doc.set_font("jp", size=8)
    if not rows:
        doc.cell(0, 6, "（なし）")
    for r in rows:
        if doc.get_y() + 5 > doc.page_break_trigger:
            doc.add_page()
            header()
            doc.set_font("jp", size=8)
        for w, c in zip(mm, r):
            doc.cell(w, 5, _fit(doc, c, w - 2), border="B")
        doc.ln(5)
    return bytes(doc.output()), doc.page_no()


# -- what a record and a summary look like on paper ----------------------------------------
def _versions_section(infos: list[records.VersionInfo]) -> Section:
    rows = []
    for i in infos:
        who = i.author
        if i.activity == "confirm":
            assert i.confirmed_by is not None  # a confirmation names who confirmed (service.confirm)
            who = i.confirmed_by
        if i.on_behalf_of:
            who += f"（{i.on_behalf_of} の代行）"
        at = i.at.astimezone(LOCAL_TZ) if i.at.tzinfo else i.at.replace(tzinfo=dt.timezone.utc).astimezone(LOCAL_TZ)
        rows.append((str(i.number), _ACT.get(i.activity, i.activity), _STATUS.get(i.status, i.status), who,
                     at.strftime("%Y-%m-%d %H:%M"), i.reason, i.sha256[:12] + "…"))
    return Section("更新履歴", rows, ("版", "操作", "確定状態", "実施者", "日時", "理由", "SHA-256"),
                   widths=(0.5, 0.8, 0.9, 1.3, 1.6, 2.6, 1.6))


_ACT = {"create": "作成", "update": "更新", "confirm": "確定"}
_STATUS = {"draft": "下書き", "confirmed": "確定済"}


_KIND = {"Patient": "患者", "Coverage": "保険", "Encounter": "受診", "ChargeItem": "診療行為", "Invoice": "請求",
         "DocumentReference": "文書", "ImagingStudy": "画像検査"}
_LABELS = {"N": "通常 (N)", "R": "制限 (R)", "V": "極秘 (V)"}


def record_sections(v: Version, infos: list[records.VersionInfo] | None = None, *,
                    class_name: str = "") -> list[Section]:
    """The record as a person reads it: its content in words, its 確定 state, label and class
    by name, the fingerprint, and the update history (no raw FHIR, no internal codes)."""
    res = v.resource()
    rows = resources.summary_rows(res)
    rows += [("版", f"第{v.number}版"), ("確定状態", _STATUS.get(v.status, v.status)),
             ("機密区分", _LABELS.get(v.confidentiality, v.confidentiality)), ("管理区分", class_name),
             ("SHA-256", v.sha256)]
    out = [Section("内容", [r for r in rows if r[1]])]
    if infos:
        out.append(_versions_section(infos))
    return out


def summary_sections(summary: dict[str, list[Version]]) -> list[Section]:
    patient = summary["patient"][0].resource() if summary["patient"] else {}
    out = [Section("患者基本情報", resources.summary_rows(patient))]

    def table(key: str, heading: str) -> None:
        rows = [(resources.title_of(v.resource()), _STATUS.get(v.status, v.status), f"第{v.number}版")
                for v in summary.get(key, [])]
        out.append(Section(heading, rows, ("内容", "確定状態", "版"), widths=(4, 1, 1)))

    table("coverage", "保険")
    table("encounters", "受診")
    table("charges", "診療行為 (会計)")
    table("invoices", "請求")
    table("documents", "文書")
    table("studies", "画像検査")
    return out


# -- service functions: check, render, record ---------------------------------------------
def target_of_version(ctx: Context, v: Version) -> Target:
    """The access target of a stored version (its class, and the higher of its own label and
    its patient's), as the store builds it (store.target_of)."""
    label = higher(v.confidentiality, v.patient_confidentiality)
    mc = classes.get_class(ctx, v.class_code) if v.class_code else None
    if mc is None:
        return Target(kind=v.rtype, id=v.id, patient_id=v.patient_id, confidentiality=label)
    return classes.target_for(mc, kind=v.rtype, id=v.id, patient_id=v.patient_id, confidentiality=label)


def record_printed(ctx: Context, target: Target, *, digest: str, detail: dict[str, Any], checked: bool = False) -> None:
    """Require the print right on `target` (unless the caller just did) and write the
    RecordsRecordPrinted entry (R69, R72). Raises Denied."""
    if not checked:
        ctx.require(Action.RecordsRecordPrint, target)
    ctx.record(LedgerTag.RecordsRecordPrinted, target=target, digest=digest, detail=detail)


def class_name(ctx: Context, v: Version) -> str:
    """The management class of `v` by its name (職員・VIP), not its code."""
    mc = classes.get_class(ctx, v.class_code) if v.class_code else None
    return mc.name_ja if mc is not None else ""


def _who(ctx: Context) -> str:
    return ctx.actor.name if ctx.actor else "system"


def print_record(ctx: Context, rtype: str, id: str, *, version: int | None = None) -> Printout:
    """A PDF of one record (one version, default the current) with its update history.

    Raises NotFound, Denied (no read or print right; beyond clearance without break-glass).
    Ledger: RecordsRecordRead (by the reads), RecordsRecordPrinted (digest = the PDF's SHA-256).
    """
    v = records.vread(ctx, rtype, id, version) if version else records.read(ctx, rtype, id)
    target = target_of_version(ctx, v)
    ctx.require(Action.RecordsRecordPrint, target)
    infos = records.version_history(ctx, rtype, id)
    mark = watermark_text(_who(ctx), ctx.now())
    title = f"{resources.title_of(v.resource())}"
    pdf, pages = render_pdf(title=title or _KIND.get(rtype, rtype), subtitle=f"{_KIND.get(rtype, rtype)} 第{v.number}版",
                            sections=record_sections(v, infos, class_name=class_name(ctx, v)), mark=mark)
    sha = hashlib.sha256(pdf).hexdigest()
    record_printed(ctx, target, digest=sha, detail={"format": "pdf", "version": v.number, "pages": pages,
                                                    "record_sha256": v.sha256, "watermark": mark}, checked=True)
    return Printout(pdf, f"{rtype}-{id}-v{v.number}.pdf", sha, pages)


def print_summary(ctx: Context, patient_id: str) -> Printout:
    """A PDF of the patient summary (everything the caller may read about the patient).

    Raises NotFound, Denied. Ledger: RecordsRecordRead ($everything), RecordsRecordPrinted.
    """
    summary = records.patient_summary(ctx, patient_id)
    pv = summary["patient"][0]
    target = target_of_version(ctx, pv)
    ctx.require(Action.RecordsRecordPrint, target)
    mark = watermark_text(_who(ctx), ctx.now())
    pdf, pages = render_pdf(title=f"患者サマリー {resources.title_of(pv.resource())}",
                            subtitle=" ".join(f"{k} {val}" for k, val in resources.summary_rows(pv.resource())[:1]),
                            sections=summary_sections(summary), mark=mark)
    sha = hashlib.sha256(pdf).hexdigest()
    n = sum(len(vs) for vs in summary.values())
    record_printed(ctx, target, digest=sha, detail={"format": "pdf", "summary": True, "resources": n,
                                                    "pages": pages, "watermark": mark}, checked=True)
    return Printout(pdf, f"patient-{patient_id}-summary.pdf", sha, pages)
