"""imaging: DICOM peers and the image archive index (patient, study, series, instance versions)

Revision ID: 0003
Revises: 0001
""" 
from alembic import op
import sqlalchemy as sa
import kura.db.base


revision = '0003'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dicom_peer',
    sa.Column('ae_title', sa.String(length=16), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('rights', sa.String(length=64), nullable=False),
    sa.Column('created_at', kura.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kura.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('ae_title', name=op.f('pk_dicom_peer'))
    )
    op.create_table('imaging_patient',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('fhir_patient_id', sa.String(length=64), nullable=True),
    sa.Column('name', sa.String(length=400), nullable=False),
    sa.Column('birth_date', sa.String(length=8), nullable=False),
    sa.Column('sex', sa.String(length=16), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', kura.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_imaging_patient')),
    sa.UniqueConstraint('patient_id', name=op.f('uq_imaging_patient_patient_id'))
    )
    op.create_table('imaging_study',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('study_uid', sa.String(length=64), nullable=False),
    sa.Column('patient_ref', sa.String(length=36), nullable=False),
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('patient_name', sa.String(length=400), nullable=False),
    sa.Column('name_alphabetic', sa.String(length=200), nullable=False),
    sa.Column('name_ideographic', sa.String(length=200), nullable=False),
    sa.Column('name_phonetic', sa.String(length=200), nullable=False),
    sa.Column('name_search', sa.String(length=800), nullable=False),
    sa.Column('birth_date', sa.String(length=8), nullable=False),
    sa.Column('sex', sa.String(length=16), nullable=False),
    sa.Column('study_date', sa.String(length=8), nullable=False),
    sa.Column('study_time', sa.String(length=16), nullable=False),
    sa.Column('accession_number', sa.String(length=16), nullable=False),
    sa.Column('study_id', sa.String(length=16), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('referring_physician', sa.String(length=200), nullable=False),
    sa.Column('modalities', sa.String(length=100), nullable=False),
    sa.Column('num_series', sa.Integer(), nullable=False),
    sa.Column('num_instances', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_by', sa.String(length=200), nullable=False),
    sa.Column('status_at', kura.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status_reason', sa.Text(), nullable=False),
    sa.Column('class_code', sa.String(length=64), nullable=False),
    sa.Column('confidentiality', sa.String(length=1), nullable=False),
    sa.Column('flagged', sa.Boolean(), nullable=False),
    sa.Column('flag_reason', sa.Text(), nullable=False),
    sa.Column('created_at', kura.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kura.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_ref'], ['imaging_patient.id'], name=op.f('fk_imaging_study_patient_ref_imaging_patient')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_imaging_study')),
    sa.UniqueConstraint('study_uid', name=op.f('uq_imaging_study_study_uid'))
    )
    with op.batch_alter_table('imaging_study', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_imaging_study_accession_number'), ['accession_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_imaging_study_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_imaging_study_patient_ref'), ['patient_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_imaging_study_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_imaging_study_study_date'), ['study_date'], unique=False)

    op.create_table('imaging_series',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('series_uid', sa.String(length=64), nullable=False),
    sa.Column('study_ref', sa.String(length=36), nullable=False),
    sa.Column('modality', sa.String(length=16), nullable=False),
    sa.Column('series_number', sa.Integer(), nullable=True),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('body_part', sa.String(length=64), nullable=False),
    sa.Column('num_instances', sa.Integer(), nullable=False),
    sa.Column('created_at', kura.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['study_ref'], ['imaging_study.id'], name=op.f('fk_imaging_series_study_ref_imaging_study')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_imaging_series')),
    sa.UniqueConstraint('series_uid', name=op.f('uq_imaging_series_series_uid'))
    )
    with op.batch_alter_table('imaging_series', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_imaging_series_study_ref'), ['study_ref'], unique=False)

    op.create_table('imaging_instance',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('sop_uid', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('current', sa.Boolean(), nullable=False),
    sa.Column('series_ref', sa.String(length=36), nullable=False),
    sa.Column('study_ref', sa.String(length=36), nullable=False),
    sa.Column('sop_class_uid', sa.String(length=64), nullable=False),
    sa.Column('transfer_syntax', sa.String(length=64), nullable=False),
    sa.Column('instance_number', sa.Integer(), nullable=True),
    sa.Column('rows', sa.Integer(), nullable=True),
    sa.Column('columns', sa.Integer(), nullable=True),
    sa.Column('frames', sa.Integer(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('stored_at', kura.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('stored_by', sa.String(length=200), nullable=False),
    sa.Column('origin', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['series_ref'], ['imaging_series.id'], name=op.f('fk_imaging_instance_series_ref_imaging_series')),
    sa.ForeignKeyConstraint(['study_ref'], ['imaging_study.id'], name=op.f('fk_imaging_instance_study_ref_imaging_study')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_imaging_instance')),
    sa.UniqueConstraint('sop_uid', 'version', name=op.f('uq_imaging_instance_sop_uid'))
    )
    with op.batch_alter_table('imaging_instance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_imaging_instance_series_ref'), ['series_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_imaging_instance_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_imaging_instance_sop_uid'), ['sop_uid'], unique=False)
        batch_op.create_index(batch_op.f('ix_imaging_instance_study_ref'), ['study_ref'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('imaging_instance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_imaging_instance_study_ref'))
        batch_op.drop_index(batch_op.f('ix_imaging_instance_sop_uid'))
        batch_op.drop_index(batch_op.f('ix_imaging_instance_sha256'))
        batch_op.drop_index(batch_op.f('ix_imaging_instance_series_ref'))

    op.drop_table('imaging_instance')
    with op.batch_alter_table('imaging_series', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_imaging_series_study_ref'))

    op.drop_table('imaging_series')
    with op.batch_alter_table('imaging_study', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_imaging_study_study_date'))
        batch_op.drop_index(batch_op.f('ix_imaging_study_status'))
        batch_op.drop_index(batch_op.f('ix_imaging_study_patient_ref'))
        batch_op.drop_index(batch_op.f('ix_imaging_study_patient_id'))
        batch_op.drop_index(batch_op.f('ix_imaging_study_accession_number'))

    op.drop_table('imaging_study')
    op.drop_table('imaging_patient')
    op.drop_table('dicom_peer')
