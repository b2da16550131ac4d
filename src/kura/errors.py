"""The errors the core raises; adapters map them to HTTP, DICOM status or exit codes."""

__all__ = ["KuraError", "NotFound", "Denied", "Conflict", "Invalid", "Unprocessable", "IntegrityFailure",
           "Locked", "Unauthenticated", "Shredded", "SamePerson"]


class KuraError(Exception):
    """Base of every error the core raises on purpose."""


class NotFound(KuraError):
    """The object does not exist (or the caller may not know it exists)."""


class Denied(KuraError):
    """The access policy refused the action; `reason` says why."""

    def __init__(self, reason: str, *, needs_break_glass: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.needs_break_glass = needs_break_glass


class SamePerson(Denied):
    """The two-person rule: who asked for a disposal (or recorded one) cannot approve it (R80)."""


class Unauthenticated(KuraError):
    """No valid session or credentials. The message never says which part was wrong."""


class Locked(KuraError):
    """The account is locked after too many failures."""


class Conflict(KuraError):
    """The change conflicts with stored state (e.g. an overwrite of a confirmed version)."""


class Invalid(KuraError):
    """The input is malformed or breaks a rule; the message names the problem."""


class Unprocessable(Invalid):
    """Well-formed input that breaks a rule of the standard, e.g. a code outside a FHIR required
    binding (FHIR answers 422). `issues`: one {"expression", "diagnostics"} per fault."""

    def __init__(self, message: str, *, issues: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.issues = list(issues or [])


class IntegrityFailure(KuraError):
    """Stored data no longer matches what the ledger committed."""


class Shredded(KuraError):
    """The data was disposed of: its data key was destroyed (crypto-shredding, R79).
    Adapters answer 410 Gone."""
