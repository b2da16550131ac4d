"""The one key service: every sealed thing of a patient — record versions, attachments,
printouts, images — is sealed under the patient's data keys, found and destroyed here.

A data key is created on first use, wrapped by the master key with its id and owner bound
in (so a wrapped key cannot be moved to another owner unseen), and cached unwrapped in the
application's KeyRing. ``shred`` destroys every key of an owner: from then on ``open`` raises
Shredded for all of that owner's data, in the live home and in every backup, because backups
carry the keys only in the vault, which a shred rewrites (kura.keys.vault; THREAT_MODEL.md).
"""

from __future__ import annotations

import types
import uuid
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kura.blobs.crypto import key_id_of, new_key, open_for, seal_for, unwrap_key, wrap_key
from kura.errors import IntegrityFailure, NotFound, Shredded
from kura.keys.models import DataKey
from kura.keys.ring import KeyRing
from kura.ledger.tags import LedgerTag
from kura.operation import Context

__all__ = ["HOME", "owner_of_patient", "owner_of_dicom", "seal", "open", "link", "shred", "blind",
           "keys_of", "wrap_label", "primary_key", "unwrapped_keys", "open_with"]

HOME = "home"  # records that name no patient (e.g. Practitioner)


def owner_of_patient(patient_id: str) -> str:
    return f"patient:{patient_id}"


def owner_of_dicom(dicom_patient_id: str) -> str:
    return f"dicom:{dicom_patient_id}"


def wrap_label(key_hex: str, owner: str) -> str:
    return f"{key_hex}|{owner}"


def _ring(ctx: Context) -> KeyRing:
    if ctx.keyring is None:
        raise RuntimeError("the unit of work has no key ring")
    ring: KeyRing = ctx.keyring
    return ring


def _unwrap(ring: KeyRing, row: DataKey) -> bytes:
    if row.wrapped is None:
        raise Shredded(f"the data key of {row.origin} was destroyed (disposed of)")
    return unwrap_key(ring.master, row.wrapped, wrap_label(row.id, row.owner))


def primary_key(ctx: Context, owner: str) -> tuple[bytes, bytes]:
    """(key id, data key) that new data of `owner` is sealed under; made on first use."""
    ring = _ring(ctx)
    cached = ring.primary(owner)
    if cached is not None:
        return cached
    # Core statements, one query: every new patient comes through here once per unit of work
    # (a registration of 1000 patients makes 1000 keys), so no ORM object or flush per key.
    t = DataKey.__table__
    rows = ctx.session.connection().execute(
        select(t.c.id, t.c.owner, t.c.origin, t.c.wrapped, t.c.is_primary).where(t.c.owner == owner)).all()
    row = next((r for r in rows if r.is_primary), None)
    if row is None:
        if any(r.wrapped is None for r in rows):
            # a disposed patient gets no new key: nothing new is stored under their name
            raise Shredded(f"the data keys of {owner} were destroyed (disposed of)")
        row = _create(ctx, owner)
    key = _unwrap(ring, cast(DataKey, row))
    key_id = bytes.fromhex(row.id)
    ring.remember(key_id, key, primary_of=owner)
    return key_id, key


# Built once (a statement memoises its compiled form): the first key of every new patient.
_INSERT_KEY = {sqlite: (sqlite_insert if sqlite else pg_insert)(cast(Table, DataKey.__table__)).on_conflict_do_nothing(
    index_elements=["owner"], index_where=DataKey.__table__.c.is_primary) for sqlite in (True, False)}


def _create(ctx: Context, owner: str) -> Any:
    """Insert the owner's primary key; when another transaction made it first (the partial
    unique index uq_data_key_primary_owner), theirs is used (INSERT … ON CONFLICT DO NOTHING,
    so no savepoint is needed on either engine)."""
    key_hex = uuid.uuid4().hex
    t = DataKey.__table__
    values = dict(id=key_hex, owner=owner, origin=owner, is_primary=True, created_at=ctx.now(), shredded_at=None,
                  wrapped=wrap_key(_ring(ctx).master, new_key(), wrap_label(key_hex, owner)))
    conn = ctx.session.connection()
    done = conn.execute(_INSERT_KEY[conn.dialect.name == "sqlite"], values)
    if done.rowcount == 1:
        return types.SimpleNamespace(**values)
    found = conn.execute(select(t.c.id, t.c.owner, t.c.origin, t.c.wrapped)
                         .where(t.c.owner == owner, t.c.is_primary.is_(True))).first()
    if found is None:
        raise IntegrityFailure(f"could not make or find the data key of {owner}")
    return found


def seal(ctx: Context, owner: str, plaintext: bytes, aad: bytes = b"") -> bytes:
    """Seal `plaintext` under the owner's key (a K2 envelope naming the key). Raises Shredded
    when the owner's key was destroyed."""
    key_id, key = primary_key(ctx, owner)
    return seal_for(key_id, key, plaintext, aad)


