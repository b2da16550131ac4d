"""records: the patient's confidentiality label beside each record and name-index row (issue 7 §1)

A record's effective label is the highest of its own, its class's and its patient's; the
patient's part lives here, outside the (immutable) versions, so relabelling a Patient covers
its existing records at once. Existing rows take their Patient's current label.

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_OLD = ["rtype", "param", "value", "class_code", "confidentiality", "record_pk"]
_NEW = ["rtype", "param", "value", "class_code", "confidentiality", "patient_confidentiality", "record_pk"]


def _missing(table: str) -> bool:
    # 0006 adds the columns already when it re-indexes a database (its live code needs them)
    return 'patient_confidentiality' not in {c['name'] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    for table in ('record', 'search_string'):
        if _missing(table):
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.add_column(sa.Column('patient_confidentiality', sa.String(length=1), server_default='N',
                                              nullable=False))
    with op.batch_alter_table('search_string', schema=None) as batch_op:
        batch_op.drop_index('ix_search_string_visible')
        batch_op.create_index('ix_search_string_visible', _NEW, unique=False)
    op.execute("UPDATE record SET patient_confidentiality = COALESCE((SELECT p.confidentiality FROM record p "
               "WHERE p.rtype = 'Patient' AND p.logical_id = record.patient_id), 'N') "
               "WHERE patient_id IS NOT NULL AND rtype <> 'Patient'")
    op.execute("UPDATE search_string SET patient_confidentiality = (SELECT r.patient_confidentiality "
               "FROM record r WHERE r.pk = search_string.record_pk)")


def downgrade() -> None:
    with op.batch_alter_table('search_string', schema=None) as batch_op:
        batch_op.drop_index('ix_search_string_visible')
        batch_op.create_index('ix_search_string_visible', _OLD, unique=False)
        batch_op.drop_column('patient_confidentiality')
    with op.batch_alter_table('record', schema=None) as batch_op:
        batch_op.drop_column('patient_confidentiality')
