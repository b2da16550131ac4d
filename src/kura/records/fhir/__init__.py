"""FHIR R4 for the records store: validation, search parameters, Bundles. No HTTP here.

Validation uses fhir.resources' R4B model set (fhir.resources 8.x defaults to R5 and ships
R4B and STU3; R4B is R4 plus a few additive changes, and every element kura uses has the
same shape in both).
"""
