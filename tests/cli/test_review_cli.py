"""`kura audit report|reports|report-pdf|verify-report` through the real command (R27)."""

from __future__ import annotations

import pytest

from kura.errors import NotFound
from kura.reviews import reports, rights
from tests.factories import make_user, subject
from tests.support.cli import kura_cmd
from tests.unit.reviews.helpers import busy_day


def test_r27_report_from_the_console_signed_on_screen_verified_from_the_console(kura, clock, home, tmp_path):
    busy_day(kura, clock)
    code, out, err = kura_cmd(home, "audit", "report", "--since", "2026-11-24")
    assert code == 0, err
    assert "Access outside working hours\tyamada" in out and "Patients with the user's own surname\tyamada" in out
    report_id = out.split()[2].rstrip(":")
    code, out, _ = kura_cmd(home, "audit", "reports")
    assert report_id in out and "not signed off" in out
    pdf = tmp_path / "report.pdf"
    with pytest.raises(NotFound, match="not signed off"):  # `kura` prints it as one line, exit 1
        kura_cmd(home, "audit", "report-pdf", report_id, "--out", str(pdf))
    auditor = make_user(kura, "kansa", ("auditor",))
    with kura.unit_of_work(subject(auditor), "HSYSADMIN") as ctx:
        reports.sign_off(ctx, report_id, comment="確認済み")
    code, _, err = kura_cmd(home, "audit", "report-pdf", report_id, "--out", str(pdf))
    assert code == 0, err
    sig = tmp_path / "report.pdf.sig"
    code, out, err = kura_cmd(home, "audit", "verify-report", str(pdf), str(sig))
    assert code == 0 and "signed by this home" in out, err
    pdf.write_bytes(pdf.read_bytes().replace(b"%%EOF", b"%%EOF\n%"))
    code, _, err = kura_cmd(home, "audit", "verify-report", str(pdf), str(sig))
    assert code == 1 and "SHA-256 differs" in err
    sig.write_text("kura-disposal-certificate v1 sha256=00 key=00 sig=00\n")
    code, _, err = kura_cmd(home, "audit", "verify-report", str(pdf), str(sig))
    assert code == 2 and "not a kura signature line" in err


def test_r11_a_signed_rights_review_verifies_from_the_console(kura, clock, home, tmp_path):
    admin = make_user(kura, "kanri", ("admin",))
    with kura.unit_of_work(subject(admin), "HSYSADMIN") as ctx:
        review_id = rights.start(ctx).id
        for item in rights.items_of(ctx, review_id):
            rights.mark(ctx, review_id, username=item.username, decision="kept")
        rights.sign_off(ctx, review_id, comment="棚卸完了")
    with kura.unit_of_work(subject(admin), "HSYSADMIN") as ctx:
        pdf, sig = rights.document(ctx, review_id)
    (tmp_path / "r.pdf").write_bytes(pdf)
    (tmp_path / "r.sig").write_text(sig.line())
    code, out, err = kura_cmd(home, "audit", "verify-report", str(tmp_path / "r.pdf"), str(tmp_path / "r.sig"))
    assert code == 0 and "kura-rights-review" in out, err
