"""imaging: the registered Patient's confidentiality label on the imaging patient row (issue 7)

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('imaging_patient', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confidentiality', sa.String(length=1), server_default='N',
                                      nullable=False))
        batch_op.create_index(batch_op.f('ix_imaging_patient_confidentiality'), ['confidentiality'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_imaging_patient_fhir_patient_id'), ['fhir_patient_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('imaging_patient', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_imaging_patient_fhir_patient_id'))
        batch_op.drop_index(batch_op.f('ix_imaging_patient_confidentiality'))
        batch_op.drop_column('confidentiality')
