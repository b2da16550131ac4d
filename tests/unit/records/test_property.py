"""Property: any sequence of creates, updates and confirms keeps every record's history
complete (versions 1..n, each immutable), gives every version exactly one Provenance naming
it, and leaves `kura audit verify --deep` green (R36, R42, R44)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from kura.audit import service as audit
from kura.errors import Conflict, Invalid
from kura.preservation.deep import deep_check
from kura.records import service as records
from kura.records.models import Record, RecordVersion
from kura.records.store import content_of
from tests.factories import ADMIN, make_user
from tests.support.records import encounter, patient, seed_classes, user_subject

ops = st.lists(st.tuples(st.sampled_from(["create", "update", "confirm", "correct"]),
                         st.integers(min_value=0, max_value=50), st.sampled_from(["太郎", "次郎", "花子"])),
               min_size=1, max_size=12)


def test_r36_r42_history_provenance_and_deep_check_hold(kura):
    seed_classes(kura)
    clerk = user_subject(make_user(kura, "pclerk", ("clerk",)))
    made: list[tuple[str, str]] = []

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(ops)
    def run(sequence):
        for op, pick, given_name in sequence:
            with kura.unit_of_work(clerk, "HPAYMT") as ctx:
                if op == "create" or not made:
                    if made and pick % 2:
                        v = records.create(ctx, encounter(made[pick % len(made)][1]))
                    else:
                        v = records.create(ctx, patient(given=given_name, mrn=str(len(made))))
                    made.append((v.rtype, v.patient_id))
                    if v.rtype == "Patient":
                        made[-1] = ("Patient", v.id)
                    continue
            rtype, rid = made[pick % len(made)]
            if rtype != "Patient":
                continue
            try:
                with kura.unit_of_work(clerk, "HPAYMT") as ctx:
                    if op == "confirm":
                        records.confirm(ctx, rtype, rid)
                    else:
                        body = {**patient(given=given_name), "id": rid}
                        records.update(ctx, rtype, rid, body, reason="訂正" if op == "correct" else None)
            except (Conflict, Invalid):
                pass  # confirming twice, or correcting a confirmed record without a reason
        _check_invariants(kura)

    run()


def _check_invariants(kura):
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        s = ctx.session
        recs = s.scalars(select(Record).where(Record.rtype != "Provenance")).all()
        provs = {}
        for rec, v in s.execute(select(Record, RecordVersion).join(Record, Record.pk == RecordVersion.record_pk)
                                .where(Record.rtype == "Provenance")):
            p = json.loads(content_of(ctx, rec, v))  # stored sealed: opened and verified
            provs.setdefault(p["target"][0]["reference"], []).append(p)
        for rec in recs:
            numbers = [n for n, in s.execute(select(RecordVersion.number).where(RecordVersion.record_pk == rec.pk)
                                             .order_by(RecordVersion.number))]
            assert numbers == list(range(1, rec.current_version + 1))
            if rec.rtype == "Practitioner":
                continue
            for n in numbers:
                assert len(provs.get(f"{rec.rtype}/{rec.logical_id}/_history/{n}", [])) == 1
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        assert audit.verify(ctx).ok
        assert deep_check(ctx) == []
