"""data keys: one key service for records, attachments and images (kura.keys)

Moves the records' per-patient keys (patient_key) and the archive's per-patient keys
(imaging_patient.wrapped_key) into one table, data_key, re-wrapped under the new label
(key id | owner) — the data keys themselves and everything sealed under them are unchanged.
Also merges the two heads 0002 and 0003.

Revision ID: 0004
Revises: 0002, 0003
"""
import uuid

import sqlalchemy as sa
from alembic import context, op

import kura.db.base
from kura.blobs.crypto import unwrap_key, wrap_key

revision = '0004'
down_revision = ('0002', '0003')
branch_labels = None
depends_on = None


def upgrade() -> None:
    data_key = op.create_table(
        'data_key',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('owner', sa.String(length=200), nullable=False),
        sa.Column('origin', sa.String(length=200), nullable=False),
        sa.Column('is_primary', sa.Boolean(), nullable=False),
        sa.Column('wrapped', sa.LargeBinary(), nullable=True),
        sa.Column('created_at', kura.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('shredded_at', kura.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_data_key')))
    with op.batch_alter_table('data_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_key_owner'), ['owner'], unique=False)
        batch_op.create_index('uq_data_key_primary_owner', ['owner'], unique=True,
                              sqlite_where=sa.text('is_primary'), postgresql_where=sa.text('is_primary'))

    conn = op.get_bind()
    old_records = conn.execute(sa.text("SELECT patient_id, wrapped, created_at FROM patient_key")).all()
    old_images = conn.execute(sa.text(
        "SELECT id, patient_id, fhir_patient_id, wrapped_key, created_at FROM imaging_patient")).all()
    master = context.config.attributes.get("master_key")
    if (old_records or old_images) and not master:
        raise RuntimeError("migration 0004 re-wraps the data keys and needs the master key")
    rows, primaries = [], set()

    def move(dek: bytes, owner: str, created_at) -> None:
        key_hex = uuid.uuid4().hex
        rows.append({"id": key_hex, "owner": owner, "origin": owner, "is_primary": owner not in primaries,
                     "wrapped": wrap_key(master, dek, f"{key_hex}|{owner}"), "created_at": created_at,
                     "shredded_at": None})
        primaries.add(owner)

    for patient_id, wrapped, created_at in old_records:
        move(unwrap_key(master, wrapped, patient_id), f"patient:{patient_id}", created_at)
    for row_id, dicom_id, fhir_id, wrapped, created_at in old_images:
        owner = f"patient:{fhir_id}" if fhir_id else f"dicom:{dicom_id}"
        move(unwrap_key(master, wrapped, f"imaging-patient:{row_id}"), owner, created_at)
    if rows:
        conn.execute(data_key.insert(), [{**r, "created_at": _aware(r["created_at"])} for r in rows])

    op.drop_table('patient_key')
    # A plain ALTER TABLE ... DROP COLUMN (SQLite ≥ 3.35 has it): a batch "move and copy" of
    # imaging_patient would drop a table that imaging_study references, which SQLite's
    # foreign keys refuse in a home that holds images.
    op.drop_column('imaging_patient', 'wrapped_key')


def _aware(t):
    import datetime as dt
    if isinstance(t, str):
        t = dt.datetime.fromisoformat(t)
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def downgrade() -> None:
    raise NotImplementedError("0004 moves data keys; restore a backup to go back")
