"""records: patient_identifier — a Patient identifier (system + value) is unique (issue 10)

Revision ID: 0013
Revises: 0012

Filled for the Patients already stored by rebuilding the search indexes (as 0006 and a
restore do): the tokens are keyed with the blind-index key, so this needs the master key
(kura.app passes it) when there are records. Identifiers that two stored Patients share
already are left to the first; later writes of the other are refused until it is corrected.
"""
from alembic import context, op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('patient_identifier',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_pk', sa.String(length=36), nullable=False),
    sa.Column('system', sa.String(length=200), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['record_pk'], ['record.pk'], name=op.f('fk_patient_identifier_record_pk_record')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_identifier')),
    sa.UniqueConstraint('system', 'token', name='uq_patient_identifier_system_token')
    )
    with op.batch_alter_table('patient_identifier', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_identifier_record_pk'), ['record_pk'], unique=False)
    _fill(op.get_bind())


def _fill(conn) -> None:
    from sqlalchemy.orm import Session

    from kura.clock import SystemClock
    from kura.keys.ring import KeyRing
    from kura.operation import Context
    from kura.records.store import rebuild_indexes

    if conn.execute(sa.text("SELECT count(*) FROM record WHERE rtype = 'Patient'")).scalar() == 0:
        return
    master = context.config.attributes.get("master_key")
    if not master:
        raise RuntimeError("migration 0013 indexes the stored Patients' identifiers and needs the master key")
    session = Session(bind=conn)
    ctx = Context(session=session, actor=None, purpose="migration 0013", clock=SystemClock(), signer=None,
                  blobs=None, settings=None, keyring=KeyRing(master))
    rebuild_indexes(ctx)
    session.flush()
    session.close()


def downgrade() -> None:
    with op.batch_alter_table('patient_identifier', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_identifier_record_pk'))
    op.drop_table('patient_identifier')
