"""FHIR R4 REST at /fhir (README): read, vread, create, update, search, _history,
$confirm, Patient/$everything, metadata, and Binary for DocumentReference attachments.

An adapter: it parses HTTP, opens the request's unit of work, calls records.service and
writes the stored bytes back. No rules here — access, labels, confirmation and the ledger
are the service's. Errors become OperationOutcomes centrally (kura.web.errors).
"""

from kura.web.fhir.routes import router

__all__ = ["router"]
