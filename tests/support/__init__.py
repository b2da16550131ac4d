"""Helpers shared by the unit, web, DICOM, CLI and preservation tests: test data built
through the real services (records.py, imaging.py), live homes (homes.py), the operations
log (logs.py). A test imports helpers from here, never from another test directory."""
