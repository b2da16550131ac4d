"""Every action kura can authorise, by name.

Naming scheme: ``<area>:<resource>:<verb>``. Members are alphabetised; code refers to them
by member name, never by string literal (STYLE.md §1).
"""

from enum import StrEnum

__all__ = ["Action"]


class Action(StrEnum):
    AdminClassManage = "admin:class:manage"
    AdminClassRead = "admin:class:read"
    AdminPeerManage = "admin:peer:manage"
    AdminPeerRead = "admin:peer:read"
    AdminPermissionsRead = "admin:permissions:read"
    AdminUserManage = "admin:user:manage"
    AdminUserRead = "admin:user:read"
    AuditAlertRead = "audit:alert:read"
    AuditAlertSignoff = "audit:alert:signoff"
    AuditCheckpointCreate = "audit:checkpoint:create"
    AuditLedgerExport = "audit:ledger:export"
    AuditLedgerRead = "audit:ledger:read"
    AuditLedgerVerify = "audit:ledger:verify"
    ImagingInstanceStore = "imaging:instance:store"
    ImagingStudyConfirm = "imaging:study:confirm"
    ImagingStudyLabel = "imaging:study:label"
    ImagingStudyPrint = "imaging:study:print"
    ImagingStudyRead = "imaging:study:read"
    ImagingStudyReturn = "imaging:study:return"
    ImagingStudySearch = "imaging:study:search"
    OpsBackupCreate = "ops:backup:create"
    OpsBackupPrune = "ops:backup:prune"
    OpsBackupRestore = "ops:backup:restore"
    OpsBackupVerify = "ops:backup:verify"
    OpsKeyExport = "ops:key:export"
    OpsReplicaRun = "ops:replica:run"
    OpsScrubRun = "ops:scrub:run"
    OpsSelfcheckRun = "ops:selfcheck:run"
    OpsStatusRead = "ops:status:read"
    RecordsRecordConfirm = "records:record:confirm"
    RecordsRecordCreate = "records:record:create"
    RecordsRecordExport = "records:record:export"
    RecordsRecordPrint = "records:record:print"
    RecordsRecordRead = "records:record:read"
    RecordsRecordSearch = "records:record:search"
    RecordsRecordUpdate = "records:record:update"
    SelfPasswordChange = "self:password:change"
    SelfSessionEnd = "self:session:end"
