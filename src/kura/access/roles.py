"""Roles and what each grants: data, not code. The UI shows this table to the administrator.

R15: policy administration (admin), technical operation (operations) and audit review
(auditor) are separate roles, and no role grants any action that alters the ledger.
R17: neither admin nor operations may read stored records.
R10: accounts come by request and approval: the department head (部門責任者) asks, the system
administrator decides (AdminRequestDecide), and never on their own request (errors.SamePerson).
R82: training is recorded by the administrator or the operations manager, who runs it (§14);
the audit manager reads the records.
Labelling one study (ImagingStudyLabel) is for those who see it and know why it is sensitive:
the physician and the technologist, never the administrator, who may not read images (R17).
Regulation §7 (equipment) and §9 (software): the equipment inventory, its inspections and the
disposal register are kept by the operations manager and the system administrator
(RegisterEquipmentManage); the auditor reads them. Approving a build of kura for use
(OpsSoftwareApprove) is the operations manager's alone.
"""

from enum import StrEnum

from kura.access.actions import Action as A

__all__ = ["Role", "ROLE_GRANTS", "ANY", "CLINICAL_ROLES", "RECORD_TYPES", "ROLE_LABELS"]


class Role(StrEnum):
    admin = "admin"
    auditor = "auditor"
    clerk = "clerk"
    department_head = "department_head"
    modality = "modality"  # a DICOM peer with the store right (kura.imaging.peers)
    nurse = "nurse"
    operations = "operations"
    physician = "physician"
    technologist = "technologist"
    workstation = "workstation"  # a DICOM peer with query/retrieve rights (kura.imaging.peers)


ROLE_LABELS = {
    Role.admin: ("システム管理者", "System administrator"),
    Role.auditor: ("監査責任者", "Audit manager"),
    Role.clerk: ("医事課職員", "Clerk"),
    Role.department_head: ("部門責任者", "Department head"),
    Role.modality: ("DICOM 装置 (保存)", "DICOM peer: modality (store)"),
    Role.nurse: ("看護師", "Nurse"),
    Role.operations: ("運用責任者", "Operations manager"),
    Role.physician: ("医師", "Physician"),
    Role.technologist: ("診療放射線技師", "Radiologic technologist"),
    Role.workstation: ("DICOM 端末 (検索・取得)", "DICOM peer: workstation (query, retrieve)"),
}

ANY = "*"

# 医事 record types held in the FHIR store.
RECORD_TYPES = ("Patient", "Coverage", "Encounter", "ChargeItem", "Invoice", "DocumentReference")
_CLERK_TYPES = frozenset({"Patient", "Coverage", "Encounter", "ChargeItem", "Invoice"})
_READ_TYPES = frozenset(RECORD_TYPES) | {"Practitioner", "Provenance", "ImagingStudy"}

# Break-glass (R18) is for those who treat patients.
CLINICAL_ROLES = frozenset({Role.physician, Role.nurse})

_EVERYONE = {A.SelfDutiesAcknowledge: ANY, A.SelfPasswordChange: ANY, A.SelfSessionEnd: ANY}

