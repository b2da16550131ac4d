"""One key per patient: data keys wrapped by the master key, sealed envelopes, blind indexes,
crypto-shredding and the key vault (DESIGN.md "Keys"; THREAT_MODEL.md)."""
