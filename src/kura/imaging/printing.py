"""Printing a key image (R47, R72): one page with the image, the patient and study, and a
watermark naming the printing user and time with 院外持出禁止 ("do not take out of the
hospital") burned into the pixels, so every copy of the printout carries it. Each printout
is a ledger entry (ImagingStudyPrinted) whose digest is the SHA-256 of the page produced.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import io
import zoneinfo
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from kura.access.actions import Action
from kura.errors import Invalid, NotFound
from kura.imaging import service as imaging
from kura.imaging.models import ImagingStudy
from kura.imaging.query import Query
from kura.imaging.render import render
from kura.ledger.tags import LedgerTag
from kura.operation import Context

__all__ = ["Printout", "key_image", "WATERMARK", "watermark_text"]

WATERMARK = "院外持出禁止"
LOCAL_TZ = zoneinfo.ZoneInfo("Asia/Tokyo")  # the hospital's time on paper, with its offset (R26)
# A CJK font when the machine has one (Debian: fonts-noto-cjk); otherwise the watermark is
# burned in English with Pillow's built-in font, and the HTML print view still shows it in Japanese.
FONTS = [("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 0),
         ("/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc", 0),
         ("/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf", 0),
         ("/usr/share/fonts/truetype/fonts-japanese-gothic.ttf", 0)]
PAGE = (1240, 1754)  # A4 portrait at 150 dpi
DPI = 150.0


@dataclasses.dataclass(frozen=True)
class Printout:
    data: bytes
    media_type: str
    sha256: str
    printed_by: str
    printed_at: dt.datetime
    watermark: str
    study: object = dataclasses.field(default=None, repr=False)  # the ImagingStudy row printed from


@functools.cache
def _font_file() -> tuple[str, int] | None:
    return next(((p, i) for p, i in FONTS if Path(p).exists()), None)


def _font(size: int) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, bool]:
    found = _font_file()
    if found:
        return ImageFont.truetype(found[0], size, index=found[1]), True
    return ImageFont.load_default(size), False


def watermark_text(user: str, at: dt.datetime) -> str:
    local = at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S %z")
    return f"{WATERMARK}  印刷者: {user}  印刷日時: {local[:-2]}:{local[-2:]}"


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode()


def _compose(image: Image.Image, header: list[str], mark: str, sub: str) -> Image.Image:
    page = Image.new("L", PAGE, 255)
    draw = ImageDraw.Draw(page)
    font, cjk = _font(30)
    small, _ = _font(24)
    fix = (lambda s: s) if cjk else _ascii
    y = 60
    for i, line in enumerate(header):
        draw.text((80, y), fix(line), fill=0, font=font if i == 0 else small)
        y += 46 if i == 0 else 36
    y += 20
    box = (PAGE[0] - 160, PAGE[1] - y - 200)
    scale = min(box[0] / image.width, box[1] / image.height)
    shown = image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))),
                         Image.Resampling.LANCZOS)
    left = (PAGE[0] - shown.width) // 2
    page.paste(shown, (left, y))
    # Burned-in diagonal watermark over the image, faint enough to read the image through.
    big, _ = _font(96)
    mid, _ = _font(34)
    label = WATERMARK if cjk else "DO NOT TAKE OUT"
    tile = Image.new("L", (shown.width * 2, shown.height * 2), 0)
    tdraw = ImageDraw.Draw(tile)
    step = 260
    for row, ty in enumerate(range(0, tile.height, step)):
        for tx in range(-step * (row % 2), tile.width, 720):
            tdraw.text((tx, ty), label, fill=150, font=big)
            tdraw.text((tx + 10, ty + 112), fix(sub), fill=150, font=mid)
    tile = tile.rotate(30, resample=Image.Resampling.BILINEAR)
    tile = tile.crop(((tile.width - shown.width) // 2, (tile.height - shown.height) // 2,
                      (tile.width - shown.width) // 2 + shown.width, (tile.height - shown.height) // 2 + shown.height))
    region = page.crop((left, y, left + shown.width, y + shown.height))
    # Blend toward mid-grey under the lettering: visible on black air and on white bone alike.
    grey = Image.new("L", region.size, 150)
    page.paste(Image.composite(grey, region, tile), (left, y))
    # Footer: who printed it and when, and the prohibition, in full (R72) — inside its frame:
    # the type shrinks until the longest line fits between the frame's sides.
    fy = y + shown.height + 40
    inner = PAGE[0] - 70 * 2 - 40
    footer = [fix(mark), "kura (蔵) — キー画像の印刷 (院外持出禁止)" if cjk else "kura - key image printout"]
    size = 30
    ffont, _ = _font(size)
    while size > 14 and max(draw.textlength(t, font=ffont) for t in footer) > inner:
        size -= 2
        ffont, _ = _font(size)
    fsmall, _ = _font(max(12, size - 6))
    draw.rectangle((70, fy - 10, PAGE[0] - 70, fy + size + 60), outline=0, width=3)
    draw.text((90, fy), footer[0], fill=0, font=ffont)
    draw.text((90, fy + size + 16), footer[1], fill=0, font=fsmall)
    return page


def key_image(ctx: Context, study_uid: str, sop_uid: str, *, center: float | None = None,
              width: float | None = None, frame: int = 1, media_type: str = "image/png",
              printed_by: str | None = None) -> Printout:
    """One key image of a study as a printable page (PNG or PDF) with the watermark.

    Raises NotFound, Denied (ImagingStudyPrint on the study's label), Invalid.
    Ledger: ImagingStudyRead, ImagingStudyRetrieved, then ImagingStudyPrinted with the
    page's SHA-256 as digest (R47, R72).
    """
    if media_type not in ("image/png", "application/pdf"):
        raise Invalid("a printout is image/png or application/pdf")
    study = imaging.get_study(ctx, study_uid)
    items = imaging.retrieve(ctx, Query(level="IMAGE", keys={"StudyInstanceUID": study_uid,
                                                               "SOPInstanceUID": sop_uid}),
                             action=Action.ImagingStudyPrint)
    if not items:
        raise NotFound(f"no instance {sop_uid} in study {study_uid}")
    image = Image.open(io.BytesIO(render(items[0].read(ctx.blobs), frame=frame, center=center,
                                         width=width))).convert("L")
    now = ctx.now()
    user = printed_by or (ctx.actor.name if ctx.actor else "anonymous")
    mark = watermark_text(user, now)
    name = study.name_ideographic.replace("^", " ") or study.patient_name.replace("^", " ")
    kana = study.name_phonetic.replace("^", " ")
    date = study.study_date
    sex = {"M": "男", "F": "女", "O": "その他"}.get(study.sex or "", "")
    header = [f"{name} {f'({kana})' if kana else ''}  患者ID: {study.patient_id}  {sex}",
              f"検査日 {date[:4]}-{date[4:6]}-{date[6:]}  {study.modalities.replace(chr(92), '/')}  "
              f"{study.description}  受付番号: {study.accession_number}",
              f"検像: {_status(study)}",
              f"SOP {sop_uid}" + (f"  W {width:g} / L {center:g}" if center is not None and width is not None else "")]
    sub = f"{user}  {now.astimezone(LOCAL_TZ).strftime('%Y-%m-%d %H:%M')}"
    page = _compose(image, header, mark, sub)
    buf = io.BytesIO()
    if media_type == "application/pdf":
        page.save(buf, format="PDF", resolution=DPI, title=f"key image {sop_uid}", author=user)
    else:
        page.save(buf, format="PNG", dpi=(DPI, DPI))
    data = buf.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    ctx.record(LedgerTag.ImagingStudyPrinted, target=imaging.study_target(ctx, study), digest=sha,
               detail={"sop_instance_uid": sop_uid, "frame": frame, "media_type": media_type,
                       "window": [center, width] if center is not None else None,
                       "watermark": mark, "status": study.status})
    return Printout(data=data, media_type=media_type, sha256=sha, printed_by=user, printed_at=now,
                    watermark=mark, study=study)


def _status(study: ImagingStudy) -> str:
    if study.status == "confirmed":
        return f"確定済 ({study.status_by})"
    if study.status == "returned":
        return "差し戻し"
    return "未確定"
