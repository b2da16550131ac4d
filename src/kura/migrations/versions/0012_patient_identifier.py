"""records: patient_identifier — a Patient identifier (system + value) is unique (issue 10)

Revision ID: 0012
Revises: 0011

The table starts empty: its tokens are keyed with the blind-index key, which the database
does not hold. Patients written from now on fill it; `records.store.rebuild_indexes` (run by
a restore) fills it for every Patient.
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
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


def downgrade() -> None:
    with op.batch_alter_table('patient_identifier', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_identifier_record_pk'))
    op.drop_table('patient_identifier')
