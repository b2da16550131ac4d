"""Crash harness: SIGKILL a real `kura serve` while four associations send C-STOREs and a
client sends STOW-RS requests, restart, and check that every acknowledged instance is there,
byte for byte, and that the ledger and every stored object verify (R41, R60). Uses the shared
crash harness (tests.support.crash)."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

import httpx
from pynetdicom import AE
from pynetdicom.dsutils import encode
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from kura.access.policy import Subject
from kura.access.roles import Role
from kura.app import build
from kura.config import load_settings
from kura.identity import service as identity
from kura.identity import totp
from kura.imaging import service as imaging
from kura.imaging.instance import add_preamble, parse, wrap_part10
from kura.imaging.query import Query

from tests.dicom.conftest import add_peer
from tests.support.crash import KuraProcess, after_crash
from tests.factories import ADMIN
from tests.support.imaging import make_dataset, part10, prepare

PASSWORD = "crash-harness-password-1"
READER = Subject(id=None, name="crash-check", roles=frozenset({Role.physician}), clearance="V")


def _cstore(port: int, n: int, acked: dict, stop: threading.Event) -> None:
    ae = AE(ae_title="ALL")
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", port, ae_title="KURA")
    if not assoc.is_established:
        return
    study = f"2.25.{uuid.uuid4().int}"
    try:
        for i in range(200):
            if stop.is_set():
                break
            ds = make_dataset(patient_id=f"CRASH{n}", study_uid=study, instance_number=i + 1, seed=n * 1000 + i)
            expected = wrap_part10(encode(ds, False, True), transfer_syntax=ExplicitVRLittleEndian,
                                   sop_class_uid=CTImageStorage, sop_instance_uid=ds.SOPInstanceUID)
            try:
                status = assoc.send_c_store(ds)
            except Exception:  # noqa: BLE001 — the server died under us
                break
            if status and status.Status == 0x0000:
                acked[ds.SOPInstanceUID] = expected
            elif not status:
                break
    finally:
        try:
            assoc.abort()
        except Exception:  # noqa: BLE001, S110 — the server may be gone already
            pass


def _stow(base: str, token: str, acked: dict, stop: threading.Event) -> None:
    boundary = uuid.uuid4().hex
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/dicom+json",
               "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'}
    study = f"2.25.{uuid.uuid4().int}"
    with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
        for i in range(200):
            if stop.is_set():
                break
            files = [part10(make_dataset(patient_id="CRASHW", study_uid=study, instance_number=2 * i + k + 1,
                                         seed=90000 + 2 * i + k)) for k in range(2)]
            body = b"".join(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + f + b"\r\n"
                            for f in files) + f"--{boundary}--\r\n".encode()
            try:
                r = c.post("/dicom-web/studies", content=body)
            except httpx.HTTPError:
                break
            if r.status_code != 200:
                break
            for f in files:
                acked[parse(add_preamble(f)).sop_uid] = add_preamble(f)


def test_r41_sigkill_during_cstore_and_stow_loses_nothing_acknowledged(home):
    settings = load_settings(home, env="development")
    kura = build(settings)
    prepare(kura)
    add_peer(kura, "ALL")
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        user, uri = identity.register(ctx, username="crashtech", display_name="クラッシュ 技師",
                                      roles=["technologist"], clearance="V", password=PASSWORD)
        user.must_change_password = False
    secret = uri.split("secret=")[1].split("&")[0]
    kura.dispose()

    acked: dict[str, bytes] = {}
    stop = threading.Event()
    with KuraProcess.serve(home, timeout=120) as srv:
        r = httpx.post(f"{srv.url}/api/session", json={
            "username": "crashtech", "password": PASSWORD,
            "otp": totp.code_at(secret, dt.datetime.now(dt.timezone.utc))})
        assert r.status_code == 201, r.text
        token = r.json()["token"]
        senders = [threading.Thread(target=_cstore, args=(srv.dicom_port, n, acked, stop)) for n in range(4)]
        senders.append(threading.Thread(target=_stow, args=(srv.url, token, acked, stop)))
        try:
            for t in senders:
                t.start()
            deadline = time.monotonic() + 60
            while len(acked) < 40 and time.monotonic() < deadline and any(t.is_alive() for t in senders):
                time.sleep(0.05)
            srv.kill()  # SIGKILL mid-flight: associations and requests still sending
        finally:
            stop.set()
            for t in senders:
                t.join(30)
    assert len(acked) >= 40

    # Restart (the application as `kura serve` builds it, recovery included): everything
    # acknowledged is there.
    kura = build(load_settings(home, env="development"))
    try:
        with kura.unit_of_work(READER, "TREAT") as ctx:
            items = {i.sop_uid: i for i in imaging.retrieve(ctx, Query(level="STUDY", keys={"PatientID": "CRASH*"}))}
        missing = [uid for uid in acked if uid not in items]
        assert not missing, f"{len(missing)} acknowledged instances lost"
        for uid, data in acked.items():
            assert items[uid].read(kura.blobs) == data
        # What the ingest does on start: the killed server's pack segments into the file layout.
        kura.blobs.compact()
        assert not list(kura.blobs.packs.glob("*.pack"))
        for uid, data in acked.items():
            assert items[uid].read(kura.blobs) == data
    finally:
        kura.dispose()
    assert after_crash(home) == []  # the ledger verifies, every stored object matches its hash
