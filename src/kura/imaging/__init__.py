"""The image archive: DICOM instances stored byte for byte, indexed, versioned, checked (検像)."""
