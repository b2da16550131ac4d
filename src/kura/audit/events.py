"""What each ledger tag means, in one table: its Japanese and English name and its DICOM audit
event (PS3.15 A.5.3: EventID from DCM CID 400, EventTypeCode from CID 401, EventActionCode).

The screens, the CSV and PDF exports, FHIR AuditEvent and the ATNA syslog messages all read
it, so a tag is named and coded the same everywhere. Tests check that every LedgerTag has a
row in EVENTS and in NAMES.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from kura.ledger.tags import LedgerTag

__all__ = ["DCM", "DCM_SYSTEM", "Event", "EVENTS", "NAMES", "KINDS", "OUTCOMES", "PURPOSES", "SOURCES", "TARGETS",
           "event_of", "name_of", "kind_tags", "label"]

# DICOM Controlled Terminology (PS3.16 Annex D), the codes used here.
DCM = {
    "110100": "Application Activity", "110101": "Audit Log Used", "110103": "DICOM Instances Accessed",
    "110104": "DICOM Instances Transferred",
    "110105": "DICOM Study Deleted", "110106": "Export", "110107": "Import",
    "110110": "Patient Record", "110112": "Query", "110113": "Security Alert",
    "110114": "User Authentication",
    "110120": "Application Start", "110121": "Application Stop", "110122": "Login", "110123": "Logout",
    "110126": "Node Authentication", "110127": "Emergency Override Started",
    "110128": "Network Configuration", "110129": "Security Configuration",
    "110132": "Use of Restricted Function", "110134": "Audit Recording Started",
    "110135": "Object Security Attributes Changed", "110136": "Security Roles Changed",
    "110137": "User Security Attributes Changed", "110138": "Emergency Override Stopped",
}
DCM_SYSTEM = "http://dicom.nema.org/resources/ontology/DCM"


class Event(NamedTuple):
    event_id: str  # DCM CID 400 Audit Event ID
    type_code: str | None  # DCM CID 401 Audit Event Type Code
    action: str  # EventActionCode: C create, R read, U update, D delete, E execute


T = LedgerTag
# The one tag -> DICOM audit event table (PS3.15 A.5.3; CID 400/401). A test checks that
# every LedgerTag has a row, so a new tag cannot be exported uncoded.
EVENTS: dict[LedgerTag, Event] = {
    T.AccessBreakGlassStarted: Event("110113", "110127", "E"),
    T.AccessBreakGlassStopped: Event("110113", "110138", "E"),
    T.AccessRequestDenied: Event("110113", "110132", "E"),
    T.AdminClassChanged: Event("110113", "110129", "U"),
    T.AdminClassDefined: Event("110113", "110129", "C"),
    T.AdminDutiesPublished: Event("110113", "110129", "C"),
    T.AdminPeerAdded: Event("110113", "110128", "C"),
    T.AdminPeerChanged: Event("110113", "110128", "U"),
    # The rights review (棚卸) reviews and changes users' security attributes.
    T.AdminReviewMarked: Event("110113", "110137", "U"),
    T.AdminReviewSignedOff: Event("110113", "110137", "E"),
    T.AdminReviewStarted: Event("110113", "110137", "E"),
    T.AdminReviewViewed: Event("110113", "110137", "R"),
    T.AdminRequestApproved: Event("110113", "110136", "U"),
    T.AdminRequestRefused: Event("110113", "110136", "U"),
    T.AdminRequestSubmitted: Event("110113", "110136", "C"),
    T.AdminTrainingRecorded: Event("110100", None, "C"),
    T.AdminUserCreated: Event("110113", "110137", "C"),
    T.AdminUserDisabled: Event("110113", "110137", "U"),
    T.AdminUserEndDateSet: Event("110113", "110137", "U"),
    T.AdminUserEnded: Event("110113", "110137", "U"),
    T.AdminUserPasswordReset: Event("110113", "110137", "U"),
    T.AdminUserUnlocked: Event("110113", "110137", "U"),
    T.AdminUserUpdated: Event("110113", "110136", "U"),
    T.AuditAlertSignedOff: Event("110101", None, "C"),
    T.AuditReportGenerated: Event("110101", None, "C"),  # the review report reads the ledger
    T.AuditReportSignedOff: Event("110101", None, "U"),
    T.AuditReportViewed: Event("110101", None, "R"),
    T.AuditCheckpointCreated: Event("110101", None, "E"),
    T.AuditLedgerExported: Event("110106", None, "R"),
    T.AuditLedgerRead: Event("110101", None, "R"),
    T.AuditLedgerVerified: Event("110101", None, "E"),
    T.AuditPatientIdentified: Event("110110", None, "R"),
    T.AuthAccountLocked: Event("110113", "110137", "E"),
    T.AuthDutiesAcknowledged: Event("110100", None, "C"),
    T.AuthLoginFailed: Event("110114", "110122", "E"),
    T.AuthLoginSucceeded: Event("110114", "110122", "E"),
    T.AuthPasswordChanged: Event("110113", "110137", "U"),
    T.AuthSessionEnded: Event("110114", "110123", "E"),
    T.AuthSessionRevoked: Event("110114", "110123", "E"),
    T.AuthSessionTimedOut: Event("110114", "110123", "E"),
    T.AuthTotpEnrolled: Event("110113", "110137", "U"),
    T.DicomAssociationAccepted: Event("110114", "110126", "E"),
    T.DicomAssociationRejected: Event("110113", "110126", "E"),
    T.DicomAssociationReleased: Event("110114", "110123", "E"),
    T.ImagingArchiveReconciled: Event("110100", None, "E"),
    T.ImagingInstanceConverted: Event("110104", None, "R"),
    T.ImagingInstanceRefused: Event("110113", "110132", "C"),
    T.ImagingInstanceStored: Event("110104", None, "C"),
    T.ImagingPatientLinked: Event("110110", None, "U"),
    T.ImagingStudyConfirmed: Event("110103", None, "U"),
    T.ImagingStudyCorrected: Event("110103", None, "U"),
    T.ImagingStudyFlagged: Event("110103", None, "U"),
    T.ImagingStudyLabelled: Event("110103", None, "U"),
    T.ImagingStudyPrinted: Event("110106", None, "R"),
    T.ImagingStudyQueried: Event("110112", None, "E"),
    T.ImagingStudyRead: Event("110103", None, "R"),
    T.ImagingStudyRetrieved: Event("110104", None, "R"),
    T.ImagingStudyReturned: Event("110103", None, "U"),
    T.KeysKeyLinked: Event("110113", "110135", "U"),
    T.KeysKeyShredded: Event("110110", None, "D"),
    T.OpsBackupCreated: Event("110106", None, "E"),
    T.OpsBackupPruned: Event("110100", None, "D"),
    T.OpsBackupRestored: Event("110107", None, "C"),
    T.OpsBackupVerified: Event("110100", None, "E"),
    T.OpsEmergencyLifted: Event("110113", "110128", "E"),
    T.OpsEmergencySwitched: Event("110113", "110128", "E"),
    T.OpsIntegrityFailed: Event("110113", None, "E"),
    T.OpsKeyExported: Event("110106", None, "R"),
    T.OpsObjectRepaired: Event("110100", None, "U"),
    T.OpsReplicaSynced: Event("110106", None, "E"),
    T.OpsRestoreDrilled: Event("110100", None, "E"),
    T.OpsRunFailed: Event("110113", None, "E"),
    T.OpsScrubCompleted: Event("110100", None, "E"),
    T.OpsSelfcheckCompleted: Event("110100", None, "E"),
    T.RecordsRecordConfirmed: Event("110110", None, "U"),
    T.RecordsRecordCreated: Event("110110", None, "C"),
    T.RecordsRecordExported: Event("110106", None, "R"),
    T.RecordsRecordPrinted: Event("110106", None, "R"),
    T.RecordsRecordRead: Event("110110", None, "R"),
    T.RecordsRecordSearched: Event("110112", None, "E"),
    T.RecordsRecordTampered: Event("110113", None, "R"),
    T.RecordsRecordUpdated: Event("110110", None, "U"),
    T.RegisterDeviceAdded: Event("110100", None, "C"),
    T.RegisterDeviceChanged: Event("110100", None, "U"),
    T.RegisterEquipmentApproved: Event("110100", None, "U"),
    T.RegisterEquipmentRecorded: Event("110100", None, "C"),
    T.RegisterIncidentRecorded: Event("110113", None, "C"),
    T.RegisterIncidentUpdated: Event("110113", None, "U"),
    T.RegisterInspectionClosed: Event("110100", None, "U"),
    T.RegisterInspectionRecorded: Event("110100", None, "C"),
    T.RegisterMediaRecorded: Event("110106", None, "E"),
    T.RegisterMediaUpdated: Event("110100", None, "U"),
    # 110100 Application Activity: a build of kura reviewed for use (§9).
    T.RegisterSoftwareApproved: Event("110100", None, "U"),
    T.RegisterSoftwareRefused: Event("110100", None, "U"),
    T.RegisterSoftwareSubmitted: Event("110100", None, "C"),
    # Disposal deletes patient records and studies (DICOM 110105 Study Deleted, 110110 D).
    T.RetentionDisposalApproved: Event("110110", None, "D"),
    T.RetentionDisposalRequested: Event("110110", None, "E"),
    T.RetentionHoldLifted: Event("110110", None, "U"),
    T.RetentionHoldPlaced: Event("110110", None, "U"),
    T.RetentionVaultRefreshed: Event("110100", None, "E"),
    T.RetentionWorklistRead: Event("110112", None, "E"),
    T.SystemHomeInitialised: Event("110113", "110134", "C"),
    T.SystemServerStarted: Event("110100", "110120", "E"),
    T.SystemServerStopped: Event("110100", "110121", "E"),
}
_UNKNOWN = Event("110100", None, "E")  # a tag written by a newer kura than this one

# (Japanese, English) display names. Japanese is what the audit manager reads on screen and in
# the exports; English is for the English UI.
NAMES: dict[LedgerTag, tuple[str, str]] = {
    T.AccessBreakGlassStarted: ("緊急アクセス開始", "Break-glass started"),
    T.AccessBreakGlassStopped: ("緊急アクセス終了", "Break-glass ended"),
    T.AccessRequestDenied: ("アクセス拒否", "Access denied"),
    T.AdminClassChanged: ("管理区分の変更", "Management class changed"),
    T.AdminClassDefined: ("管理区分の定義", "Management class defined"),
    T.AdminDutiesPublished: ("利用者の責務の改定", "User duties published"),
    T.AdminPeerAdded: ("DICOM 接続先の登録", "DICOM peer added"),
    T.AdminPeerChanged: ("DICOM 接続先の変更", "DICOM peer changed"),
    T.AdminReviewMarked: ("権限の棚卸での判断", "Rights review: account marked"),
    T.AdminReviewSignedOff: ("権限の棚卸の承認", "Rights review signed off"),
    T.AdminReviewStarted: ("権限の棚卸の開始", "Rights review started"),
    T.AdminReviewViewed: ("権限の棚卸の閲覧", "Rights review viewed"),
    T.AdminRequestApproved: ("アカウント申請の承認", "Account request approved"),
    T.AdminRequestRefused: ("アカウント申請の却下", "Account request refused"),
    T.AdminRequestSubmitted: ("アカウントの申請", "Account request submitted"),
    T.AdminTrainingRecorded: ("研修の記録", "Training recorded"),
    T.AdminUserCreated: ("利用者の登録", "User created"),
    T.AdminUserDisabled: ("利用者の無効化", "User disabled"),
    T.AdminUserEndDateSet: ("利用終了日の設定", "End date set"),
    T.AdminUserEnded: ("利用終了による無効化", "Account ended"),
    T.AdminUserPasswordReset: ("パスワードの再設定", "Password reset"),
    T.AdminUserUnlocked: ("ロックの解除", "User unlocked"),
    T.AdminUserUpdated: ("利用者情報の変更", "User updated"),
    T.AuditAlertSignedOff: ("アラートの確認", "Alert signed off"),
    T.AuditReportGenerated: ("監査レビュー報告の作成", "Review report made"),
    T.AuditReportSignedOff: ("監査レビュー報告の承認", "Review report signed off"),
    T.AuditReportViewed: ("監査レビュー報告の閲覧", "Review report viewed"),
    T.AuditCheckpointCreated: ("チェックポイントの署名", "Checkpoint signed"),
    T.AuditLedgerExported: ("監査ログの出力", "Audit log exported"),
    T.AuditLedgerRead: ("監査ログの閲覧", "Audit log viewed"),
    T.AuditLedgerVerified: ("監査ログの検証", "Audit log verified"),
    T.AuditPatientIdentified: ("監査のための患者特定", "Patient identified for audit"),
    T.AuthAccountLocked: ("アカウントのロック", "Account locked"),
    T.AuthDutiesAcknowledged: ("利用者の責務への同意", "User duties acknowledged"),
    T.AuthLoginFailed: ("ログイン失敗", "Login failed"),
    T.AuthLoginSucceeded: ("ログイン", "Login"),
    T.AuthPasswordChanged: ("パスワード変更", "Password changed"),
    T.AuthSessionEnded: ("ログアウト", "Logout"),
    T.AuthSessionRevoked: ("セッションの強制終了", "Session revoked"),
    T.AuthSessionTimedOut: ("タイムアウトによるログアウト", "Session timed out"),
    T.AuthTotpEnrolled: ("二要素認証の登録", "Authenticator enrolled"),
    T.DicomAssociationAccepted: ("DICOM 接続", "DICOM association accepted"),
    T.DicomAssociationRejected: ("DICOM 接続の拒否", "DICOM association rejected"),
    T.DicomAssociationReleased: ("DICOM 切断", "DICOM association released"),
    T.ImagingArchiveReconciled: ("画像保管庫全体の患者照合", "Archive reconciled with the registrations"),
    T.ImagingInstanceConverted: ("画像の変換送信", "Image sent converted"),
    T.ImagingInstanceRefused: ("画像の受信拒否", "Image refused"),
    T.ImagingInstanceStored: ("画像の保存", "Image stored"),
    T.ImagingPatientLinked: ("画像の患者への紐付け", "Images linked to a patient"),
    T.ImagingStudyConfirmed: ("検像・確定", "Study confirmed"),
    T.ImagingStudyCorrected: ("画像の患者情報の訂正", "Study's patient data corrected"),
    T.ImagingStudyFlagged: ("画像の不一致", "Study flagged"),
    T.ImagingStudyLabelled: ("検査の機密区分変更", "Study labelled"),
    T.ImagingStudyPrinted: ("画像の印刷", "Study printed"),
    T.ImagingStudyQueried: ("画像の検索", "Images queried"),
    T.ImagingStudyRead: ("画像の閲覧", "Study viewed"),
    T.ImagingStudyRetrieved: ("画像の取得", "Study retrieved"),
    T.ImagingStudyReturned: ("検像の差し戻し", "Study returned"),
    T.KeysKeyLinked: ("データ鍵の関連付け", "Data key linked"),
    T.KeysKeyShredded: ("データ鍵の破棄", "Data key destroyed"),
    T.OpsBackupCreated: ("バックアップ作成", "Backup created"),
    T.OpsBackupPruned: ("バックアップ整理", "Backups pruned"),
    T.OpsBackupRestored: ("バックアップから復元", "Backup restored"),
    T.OpsBackupVerified: ("バックアップ検証", "Backup verified"),
    T.OpsEmergencyLifted: ("緊急遮断の解除", "Emergency switch lifted"),
    T.OpsEmergencySwitched: ("緊急遮断", "Emergency switch"),
    T.OpsIntegrityFailed: ("完全性の異常", "Integrity failure"),
    T.OpsKeyExported: ("復旧キットの出力", "Recovery kit exported"),
    T.OpsObjectRepaired: ("保存データの修復", "Object repaired"),
    T.OpsReplicaSynced: ("複製の同期", "Replica synced"),
    T.OpsRestoreDrilled: ("復元訓練", "Restore drill"),
    T.OpsRunFailed: ("定期処理の失敗", "Scheduled run failed"),
    T.OpsScrubCompleted: ("保存データの点検", "Scrub completed"),
    T.OpsSelfcheckCompleted: ("ソフトウェアの自己点検", "Self-check completed"),
    T.RecordsRecordConfirmed: ("記録の確定", "Record confirmed"),
    T.RecordsRecordCreated: ("記録の作成", "Record created"),
    T.RecordsRecordExported: ("記録の出力", "Record exported"),
    T.RecordsRecordPrinted: ("記録の印刷", "Record printed"),
    T.RecordsRecordRead: ("記録の閲覧", "Record viewed"),
    T.RecordsRecordSearched: ("記録の検索", "Records searched"),
    T.RecordsRecordTampered: ("記録の改ざん検知", "Record tampering detected"),
    T.RecordsRecordUpdated: ("記録の更新", "Record updated"),
    T.RegisterDeviceAdded: ("機器台帳への登録", "Device added"),
    T.RegisterDeviceChanged: ("機器台帳の変更", "Device changed"),
    T.RegisterEquipmentApproved: ("機器の承認", "Equipment approved"),
    T.RegisterEquipmentRecorded: ("機器の登録", "Equipment recorded"),
    T.RegisterIncidentRecorded: ("インシデントの記録", "Incident recorded"),
    T.RegisterIncidentUpdated: ("インシデントの更新", "Incident updated"),
    T.RegisterInspectionClosed: ("点検の完了", "Inspection closed"),
    T.RegisterInspectionRecorded: ("点検の記録", "Inspection recorded"),
    T.RegisterMediaRecorded: ("媒体への書き出し", "Media recorded"),
    T.RegisterMediaUpdated: ("媒体台帳の更新", "Media updated"),
    T.RegisterSoftwareApproved: ("ソフトウェアの承認", "Software approved"),
    T.RegisterSoftwareRefused: ("ソフトウェアの不承認", "Software refused"),
    T.RegisterSoftwareSubmitted: ("ソフトウェアの審査申請", "Software submitted for review"),
    T.RetentionDisposalApproved: ("廃棄の承認・実行", "Disposal approved"),
    T.RetentionDisposalRequested: ("廃棄の申請", "Disposal requested"),
    T.RetentionHoldLifted: ("保全の解除", "Legal hold lifted"),
    T.RetentionHoldPlaced: ("保全の設定", "Legal hold placed"),
    T.RetentionVaultRefreshed: ("鍵保管庫の更新", "Key vault refreshed"),
    T.RetentionWorklistRead: ("保存期間一覧の閲覧", "Retention worklist viewed"),
    T.SystemHomeInitialised: ("システムの初期化", "Home initialised"),
    T.SystemServerStarted: ("サーバー起動", "Server started"),
    T.SystemServerStopped: ("サーバー停止", "Server stopped"),
}

# The action kinds of the ledger filter: (Japanese, English, the tag prefixes they cover).
KINDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "login": ("ログイン・ログアウト", "Sign-in and sign-out", ("auth:",)),
    "read": ("閲覧・検索", "Viewing and searching",
             ("records:record:read", "records:record:searched", "imaging:study:read", "imaging:study:queried",
              "imaging:study:retrieved")),
    "write": ("作成・更新・確定", "Creating, updating, confirming",
              ("records:record:created", "records:record:updated", "records:record:confirmed",
               "imaging:instance:stored", "imaging:study:confirmed", "imaging:study:returned",
               "imaging:study:labelled")),
    "export": ("印刷・出力", "Printing and export",
               ("records:record:printed", "records:record:exported", "imaging:study:printed",
                "register:media:", "audit:ledger:exported", "ops:key:exported")),
    "breakglass": ("緊急アクセス", "Break-glass", ("access:breakglass:",)),
    "denied": ("拒否", "Denials", ("access:request:denied", "dicom:association:rejected", "imaging:instance:refused")),
    "admin": ("利用者・権限の管理", "Users and rights", ("admin:",)),
    "audit": ("監査", "Audit", ("audit:",)),
    "ops": ("運用・保存", "Operations and preservation", ("ops:", "retention:", "keys:", "system:", "register:")),
    "dicom": ("DICOM 通信", "DICOM traffic", ("dicom:",)),
}

# DICOM EventOutcomeIndicator.
OUTCOMES: dict[int, tuple[str, str]] = {
    0: ("成功", "Success"), 4: ("失敗 (軽微)", "Minor failure"),
    8: ("失敗 (重大)", "Serious failure"), 12: ("失敗 (重大な障害)", "Major failure"),
}

# v3 PurposeOfUse codes kura writes (kura.access.purpose).
PURPOSES: dict[str, tuple[str, str]] = {
    "TREAT": ("診療", "Treatment"), "ETREAT": ("緊急診療", "Emergency treatment"),
    "HPAYMT": ("医事・会計", "Payment"), "HOPERAT": ("運用", "Operations"),
    "HSYSADMIN": ("管理・監査", "Administration and audit"),
}

# Where an entry came from (kura.audit.service.source_of).
SOURCES: dict[str, tuple[str, str]] = {
    "ui": ("画面", "Screens"), "fhir": ("FHIR", "FHIR"), "dicomweb": ("DICOMweb", "DICOMweb"),
    "api": ("REST API", "REST API"), "dicom": ("DICOM 装置", "DICOM peer"),
    "cli": ("コマンド", "Command line"),
}


# What an entry acted on (its target kind).
TARGETS: dict[str, tuple[str, str]] = {
    "Patient": ("患者", "Patient"), "Coverage": ("保険", "Coverage"), "Encounter": ("受診", "Encounter"),
    "ChargeItem": ("診療行為", "Charge"), "Invoice": ("請求", "Invoice"), "DocumentReference": ("文書", "Document"),
    "ImagingStudy": ("画像検査", "Imaging study"), "Study": ("画像検査", "Imaging study"),
    "Practitioner": ("職員", "Practitioner"), "Provenance": ("来歴", "Provenance"), "Binary": ("添付ファイル", "Attachment"),
    "User": ("利用者", "User"), "Ledger": ("監査ログ", "Audit log"), "LedgerEntry": ("監査ログの記録", "Ledger entry"),
    "DicomPeer": ("DICOM 接続先", "DICOM peer"), "ManagementClass": ("管理区分", "Management class"),
    "Backup": ("バックアップ", "Backup"), "Disposal": ("廃棄", "Disposal"), "LegalHold": ("保全", "Legal hold"),
    "EmergencySwitch": ("緊急遮断", "Emergency switch"), "PatientMedium": ("患者媒体", "Patient medium"),
    "Incident": ("インシデント", "Incident"), "EquipmentDisposal": ("機器の廃棄", "Equipment disposal"),
    "Permissions": ("権限表", "Permissions"), "Key": ("鍵", "Key"), "Blob": ("保存データ", "Stored object"),
    "Store": ("保存領域", "Store"), "Software": ("ソフトウェア", "Software"), "Operations": ("運用", "Operations"),
}


def event_of(tag: str) -> Event:
    try:
        return EVENTS[LedgerTag(tag)]
    except ValueError:
        return _UNKNOWN


def name_of(tag: str, lang: str = "ja") -> str:
    """The display name of `tag` (the tag itself for one written by a newer kura)."""
    try:
        ja, en = NAMES[LedgerTag(tag)]
    except (ValueError, KeyError):
        return tag
    return ja if lang == "ja" else en


def label(table: Mapping[Any, tuple[str, str]], key: object, lang: str = "ja") -> str:
    """The display name of `key` in one of the tables above (the key itself when unknown)."""
    pair = table.get(key)
    if pair is None:
        return str(key)
    return pair[0] if lang == "ja" else pair[1]


def kind_tags(kind: str) -> list[str]:
    """The tags an action kind covers (empty for an unknown kind)."""
    prefixes = KINDS[kind][2] if kind in KINDS else ()
    return sorted(t.value for t in LedgerTag if any(t.value == p or (p.endswith(":") and t.value.startswith(p))
                                                    for p in prefixes))
