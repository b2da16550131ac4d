"""The demo's oversight: a review report with findings (R27) and a finished rights review (R11)."""

from __future__ import annotations

from sqlalchemy import select

from kura.demo import records as demo_records
from kura.demo import reviews as demo
from kura.reviews import reports, rights
from kura.reviews.models import ReviewReport, RightsReview
from tests.factories import make_user
from tests.unit.demo.test_records import _demo_users


def test_r27_r11_demo_has_a_report_with_findings_and_a_signed_rights_review(kura):
    _demo_users(kura)
    make_user(kura, "audit", ("auditor",))
    demo_records.seed(kura, patients=20, letters=1)  # patient 17 is a staff/VIP patient
    steps = []
    counts = demo.seed(kura, progress=steps.append)
    assert len(steps) == demo.STEPS and counts["findings"] >= 2
    with kura.sessions() as s:
        report = s.scalars(select(ReviewReport)).one()
        review = s.scalars(select(RightsReview)).one()
        kinds = {f["kind"] for f in reports.findings_of(report)}
        assert {"failed_logins", "staff_patient"} <= kinds  # break-glass: kura.demo.audit's night nurse
        assert report.signed_at is None and report.generated_by_name == "audit"  # for a visitor to sign off
        assert review.signed_by_name == "admin" and review.pdf.startswith(b"%PDF")
        items = s.scalars(select(rights.RightsReviewItem).where(rights.RightsReviewItem.review_id == review.id)).all()
        assert items and all(i.decision == "kept" for i in items)
