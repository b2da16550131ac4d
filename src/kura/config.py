"""One typed, validated settings object, read from the home's config.toml and the environment.

Every setting is listed in SETTINGS (name, default, meaning); the README's settings table is
checked against it by a test, so the two cannot drift.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path
from typing import Any

from kura.errors import Invalid

__all__ = ["Settings", "SETTINGS", "load_settings", "CONFIG_FILE"]

CONFIG_FILE = "config.toml"

# name, default, meaning — the single documentation of every setting.
SETTINGS: list[tuple[str, object, str]] = [
    ("database_url", "", "SQLAlchemy URL; empty means SQLite at <home>/kura.db. $KURA_DATABASE_URL overrides."),
    ("env", "production", "`production` or `development`; $KURA_ENV overrides."),
    ("http", "127.0.0.1:8080", "HOST:PORT for the web UI, REST, FHIR and DICOMweb."),
    ("dicom", "127.0.0.1:11112", "HOST:PORT for the DICOM SCP."),
    ("aet", "KURA", "The DICOM AE title kura answers to."),
    ("dicom_check_called_aet", True, "Reject a DICOM association addressed to another AE title than `aet` (as Orthanc's DicomCheckCalledAet)."),
    ("dicom_request_timeout", 5, "Seconds a DICOM connection may take to send its A-ASSOCIATE-RQ before it is closed."),
    ("dicom_max_connections_per_address", 16, "Open DICOM connections allowed from one network address; more are closed at once."),
    ("dicom_max_associations", 32, "Associations of registered DICOM peers at once; connections that have not associated do not count."),
    ("session_idle_minutes", 15, "A session ends after this many idle minutes."),
    ("session_absolute_hours", 12, "A session ends this many hours after login, busy or not."),
    ("lockout_failures", 5, "Failed logins within the window that lock an account."),
    ("lockout_window_minutes", 15, "The window in which failures are counted."),
    ("lockout_minutes", 15, "How long a lockout lasts (an administrator can unlock sooner)."),
    ("break_glass_minutes", 30, "A break-glass (emergency access) opens one patient to its clinician for this many minutes; every access is ledgered under it."),
    ("support_contact", "", "Whom users call when their account is locked (e.g. `医療情報部 内線 2345`); shown after the right password and code. Empty: the system administrator."),
    ("password_min_length", 8, "Minimum password length (MHLW guideline 6.0: 8 with a second factor)."),
    ("checkpoint_interval", 1000, "A signed ledger checkpoint is made every this many entries."),
    ("request_max_bytes", 64 * 1024 * 1024, "Largest HTTP request body accepted."),
    ("json_max_bytes", 1024 * 1024, "Largest JSON body accepted by the REST and FHIR API."),
    ("attachment_max_bytes", 50 * 1024 * 1024, "Largest document attachment accepted."),
    ("cors_origins", (), "Origins allowed to call DICOMweb and FHIR from a browser (e.g. an OHIF viewer)."),
    ("ohif_dir", "", "Folder of an installed OHIF Viewer build (npm `@ohif/app`'s `dist`, e.g. from `scripts/ohif`), served at `/ohif` to signed-in users, reading this kura's DICOMweb; relative to the home. Empty: not served."),
    ("language", "ja", "Default language of the screens and the CLI (`ja` or `en`); `KURA_LANG` overrides it for the CLI."),
    ("log_level", "INFO", "Operations log level: DEBUG, INFO, WARNING or ERROR."),
    ("log_file", "", "Operations log file (JSON lines), relative to the home; empty means stderr."),
    ("log_file_max_bytes", 10 * 1024 * 1024, "The log file is rotated at this size."),
    ("log_file_keep", 5, "Rotated log files kept (kura.log.1 … kura.log.N)."),
    ("backup_keep_daily", 7, "`backup prune` keeps the newest generation of each of this many days."),
    ("backup_keep_weekly", 4, "… and of each of this many ISO weeks."),
    ("backup_keep_monthly", 12, "… and of each of this many months."),
    ("backup_destination", "", "Folder the server backs up to on schedule (empty: no scheduled backup)."),
    ("backup_interval_hours", 24, "Hours between scheduled backups (0: none)."),
    ("replica_destination", "", "Folder of the second medium the server keeps in step (empty: none)."),
    ("replica_interval_minutes", 15, "Minutes between replications (0: none)."),
    ("scrub_interval_hours", 168, "Hours between scheduled scrubs of every stored object (0: none)."),
    ("selfcheck_interval_hours", 24, "Hours between scheduled software self-checks (0: none)."),
    ("restore_drill_interval_days", 30, "Days between scheduled restore drills of the newest backup in backup_destination (R59; 0: none)."),
    ("duties_acknowledge_days", 365, "Days after which each user acknowledges the user duties (利用者の責務) again; a new version of the text is acknowledged at once."),
    ("training_rule", "warn", "An expired annual security training: `warn` (the home page says so), `block` (no sign-in after the grace period until a new one is recorded) or `off`."),
    ("training_grace_days", 30, "Days after the annual security training expires (or, never taken, after the account was made) before `block` keeps the user out."),
    ("review_schedule", "daily", "Audit review reports made by the server: `daily` (the previous day, JST), `weekly` (the previous Monday–Sunday) or empty (none; on demand only)."),
    ("review_working_hours", "08:00-19:00", "Working hours (JST, HH:MM-HH:MM): access to patients outside them is a review finding."),
    ("review_weekends_off", True, "Saturdays and Sundays count as outside working hours in the review report."),
    ("review_many_patients", 30, "Review finding: one user touching this many distinct patients within `review_many_patients_minutes`."),
    ("review_many_patients_minutes", 60, "The window for `review_many_patients`."),
    ("review_failed_logins", 3, "Review finding: this many failed logins for one account name within `review_failed_logins_minutes`."),
    ("review_failed_logins_minutes", 10, "The window for `review_failed_logins`."),
    ("review_exports_min", 1, "Review finding: a user with at least this many exports and printouts in the period (1: every one is listed)."),
    ("rights_review_unused_days", 90, "Rights review (棚卸): an account not signed in for this many days is flagged; a right not used for as long is listed as unused."),
    ("demo", False, "Set by `kura demo` only: the login page then shows the demo accounts' current codes. Never in production."),
]

# Any: each default's type is the Settings field's (checked against values in load_settings).
_DEFAULTS: dict[str, Any] = {name: default for name, default, _ in SETTINGS}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    # Defaults come from SETTINGS, the one table the README documents.
    home: Path
    database_url: str = _DEFAULTS["database_url"]
    env: str = _DEFAULTS["env"]
    http: str = _DEFAULTS["http"]
    dicom: str = _DEFAULTS["dicom"]
    aet: str = _DEFAULTS["aet"]
    dicom_check_called_aet: bool = _DEFAULTS["dicom_check_called_aet"]
    dicom_request_timeout: int = _DEFAULTS["dicom_request_timeout"]
    dicom_max_connections_per_address: int = _DEFAULTS["dicom_max_connections_per_address"]
    dicom_max_associations: int = _DEFAULTS["dicom_max_associations"]
    session_idle_minutes: int = _DEFAULTS["session_idle_minutes"]
    session_absolute_hours: int = _DEFAULTS["session_absolute_hours"]
    lockout_failures: int = _DEFAULTS["lockout_failures"]
    lockout_window_minutes: int = _DEFAULTS["lockout_window_minutes"]
    lockout_minutes: int = _DEFAULTS["lockout_minutes"]
    break_glass_minutes: int = _DEFAULTS["break_glass_minutes"]
    support_contact: str = _DEFAULTS["support_contact"]
    password_min_length: int = _DEFAULTS["password_min_length"]
    checkpoint_interval: int = _DEFAULTS["checkpoint_interval"]
    request_max_bytes: int = _DEFAULTS["request_max_bytes"]
    json_max_bytes: int = _DEFAULTS["json_max_bytes"]
    attachment_max_bytes: int = _DEFAULTS["attachment_max_bytes"]
    cors_origins: tuple[str, ...] = _DEFAULTS["cors_origins"]
    ohif_dir: str = _DEFAULTS["ohif_dir"]
    language: str = _DEFAULTS["language"]
    log_level: str = _DEFAULTS["log_level"]
    log_file: str = _DEFAULTS["log_file"]
    log_file_max_bytes: int = _DEFAULTS["log_file_max_bytes"]
    log_file_keep: int = _DEFAULTS["log_file_keep"]
    backup_keep_daily: int = _DEFAULTS["backup_keep_daily"]
    backup_keep_weekly: int = _DEFAULTS["backup_keep_weekly"]
    backup_keep_monthly: int = _DEFAULTS["backup_keep_monthly"]
    backup_destination: str = _DEFAULTS["backup_destination"]
    backup_interval_hours: int = _DEFAULTS["backup_interval_hours"]
    replica_destination: str = _DEFAULTS["replica_destination"]
    replica_interval_minutes: int = _DEFAULTS["replica_interval_minutes"]
    scrub_interval_hours: int = _DEFAULTS["scrub_interval_hours"]
    selfcheck_interval_hours: int = _DEFAULTS["selfcheck_interval_hours"]
    restore_drill_interval_days: int = _DEFAULTS["restore_drill_interval_days"]
    duties_acknowledge_days: int = _DEFAULTS["duties_acknowledge_days"]
    training_rule: str = _DEFAULTS["training_rule"]
    training_grace_days: int = _DEFAULTS["training_grace_days"]
    review_schedule: str = _DEFAULTS["review_schedule"]
    review_working_hours: str = _DEFAULTS["review_working_hours"]
    review_weekends_off: bool = _DEFAULTS["review_weekends_off"]
    review_many_patients: int = _DEFAULTS["review_many_patients"]
    review_many_patients_minutes: int = _DEFAULTS["review_many_patients_minutes"]
    review_failed_logins: int = _DEFAULTS["review_failed_logins"]
    review_failed_logins_minutes: int = _DEFAULTS["review_failed_logins_minutes"]
    review_exports_min: int = _DEFAULTS["review_exports_min"]
    rights_review_unused_days: int = _DEFAULTS["rights_review_unused_days"]
    demo: bool = _DEFAULTS["demo"]

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'kura.db'}"

    @property
    def blob_dir(self) -> Path:
        return self.home / "blobs"

    @property
    def key_dir(self) -> Path:
        return self.home / "keys"

    @property
    def ohif_path(self) -> Path | None:
        return self.home / self.ohif_dir if self.ohif_dir else None

    @property
    def log_path(self) -> Path | None:
        return self.home / self.log_file if self.log_file else None

    def working_hours(self) -> tuple[int, int]:
        """review_working_hours as minutes after midnight (start, end). Raises Invalid."""
        try:
            start, end = (int(h) * 60 + int(m) for h, m in (p.strip().split(":") for p in
                                                             self.review_working_hours.split("-")))
        except ValueError:
            raise Invalid("review_working_hours must be HH:MM-HH:MM, e.g. 08:00-19:00") from None
        if not 0 <= start < end <= 24 * 60:
            raise Invalid("review_working_hours must start before it ends, within one day")
        return start, end

    def validate(self) -> Settings:
        if self.env not in ("production", "development"):
            raise Invalid(f"env must be production or development, not {self.env!r}")
        if self.password_min_length < 8:
            raise Invalid("password_min_length below 8 is not allowed (MHLW guideline 6.0)")
        for name in ("session_idle_minutes", "session_absolute_hours", "lockout_failures",
                     "lockout_window_minutes", "lockout_minutes", "checkpoint_interval", "break_glass_minutes",
                     "dicom_request_timeout", "dicom_max_connections_per_address", "dicom_max_associations"):
            if getattr(self, name) <= 0:
                raise Invalid(f"{name} must be positive")
        if self.demo and self.env == "production" and self.database_url.startswith("postgresql"):
            raise Invalid("demo = true is for the embedded demo home only")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise Invalid("log_level must be DEBUG, INFO, WARNING or ERROR")
        if self.log_file_max_bytes <= 0 or self.log_file_keep < 0:
            raise Invalid("log_file_max_bytes must be positive and log_file_keep not negative")
        for name in ("backup_keep_daily", "backup_keep_weekly", "backup_keep_monthly", "backup_interval_hours",
                     "replica_interval_minutes", "scrub_interval_hours", "selfcheck_interval_hours",
                     "restore_drill_interval_days"):
            if getattr(self, name) < 0:
                raise Invalid(f"{name} must not be negative")
        if self.training_rule not in ("warn", "block", "off"):
            raise Invalid("training_rule must be warn, block or off")
        if self.duties_acknowledge_days <= 0 or self.training_grace_days < 0:
            raise Invalid("duties_acknowledge_days must be positive and training_grace_days not negative")
        for name in ("review_many_patients", "review_many_patients_minutes", "review_failed_logins",
                     "review_failed_logins_minutes", "review_exports_min", "rights_review_unused_days"):
            if getattr(self, name) <= 0:
                raise Invalid(f"{name} must be positive")
        if self.review_schedule not in ("", "daily", "weekly"):
            raise Invalid("review_schedule must be daily, weekly or empty")
        self.working_hours()
        if self.language not in ("ja", "en"):
            raise Invalid("language must be ja or en")
        for name in ("http", "dicom"):
            host, _, port = getattr(self, name).rpartition(":")
            if not host or not port.isdigit():
                raise Invalid(f"{name} must be HOST:PORT, not {getattr(self, name)!r}")
        return self


def load_settings(home: Path, **overrides: object) -> Settings:
    """Read <home>/config.toml, then the environment, then explicit overrides."""
    values: dict[str, object] = {}
    path = home / CONFIG_FILE
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise Invalid(f"{path}: {exc}") from None
        section = data.get("kura", {})
        unknown = set(section) - set(_DEFAULTS)
        if unknown:
            raise Invalid(f"{path}: unknown setting(s): {', '.join(sorted(unknown))}")
        values.update(section)
    if os.environ.get("KURA_DATABASE_URL"):
        values["database_url"] = os.environ["KURA_DATABASE_URL"]
    if os.environ.get("KURA_ENV"):
        values["env"] = os.environ["KURA_ENV"]
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "cors_origins" in values:
        values["cors_origins"] = tuple(values["cors_origins"])  # type: ignore[arg-type]
    for name, value in values.items():
        default = _DEFAULTS.get(name)
        if isinstance(default, bool) and not isinstance(value, bool):
            raise Invalid(f"setting {name} must be true or false")
        if isinstance(default, int) and not isinstance(default, bool) and not isinstance(value, int):
            raise Invalid(f"setting {name} must be an integer")
    return Settings(home=home, **values).validate()  # type: ignore[arg-type]
