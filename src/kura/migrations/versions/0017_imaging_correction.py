"""imaging: imaging_correction — a study's patient attributes corrected as versions (IHE PIR; issue 10)

Revision ID: 0017
Revises: 0016
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('imaging_correction',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('study_ref', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('patient_name', sa.String(length=400), nullable=False),
    sa.Column('birth_date', sa.String(length=8), nullable=False),
    sa.Column('sex', sa.String(length=16), nullable=False),
    sa.Column('original', sa.Text(), nullable=False),
    sa.Column('key_owner', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('corrected_by', sa.String(length=200), nullable=False),
    sa.Column('corrected_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['study_ref'], ['imaging_study.id'], name=op.f('fk_imaging_correction_study_ref_imaging_study')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_imaging_correction')),
    sa.UniqueConstraint('study_ref', 'version', name=op.f('uq_imaging_correction_study_ref'))
    )
    with op.batch_alter_table('imaging_correction', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_imaging_correction_study_ref'), ['study_ref'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('imaging_correction', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_imaging_correction_study_ref'))
    op.drop_table('imaging_correction')
