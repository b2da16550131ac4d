"""The operational registers the regulation asks for: equipment and media disposal (§13),
patient media handed out (§10), incidents (§12). Each entry is also a ledger entry."""
