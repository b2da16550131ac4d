"""The demo's patient matching (issue 10): a flagged study with a demographic mismatch, a
study linked when its patient was registered after it arrived, and an unmatched one that
is linked as soon as the visitor registers its patient."""

from __future__ import annotations

import json

from kura.classes import service as classes
from kura.demo import matching
from kura.demo import records as demo_records
from kura.imaging import reconcile
from kura.imaging import service as imaging
from kura.records import resources as R
from kura.records import service as records
from tests.factories import ADMIN, make_user
from tests.support.imaging import CLERK, PHYSICIAN, TECH


def test_r39_demo_seeds_a_flagged_a_linked_and_an_unmatched_study(kura):
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        classes.seed(ctx)
    for name, role in (("clerk", "clerk"), ("doctor", "physician"), ("admin", "admin"), ("tech", "technologist")):
        make_user(kura, name, (role,))
    demo_records.seed(kura, patients=3, letters=0)
    uids = matching.seed(kura, max_slices=2)
    with kura.unit_of_work(TECH) as ctx:
        assert [s.study_uid for s in reconcile.flagged(ctx)] == [uids["flagged"]]
        assert [s.study_uid for s in reconcile.unmatched(ctx)] == [uids["unmatched"]]
        assert imaging.get_study(ctx, uids["linked"]).patient_id == "95000001"
    with kura.unit_of_work(PHYSICIAN) as ctx:
        linked = json.loads(records.read(ctx, "ImagingStudy", uids["linked"]).content)
    assert linked["subject"]["reference"].startswith("Patient/")
    with kura.unit_of_work(CLERK) as ctx:  # what the README tells the visitor to do
        records.create(ctx, R.patient(mrn="95000002", family="岡田", given="由紀子", family_kana="オカダ",
                                      given_kana="ユキコ", birth_date="1968-11-23", gender="female"))
    with kura.unit_of_work(TECH) as ctx:
        assert reconcile.unmatched(ctx) == []
        assert not imaging.get_study(ctx, uids["unmatched"]).flagged
