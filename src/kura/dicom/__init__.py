"""The DICOM DIMSE adapter (pynetdicom): translates associations and messages to kura.imaging."""
