"""equipment inventory, inspections, software reviews

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 16:27:01.092784
"""
from alembic import op
import sqlalchemy as sa
import kura.db.base


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('software_review',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('files_digest', sa.String(length=64), nullable=False),
    sa.Column('files', sa.Integer(), nullable=False),
    sa.Column('components', sa.Integer(), nullable=False),
    sa.Column('anomalies', sa.Text(), nullable=False),
    sa.Column('sbom_blob', sa.String(length=200), nullable=False),
    sa.Column('sbom_sha256', sa.String(length=64), nullable=False),
    sa.Column('submitted_by_name', sa.String(length=200), nullable=False),
    sa.Column('submitted_at', kura.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('decided_by_id', sa.String(length=36), nullable=True),
    sa.Column('decided_by_name', sa.String(length=200), nullable=True),
    sa.Column('decided_at', kura.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_software_review'))
    )
    with op.batch_alter_table('software_review', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_software_review_files_digest'), ['files_digest'], unique=False)

    op.create_table('equipment',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('asset_no', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=400), nullable=False),
    sa.Column('location', sa.String(length=200), nullable=False),
    sa.Column('responsible', sa.String(length=200), nullable=False),
    sa.Column('serial', sa.String(length=200), nullable=False),
    sa.Column('installed_on', sa.String(length=10), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('interval_days', sa.Integer(), nullable=False),
    sa.Column('next_due', sa.String(length=10), nullable=True),
    sa.Column('disposal_id', sa.String(length=36), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('recorded_by_name', sa.String(length=200), nullable=False),
    sa.Column('recorded_at', kura.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('changed_at', kura.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['disposal_id'], ['equipment_disposal.id'], name=op.f('fk_equipment_disposal_id_equipment_disposal')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_equipment')),
    sa.UniqueConstraint('asset_no', name=op.f('uq_equipment_asset_no'))
    )
    with op.batch_alter_table('equipment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_equipment_next_due'), ['next_due'], unique=False)

    op.create_table('equipment_inspection',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('equipment_id', sa.String(length=36), nullable=False),
    sa.Column('inspected_on', sa.String(length=10), nullable=False),
    sa.Column('inspector', sa.String(length=200), nullable=False),
    sa.Column('result', sa.String(length=16), nullable=False),
    sa.Column('findings', sa.Text(), nullable=False),
    sa.Column('follow_up', sa.Text(), nullable=False),
    sa.Column('closed_at', kura.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_by_name', sa.String(length=200), nullable=True),
    sa.Column('closing_note', sa.Text(), nullable=False),
    sa.Column('recorded_by_name', sa.String(length=200), nullable=False),
    sa.Column('recorded_at', kura.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['equipment_id'], ['equipment.id'], name=op.f('fk_equipment_inspection_equipment_id_equipment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_equipment_inspection'))
    )
    with op.batch_alter_table('equipment_inspection', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_equipment_inspection_equipment_id'), ['equipment_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('equipment_inspection', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_equipment_inspection_equipment_id'))

    op.drop_table('equipment_inspection')
    with op.batch_alter_table('equipment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_equipment_next_due'))

    op.drop_table('equipment')
    with op.batch_alter_table('software_review', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_software_review_files_digest'))

    op.drop_table('software_review')
