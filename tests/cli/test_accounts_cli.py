"""`kura user end-date`, `kura training add|due` through the real command (R11, R82)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kura.errors import Invalid, NotFound

from kura.identity import service as identity
from kura.identity.models import TrainingRecord
from kura.ledger.tags import LedgerTag
from tests.factories import ADMIN, make_user
from tests.support.cli import kura_cmd
from tests.web.ui import entries


def test_r11_user_end_date_from_the_console(kura, home, clock):
    make_user(kura, "taisyoku", ("clerk",))
    code, out, _ = kura_cmd(home, "user", "end-date", "taisyoku", "2099-03-31", "--reason", "退職")
    assert code == 0 and "ends 2099-03-31" in out
    assert "taisyoku\tclerk\tN\tactive\t\tends 2099-03-31" in kura_cmd(home, "user", "list")[1]
    with pytest.raises(Invalid):  # main() prints it as one line, exit 2
        kura_cmd(home, "user", "end-date", "taisyoku", "31.3.2099")
    with pytest.raises(NotFound):  # exit 1
        kura_cmd(home, "user", "end-date", "nobody", "2099-03-31")
    code, out, _ = kura_cmd(home, "user", "end-date", "taisyoku", "2000-01-01")  # a day gone: ends now
    assert code == 0 and "disabled now" in out
    with kura.unit_of_work(ADMIN, "HSYSADMIN") as ctx:
        assert identity.get_user(ctx, "taisyoku").disabled
    assert [e.reason for e in entries(kura, LedgerTag.AdminUserEndDateSet)][-1] == "退職"
    assert entries(kura, LedgerTag.AdminUserEnded)


def test_r82_training_add_with_evidence_and_due(kura, home, tmp_path):
    make_user(kura, "jukou", ("nurse",))
    make_user(kura, "mijukou", ("clerk",))
    cert = tmp_path / "certificate.pdf"
    cert.write_bytes(b"%PDF-1.4 cert")
    code, out, _ = kura_cmd(home, "training", "add", "jukou", "--course", "security", "--date", "2026-06-01",
                            "--evidence", str(cert))
    assert code == 0 and "2027-06-01" in out
    code, out, _ = kura_cmd(home, "training", "due")
    assert code == 1  # someone is overdue
    assert "mijukou\t-\t-\tnever" in out and not any(line.startswith("jukou\t") for line in out.splitlines())
    with pytest.raises(Invalid, match="course"):
        kura_cmd(home, "training", "add", "jukou", "--course", "kendo", "--date", "2026-06-01")
    with kura.sessions() as s:
        row = s.scalar(select(TrainingRecord))
        assert row.evidence_name == "certificate.pdf" and row.evidence_type == "application/pdf"
    assert entries(kura, LedgerTag.AdminTrainingRecorded)[0].target_id == "jukou"
