"""sealed records: record versions sealed at rest, blind search indexes (issue 7 §2, §3)

Adds the label and management class each version was written under (record_version.label,
.class_code; both bound into the envelope's AAD), drops search_string.shared (a record now
has each blind token once), then seals every plaintext version under its patient's data key
(or the home's) with kura.records.sealing and rebuilds the search index of every record as
blind tokens (kura.records.store.rebuild_indexes, as a restore does). Needs the master key
(kura.app passes it, as for 0004) when there are records.

Idempotent in effect: a version already sealed (not starting with "{") is left as it is, and
the index is rebuilt from the verified content. The plaintext the old rows held stays in
free database pages until they are reused: kura.migrations.upgrade runs VACUUM afterwards
(THREAT_MODEL.md says what remains on a disk that held the old database).

Revision ID: 0006
Revises: 0005
"""
import json

import sqlalchemy as sa
from alembic import context, op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table('record_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('label', sa.String(length=1), nullable=True))
        batch_op.add_column(sa.Column('class_code', sa.String(length=64), nullable=True))
    with op.batch_alter_table('search_string', schema=None) as batch_op:
        batch_op.drop_index('ix_search_string_visible')
        batch_op.drop_column('shared')
        batch_op.create_index('ix_search_string_visible',
                              ['rtype', 'param', 'value', 'class_code', 'confidentiality', 'record_pk'], unique=False)
    # The live code below reads and writes the columns 0012 adds (patient_confidentiality):
    # add them here already; 0012 adds them only where they are missing, and fills them.
    _patient_label_columns()
    if _seal_and_reindex(op.get_bind()):
        context.config.attributes["vacuum"] = True
    with op.batch_alter_table('record_version', schema=None) as batch_op:
        batch_op.alter_column('label', existing_type=sa.String(length=1), nullable=False)


def _patient_label_columns() -> None:
    for table in ('record', 'search_string'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('patient_confidentiality', sa.String(length=1), server_default='N',
                                          nullable=False))


def _seal_and_reindex(conn) -> bool:
    """Seal and re-index what is stored; True when there was anything to do."""
    # The live code's sealing and index functions: the envelopes and tokens must be exactly
    # the ones the running store reads, and a key is made the way kura.keys makes every key.
    from sqlalchemy.orm import Session

    from kura.clock import SystemClock
    from kura.keys.ring import KeyRing
    from kura.operation import Context
    from kura.records import sealing
    from kura.records.models import Record, RecordVersion
    from kura.records.store import rebuild_indexes

    if conn.execute(sa.text("SELECT count(*) FROM record")).scalar() == 0:
        return False
    master = context.config.attributes.get("master_key")
    if not master:
        raise RuntimeError("migration 0006 seals the stored records and needs the master key")
    session = Session(bind=conn)
    # No blobs, settings or signer: sealing and indexing need only the session and the key ring.
    ctx = Context(session=session, actor=None, purpose="migration 0006", clock=SystemClock(), signer=None,
                  blobs=None, settings=None, keyring=KeyRing(master))
    table = RecordVersion.__table__
    last = ""
    while True:
        recs = list(session.scalars(sa.select(Record).where(Record.pk > last).order_by(Record.pk).limit(_BATCH)))
        if not recs:
            break
        last = recs[-1].pk
        by_pk = {r.pk: r for r in recs}
        rows = conn.execute(sa.select(table.c.record_pk, table.c.number, table.c.content, table.c.status,
                                      table.c.label).where(table.c.record_pk.in_(list(by_pk)))).all()
        for record_pk, number, content, status, label in rows:
            rec = by_pk[record_pk]
            where = (table.c.record_pk == record_pk, table.c.number == number)
            if content is None:  # kept in a blob (sealed there): only the new columns
                conn.execute(table.update().where(*where).values(label=label or rec.confidentiality,
                                                                 class_code=rec.class_code))
            elif content[:1] == b"{":  # plaintext: seal it under the label it was written with
                label = _label(content) or rec.confidentiality
                sealed = sealing.seal_content(ctx, rtype=rec.rtype, logical_id=rec.logical_id, number=number,
                                              patient_id=rec.patient_id, status=status, label=label,
                                              class_code=rec.class_code, plaintext=content)
                conn.execute(table.update().where(*where).values(content=sealed, label=label,
                                                                 class_code=rec.class_code))
        session.expunge_all()
    rebuild_indexes(ctx)
    session.flush()
    session.close()
    return True


def _label(plain: bytes) -> str | None:
    meta = json.loads(plain).get("meta") or {}
    return next((c.get("code") for c in meta.get("security") or []
                 if isinstance(c, dict) and c.get("system") == "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"),
                None)


def downgrade() -> None:
    raise NotImplementedError("0006 seals the records; restore a backup to go back")
