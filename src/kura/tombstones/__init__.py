"""What lawful disposal left behind: one tombstone per disposed object (R45, R79, R80).

A disposal (kura.disposal) removes the patient's records, versions, attachments and images
from the live home after destroying their data keys. Each removed object leaves a row here
— its kind, its id, its management class and dates, the disposal that removed it — and
never any content. The stores ask `check` when an id is not found, so a read of disposed
data answers Shredded (HTTP 410 Gone, a DICOM failure status) instead of "not found", and
`audit verify --deep` can tell a disposed version from a missing one.
"""

from kura.tombstones.service import check, disposed_ids, is_disposed

__all__ = ["check", "is_disposed", "disposed_ids"]
