"""The audit manager's view across stores: who a ledger entry's patient and user are, a
patient's access history, and the exports of a filtered ledger view (CSV, PDF).

It sits above the records store and the image archive (it resolves patients in both) and
reads the ledger through kura.audit. Showing who a patient is needs its own right
(Action.AuditPatientIdentify, the audit manager's) and is itself a ledger entry."""
