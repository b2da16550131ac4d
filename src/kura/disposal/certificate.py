"""The disposal certificate (廃棄証明書, R79): a PDF saying what was disposed of, when, how,
by whom — never the content — signed with the home's Ed25519 key.

The signature is detached: Ed25519 over the PDF's bytes, published as one line
``kura-disposal-certificate v1 sha256=<hex> key=<key id> sig=<hex>`` so anyone with the
home's public key can check it (`kura disposal verify-certificate PDF SIG`).
"""

from __future__ import annotations

import dataclasses
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from kura.disposal.models import Disposal
from kura.errors import Invalid
from kura.ledger.signing import DocumentSignature, Signer, verify_document
from kura.records.printout import LOCAL_TZ, Section, render_pdf

__all__ = ["Signature", "render", "sign", "verify", "METHOD_JA"]

KIND = "kura-disposal-certificate v1"
METHOD_JA = ("暗号化消去 (crypto-shredding): 患者のデータ鍵 (AES-256-GCM) を破棄し、記録・版・添付・画像の"
             "索引行と暗号化ブロブを稼働中のホームから削除。バックアップ・レプリカ上の写しは鍵がないため復号不能。")


@dataclasses.dataclass(frozen=True)
class Signature:
    """The certificate's signature line (kura.ledger.signing.DocumentSignature of kind KIND)."""

    sha256: str
    key_id: str
    signature: str

    def document(self) -> DocumentSignature:
        return DocumentSignature(KIND, self.sha256, self.key_id, self.signature)

    def line(self) -> str:
        return self.document().line()

    @classmethod
    def parse(cls, text: str) -> Signature:
        try:
            d = DocumentSignature.parse(text, (KIND,))
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        return cls(d.sha256, d.key_id, d.signature)


def _local(t) -> str:
    return t.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S +09:00") if t else ""


_KINDS_JA = {"Patient": "患者基本情報", "Coverage": "保険", "Encounter": "受診", "ChargeItem": "会計明細",
             "Invoice": "請求書", "DocumentReference": "文書", "ImagingStudy": "画像検査 (FHIR)",
             "Provenance": "来歴 (Provenance)", "Binary": "添付ファイル", "Study": "DICOM 検査",
             "Series": "DICOM シリーズ", "Instance": "DICOM 画像"}


def render(d: Disposal, *, class_names: dict[str, str]) -> bytes:
    """The certificate's PDF for a completed disposal `d` (its summary, people and times)."""
    summary = json.loads(d.summary or "[]")
    keys = json.loads(d.key_ids or "[]")
    head = Section("廃棄の概要 (Disposal)", [
        ("廃棄番号 (Disposal ID)", d.id),
        ("対象患者 (Patient)", f"Patient/{d.patient_id}"),
        ("保存期間の終了日 (Retention ended)", d.retention_end),
        ("廃棄理由 (Reason)", d.reason),
        ("申請者 (Requested by)", f"{d.requested_by_name}  {_local(d.requested_at)}"),
        ("承認者・実施 (Approved and done by)", f"{d.approved_by_name}  {_local(d.approved_at)}"),
        ("方法 (Method)", d.method),
    ])
    rows = [(_KINDS_JA.get(g["kind"], g["kind"]), class_names.get(g["class"], g["class"] or "—"), str(g["count"]),
             str(g["versions"]), g["first_stored"], g["last_date"]) for g in summary]
    objects = Section("廃棄した記録と画像 (What was disposed of)", rows,
                      columns=("種類", "管理区分", "件数", "版数", "最初の保存日", "最後の診療日"),
                      widths=(2.2, 2, 0.8, 0.8, 1.6, 1.6),
                      note="内容は記載しない (no content is shown): 種類・管理区分・件数・日付のみ。")
    key_sec = Section("破棄したデータ鍵 (Data keys destroyed)", [(k,) for k in keys] or [("—",)], columns=("鍵 ID",))
    pdf, _ = render_pdf(title="廃棄証明書 (Certificate of disposal)",
                        subtitle=f"kura  廃棄番号 {d.id}  作成 {_local(d.approved_at)}",
                        sections=[head, objects, key_sec], mark=f"廃棄証明書 {d.id}")
    return pdf


def sign(signer: Signer, pdf: bytes) -> Signature:
    d = DocumentSignature.of(signer, KIND, pdf)
    return Signature(d.sha256, d.key_id, d.signature)


def verify(public_key: Ed25519PublicKey, key_id: str, pdf: bytes, sig: Signature) -> list[str]:
    """Problems found (empty: the PDF is the one the home signed)."""
    return verify_document(public_key, key_id, pdf, sig.document())