def open(ctx: Context, sealed: bytes, aad: bytes = b"", *, owner: str | None = None) -> bytes:
    """The plaintext of an envelope. Raises Shredded when its key was destroyed,
    IntegrityFailure when the envelope was altered or bound to other `aad`.

    The older K1 envelopes name no key: `owner` says whose keys to try for them."""
    ring = _ring(ctx)
    key_id = key_id_of(sealed)
    if key_id is None:
        if owner is None:
            raise IntegrityFailure("an envelope without a key id needs its owner")
        rows = list(ctx.session.scalars(select(DataKey).where(DataKey.owner == owner)))
        if rows and all(r.wrapped is None for r in rows):
            raise Shredded(f"the data keys of {owner} were destroyed (disposed of)")
        for row in rows:
            if row.wrapped is not None:
                try:
                    return open_for(_unwrap(ring, row), sealed, aad)
                except IntegrityFailure:
                    continue
        raise IntegrityFailure("envelope failed authentication (wrong key or altered data)")
    key = ring.get(key_id)
    if key is None:
        stored = ctx.session.get(DataKey, key_id.hex())
        if stored is None:
            raise IntegrityFailure(f"envelope names an unknown data key {key_id.hex()}")
        key = _unwrap(ring, stored)
        ring.remember(key_id, key)
    return open_for(key, sealed, aad)


def unwrapped_keys(ctx: Context, owner: str) -> dict[bytes, bytes]:
    """Every live data key of `owner` by key id, for reading outside the transaction (a long
    C-GET or WADO-RS transfer must not hold one open). Raises Shredded when the owner's keys
    were all destroyed."""
    ring = _ring(ctx)
    rows = keys_of(ctx, owner)
    if rows and all(r.wrapped is None for r in rows):
        raise Shredded(f"the data keys of {owner} were destroyed (disposed of)")
    out = {}
    for row in rows:
        if row.wrapped is not None:
            key_id = bytes.fromhex(row.id)
            key = ring.get(key_id)
            if key is None:
                key = _unwrap(ring, row)
                ring.remember(key_id, key)
            out[key_id] = key
    return out


def open_with(keys: dict[bytes, bytes], sealed: bytes, aad: bytes = b"") -> bytes:
    """Open an envelope with keys from `unwrapped_keys` (no database). Raises IntegrityFailure."""
    key_id = key_id_of(sealed)
    if key_id is not None:
        if key_id not in keys:
            raise IntegrityFailure(f"envelope names data key {key_id.hex()}, not one of its owner's")
        return open_for(keys[key_id], sealed, aad)
    for key in keys.values():  # a K1 envelope names no key: try the owner's
        try:
            return open_for(key, sealed, aad)
        except IntegrityFailure:
            continue
    raise IntegrityFailure("envelope failed authentication (wrong key or altered data)")


def keys_of(ctx: Context, owner: str) -> list[DataKey]:
    return list(ctx.session.scalars(select(DataKey).where(DataKey.owner == owner).order_by(DataKey.created_at)))


def link(ctx: Context, from_owner: str, to_owner: str) -> list[str]:
    """Move every key of `from_owner` to `to_owner` (images that arrived before the patient
    was registered, now linked): re-wrapped under the new owner, never re-encrypted, so
    destroying the patient's keys reaches those images too. Returns the key ids moved.
    Ledger: KeysKeyLinked."""
    if from_owner == to_owner:
        return []
    ring = _ring(ctx)
    moved = keys_of(ctx, from_owner)
    if not moved:
        return []
    has_primary = ctx.session.scalar(
        select(DataKey.id).where(DataKey.owner == to_owner, DataKey.is_primary.is_(True))) is not None
    for row in moved:
        key = _unwrap(ring, row) if row.wrapped is not None else None
        # clear the primary flag first: the partial unique index sees one primary per owner
        row.is_primary = False
        ctx.session.flush()
        row.owner = to_owner
        if key is not None:
            row.wrapped = wrap_key(ring.master, key, wrap_label(row.id, to_owner))
        if not has_primary and key is not None:
            row.is_primary, has_primary = True, True
    ctx.session.flush()
    ring.purge([bytes.fromhex(r.id) for r in moved])
    ctx.record(LedgerTag.KeysKeyLinked, reason=f"{from_owner} → {to_owner}",
               detail={"keys": [r.id for r in moved], "from": from_owner, "to": to_owner})
    return [r.id for r in moved]


def shred(ctx: Context, owner: str, *, reason: str) -> list[str]:
    """Destroy every data key of `owner` (crypto-shredding, R79): the wrapped key is erased,
    the row stays as the tombstone of the key. Returns the key ids destroyed.
    Raises NotFound when the owner has no key. Ledger: KeysKeyShredded.

    The vault copies at backup and replica destinations still hold the key until they are
    rewritten (kura.keys.vault; the preservation service does it after commit)."""
    rows = keys_of(ctx, owner)
    if not rows:
        raise NotFound(f"{owner} has no data key")
    now = ctx.now()
    ids = [r.id for r in rows]
    ctx.session.execute(update(DataKey).where(DataKey.id.in_(ids))
                        .values(wrapped=None, shredded_at=now, is_primary=False))
    ctx.session.flush()
    for row in rows:
        ctx.session.expire(row)
    _ring(ctx).purge([bytes.fromhex(i) for i in ids])
    ctx.record(LedgerTag.KeysKeyShredded, reason=reason, detail={"owner": owner, "keys": ids})
    return ids


def blind(ring_or_ctx: KeyRing | Context, kind: str, value: str) -> str:
    """A keyed blind-index token of `value` (already normalised) for index `kind`."""
    ring = ring_or_ctx if isinstance(ring_or_ctx, KeyRing) else _ring(ring_or_ctx)
    return ring.blind(kind, value)

