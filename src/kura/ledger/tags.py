"""Every kind of ledger entry, by name.

Naming scheme: ``<source>:<subject>:<action>``. Members are alphabetised; code refers to them
by member name (STYLE.md §1). ALERT_TAGS are the security alerts the audit manager reviews.
"""

from enum import StrEnum

__all__ = ["LedgerTag", "ALERT_TAGS"]


class LedgerTag(StrEnum):
    AccessBreakGlassStarted = "access:breakglass:started"
    AccessBreakGlassStopped = "access:breakglass:stopped"
    AccessRequestDenied = "access:request:denied"
    AdminClassChanged = "admin:class:changed"
    AdminClassDefined = "admin:class:defined"
    AdminDutiesPublished = "admin:duties:published"
    AdminPeerAdded = "admin:peer:added"
    AdminPeerChanged = "admin:peer:changed"
    AdminRequestApproved = "admin:request:approved"
    AdminRequestRefused = "admin:request:refused"
    AdminRequestSubmitted = "admin:request:submitted"
    AdminReviewMarked = "admin:review:marked"
    AdminReviewSignedOff = "admin:review:signed-off"
    AdminReviewStarted = "admin:review:started"
    AdminReviewViewed = "admin:review:viewed"
    AdminTrainingRecorded = "admin:training:recorded"
    AdminUserCreated = "admin:user:created"
    AdminUserDisabled = "admin:user:disabled"
    AdminUserEndDateSet = "admin:user:end-date-set"
    AdminUserEnded = "admin:user:ended"
    AdminUserPasswordReset = "admin:user:password-reset"
    AdminUserUnlocked = "admin:user:unlocked"
    AdminUserUpdated = "admin:user:updated"
    AuditAlertSignedOff = "audit:alert:signed-off"
    AuditCheckpointCreated = "audit:checkpoint:created"
    AuditLedgerExported = "audit:ledger:exported"
    AuditLedgerRead = "audit:ledger:read"
    AuditLedgerVerified = "audit:ledger:verified"
    AuditPatientIdentified = "audit:patient:identified"
    AuditReportGenerated = "audit:report:generated"
    AuditReportSignedOff = "audit:report:signed-off"
    AuditReportViewed = "audit:report:viewed"
    AuthAccountLocked = "auth:account:locked"
    AuthDutiesAcknowledged = "auth:duties:acknowledged"
    AuthLoginFailed = "auth:login:failed"
    AuthLoginSucceeded = "auth:login:succeeded"
    AuthPasswordChanged = "auth:password:changed"
    AuthSessionEnded = "auth:session:ended"
    AuthSessionRevoked = "auth:session:revoked"
    AuthSessionTimedOut = "auth:session:timed-out"
    AuthTotpEnrolled = "auth:totp:enrolled"
    DicomAssociationAccepted = "dicom:association:accepted"
    DicomAssociationRejected = "dicom:association:rejected"
    DicomAssociationReleased = "dicom:association:released"
    ImagingArchiveReconciled = "imaging:archive:reconciled"
    ImagingInstanceConverted = "imaging:instance:converted"
    ImagingInstanceRefused = "imaging:instance:refused"
    ImagingInstanceStored = "imaging:instance:stored"
    ImagingPatientLinked = "imaging:patient:linked"
    ImagingStudyConfirmed = "imaging:study:confirmed"
    ImagingStudyCorrected = "imaging:study:corrected"
    ImagingStudyFlagged = "imaging:study:flagged"
    ImagingStudyLabelled = "imaging:study:labelled"
    ImagingStudyPrinted = "imaging:study:printed"
    ImagingStudyQueried = "imaging:study:queried"
    ImagingStudyRead = "imaging:study:read"
    ImagingStudyRetrieved = "imaging:study:retrieved"
    ImagingStudyReturned = "imaging:study:returned"
    KeysKeyLinked = "keys:key:linked"
    KeysKeyShredded = "keys:key:shredded"
    OpsBackupCreated = "ops:backup:created"
    OpsBackupPruned = "ops:backup:pruned"
    OpsBackupRestored = "ops:backup:restored"
    OpsBackupVerified = "ops:backup:verified"
    OpsEmergencyLifted = "ops:emergency:lifted"
    OpsEmergencySwitched = "ops:emergency:switched"
    OpsIntegrityFailed = "ops:integrity:failed"
    OpsKeyExported = "ops:key:exported"
    OpsObjectRepaired = "ops:object:repaired"
    OpsReplicaSynced = "ops:replica:synced"
    OpsRestoreDrilled = "ops:restore:drilled"
    OpsRunFailed = "ops:run:failed"
    OpsScrubCompleted = "ops:scrub:completed"
    OpsSelfcheckCompleted = "ops:selfcheck:completed"
    RecordsRecordConfirmed = "records:record:confirmed"
    RecordsRecordCreated = "records:record:created"
    RecordsRecordExported = "records:record:exported"
    RecordsRecordPrinted = "records:record:printed"
    RecordsRecordRead = "records:record:read"
    RecordsRecordSearched = "records:record:searched"
    RecordsRecordTampered = "records:record:tampered"
    RecordsRecordUpdated = "records:record:updated"
    RegisterDeviceAdded = "register:device:added"
    RegisterDeviceChanged = "register:device:changed"
    RegisterEquipmentApproved = "register:equipment:approved"
    RegisterEquipmentRecorded = "register:equipment:recorded"
    RegisterIncidentRecorded = "register:incident:recorded"
    RegisterIncidentUpdated = "register:incident:updated"
    RegisterInspectionClosed = "register:inspection:closed"
    RegisterInspectionRecorded = "register:inspection:recorded"
    RegisterMediaRecorded = "register:media:recorded"
    RegisterMediaUpdated = "register:media:updated"
    RegisterSoftwareApproved = "register:software:approved"
    RegisterSoftwareRefused = "register:software:refused"
    RegisterSoftwareSubmitted = "register:software:submitted"
    RetentionDisposalApproved = "retention:disposal:approved"
    RetentionDisposalRequested = "retention:disposal:requested"
    RetentionHoldLifted = "retention:hold:lifted"
    RetentionHoldPlaced = "retention:hold:placed"
    RetentionVaultRefreshed = "retention:vault:refreshed"
    RetentionWorklistRead = "retention:worklist:read"
    SystemHomeInitialised = "system:home:initialised"
    SystemServerStarted = "system:server:started"
    SystemServerStopped = "system:server:stopped"


# Security alerts (DICOM 110113) the audit manager reviews and signs off.
ALERT_TAGS = frozenset({
    LedgerTag.AccessBreakGlassStarted,
    LedgerTag.AccessRequestDenied,
    LedgerTag.AuthAccountLocked,
    LedgerTag.DicomAssociationRejected,
    LedgerTag.ImagingInstanceRefused,
    LedgerTag.ImagingStudyFlagged,
    LedgerTag.OpsEmergencySwitched,
    LedgerTag.OpsIntegrityFailed,
    LedgerTag.OpsRunFailed,
    LedgerTag.RecordsRecordTampered,
})
