"""Helpers shared by the web, DICOM, CLI and unit tests (imported as tests.support.*)."""