# Role -> action -> target kinds it may act on (ANY: every kind).
ROLE_GRANTS: dict[Role, dict[A, frozenset[str] | str]] = {
    Role.admin: {
        **_EVERYONE,
        A.AdminClassManage: ANY, A.AdminClassRead: ANY,
        A.AdminDutiesManage: ANY,
        A.AdminPeerManage: ANY, A.AdminPeerRead: ANY,
        A.AdminPermissionsRead: ANY,
        A.AdminRequestDecide: ANY, A.AdminRequestRead: ANY,
        A.AdminTrainingManage: ANY, A.AdminTrainingRead: ANY,
        A.AdminUserManage: ANY, A.AdminUserRead: ANY,
        A.AdminReviewManage: ANY, A.AdminReviewRead: ANY,
        A.OpsKeyExport: ANY, A.OpsStatusRead: ANY,
        A.OpsEmergencySwitch: ANY,
        A.RegisterEntryRead: ANY, A.RegisterEquipmentManage: ANY, A.RegisterIncidentManage: ANY,
        A.RetentionDisposalApprove: ANY, A.RetentionDisposalRead: ANY, A.RetentionDisposalRequest: ANY,
        A.RetentionHoldLift: ANY, A.RetentionHoldPlace: ANY,
    },
    Role.operations: {
        **_EVERYONE,
        A.AdminPeerManage: ANY, A.AdminPeerRead: ANY, A.AdminClassRead: ANY,
        A.AdminTrainingManage: ANY, A.AdminTrainingRead: ANY,
        A.AuditCheckpointCreate: ANY, A.AuditLedgerVerify: ANY,
        A.OpsBackupCreate: ANY, A.OpsBackupPrune: ANY, A.OpsBackupRestore: ANY,
        A.OpsBackupVerify: ANY, A.OpsReplicaRun: ANY, A.OpsScrubRun: ANY,
        A.OpsSelfcheckRun: ANY, A.OpsSoftwareApprove: ANY, A.OpsStatusRead: ANY,
        A.OpsEmergencySwitch: ANY, A.ImagingArchiveReconcile: ANY,
        A.RegisterEntryRead: ANY, A.RegisterEquipmentManage: ANY, A.RegisterIncidentManage: ANY,
        A.RegisterPrintRead: ANY,
        A.RetentionDisposalApprove: ANY, A.RetentionDisposalRead: ANY, A.RetentionDisposalRequest: ANY,
    },
    Role.auditor: {
        **_EVERYONE,
        A.AuditAlertRead: ANY, A.AuditAlertSignoff: ANY,
        A.AuditCheckpointCreate: ANY, A.AuditLedgerExport: ANY,
        A.AuditLedgerRead: ANY, A.AuditLedgerVerify: ANY,
        # Who a ledger entry's patient is (number, name), never the record's content (R17):
        # every identification is a ledger entry, shown in that patient's access history.
        A.AuditPatientIdentify: ANY,
        A.AuditReportGenerate: ANY, A.AuditReportRead: ANY, A.AuditReportSignoff: ANY,
        A.AdminPermissionsRead: ANY, A.AdminReviewRead: ANY, A.AdminTrainingRead: ANY,
        A.RegisterEntryRead: ANY, A.RegisterIncidentManage: ANY, A.RegisterPrintRead: ANY,
        A.RetentionDisposalRead: ANY, A.RetentionHoldLift: ANY, A.RetentionHoldPlace: ANY,
    },
    Role.physician: {
        **_EVERYONE,
        A.RecordsRecordRead: _READ_TYPES, A.RecordsRecordSearch: _READ_TYPES,
        A.RecordsRecordCreate: frozenset({"DocumentReference", "Encounter"}),
        A.RecordsRecordUpdate: frozenset({"DocumentReference", "Encounter"}),
        A.RecordsRecordConfirm: frozenset({"DocumentReference", "Encounter"}),
        A.RecordsRecordPrint: _READ_TYPES, A.RecordsRecordExport: _READ_TYPES,
        A.ImagingStudyRead: ANY, A.ImagingStudySearch: ANY, A.ImagingStudyPrint: ANY,
        A.ImagingStudyLabel: ANY,
        A.RegisterMediaManage: ANY,
    },
    Role.nurse: {
        **_EVERYONE,
        A.RecordsRecordRead: _READ_TYPES, A.RecordsRecordSearch: _READ_TYPES,
        A.RecordsRecordPrint: _READ_TYPES,
        A.ImagingStudyRead: ANY, A.ImagingStudySearch: ANY,
    },
    Role.technologist: {
        **_EVERYONE,
        A.RecordsRecordRead: frozenset({"Patient", "Practitioner", "ImagingStudy", "Provenance"}),
        A.RecordsRecordSearch: frozenset({"Patient", "Practitioner", "ImagingStudy"}),
        A.ImagingInstanceStore: ANY, A.ImagingStudyConfirm: ANY, A.ImagingStudyReturn: ANY,
        A.ImagingStudyRead: ANY, A.ImagingStudySearch: ANY, A.ImagingStudyPrint: ANY,
        A.ImagingStudyLabel: ANY, A.ImagingStudyReconcile: ANY, A.ImagingStudyCorrect: ANY,
        A.RegisterMediaManage: ANY,
    },
    # 部門責任者: asks for accounts and changes for their staff (R10); the administrator decides.
    Role.department_head: {
        **_EVERYONE,
        A.AdminRequestCreate: ANY, A.AdminRequestRead: ANY,
    },
    # DICOM peers are system Subjects, never users (kura.imaging.peers).
    Role.modality: {A.ImagingInstanceStore: ANY},
    Role.workstation: {A.ImagingStudyRead: ANY, A.ImagingStudySearch: ANY},
    Role.clerk: {
        **_EVERYONE,
        A.RecordsRecordCreate: _CLERK_TYPES, A.RecordsRecordUpdate: _CLERK_TYPES,
        A.RecordsRecordConfirm: _CLERK_TYPES,
        A.RecordsRecordRead: _CLERK_TYPES | {"DocumentReference", "Practitioner", "Provenance"},
        A.RecordsRecordSearch: _CLERK_TYPES | {"DocumentReference", "Practitioner", "Provenance"},
        A.RecordsRecordPrint: _CLERK_TYPES, A.RecordsRecordExport: _CLERK_TYPES | {"DocumentReference"},
        # The records side of patient identity: the clerk sees a study's demographics (never
        # its images) and links it to the registered patient; correcting what the modality
        # wrote into the images is the technologist's (ImagingStudyCorrect).
        A.ImagingStudyReconcile: ANY,
    },
}
