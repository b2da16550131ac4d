"""DICOMweb through a real uvicorn server: dicomweb-client (PyPI) as the client."""

from __future__ import annotations

import httpx
import pytest
from dicomweb_client.api import DICOMwebClient
from hypothesis import HealthCheck, given, settings, strategies as st

from kura.dicom.server import start
from kura.imaging import service as imaging

from tests.dicom.conftest import add_peer
from tests.factories import ADMIN, make_user
from tests.support.imaging import PHYSICIAN, dataset_bytes, make_dataset, part10, prepare


@pytest.fixture
def web(kura, server, clock):
    prepare(kura)
    tech = make_user(kura, "gishi", ("technologist",))
    doc = make_user(kura, "isha", ("physician",))
    tokens = {"tech": server.login(tech, clock), "doc": server.login(doc, clock)}
    return server, tokens


def client(server, token):
    return DICOMwebClient(url=f"{server.url}/dicom-web", headers={"Authorization": f"Bearer {token}"})


def test_stow_qido_wado_round_trip_with_dicomweb_client(web):
    server, tokens = web
    tech, doc = client(server, tokens["tech"]), client(server, tokens["doc"])
    ds = make_dataset(patient_id="W1", charset=["", "ISO 2022 IR 87"])
    sent = part10(ds)
    assert _stow(server, tokens["tech"], sent).status_code == 200
    tech.store_instances([make_dataset(patient_id="W2", name="Suzuki^Hanako")])  # dicomweb-client's own STOW-RS
    assert len(doc.search_for_studies(search_filters={"PatientID": "W2"})) == 1
    studies = doc.search_for_studies(search_filters={"PatientID": "W1"})
    assert len(studies) == 1
    name = studies[0]["00100010"]["Value"][0]
    assert name == {"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎", "Phonetic": "やまだ^たろう"}
    fuzzy = doc.search_for_studies(search_filters={"PatientName": "ヤマダ"}, fuzzymatching=True)
    assert [s["0020000D"]["Value"][0] for s in fuzzy] == [ds.StudyInstanceUID]
    assert doc.search_for_studies(search_filters={"StudyDate": "20260101-20260331"}) == []
    assert len(doc.search_for_studies(search_filters={"StudyDate": "20260301-"})) == 2
    assert doc.search_for_studies(search_filters={"StudyDate": "-20260331"}) == []
    series = doc.search_for_series(ds.StudyInstanceUID)
    assert series[0]["0020000E"]["Value"] == [ds.SeriesInstanceUID]
    instances = doc.search_for_instances(ds.StudyInstanceUID, ds.SeriesInstanceUID, limit=1, offset=0)
    assert instances[0]["00080018"]["Value"] == [ds.SOPInstanceUID]
    # WADO-RS: the exact bytes, through the raw multipart response
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {tokens['doc']}"}) as c:
        r = c.get(f"/dicom-web/studies/{ds.StudyInstanceUID}", headers={"Accept": 'multipart/related; type="application/dicom"'})
        assert r.status_code == 200 and sent in r.content
        png = c.get(f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/"
                    f"{ds.SOPInstanceUID}/rendered", params={"window": "40,400"})
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    got = doc.retrieve_instance(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    assert got.PixelData == ds.PixelData and got.PatientName == ds.PatientName
    meta = doc.retrieve_instance_metadata(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    assert "BulkDataURI" in meta["7FE00010"], meta["7FE00010"]
    assert meta["7FE00010"]["BulkDataURI"].startswith(server.url), meta["7FE00010"]
    with httpx.Client(headers={"Authorization": f"Bearer {tokens['doc']}"}) as c:
        bulk = c.get(meta["7FE00010"]["BulkDataURI"])
        assert bulk.status_code == 200 and ds.PixelData in bulk.content


def test_c_store_in_wado_out_byte_identical(web, kura):
    server, tokens = web
    add_peer(kura, "CT01", ("store",))
    scp = start(kura, "127.0.0.1", 0)
    try:
        from pynetdicom import AE
        from pynetdicom.sop_class import CTImageStorage
        ae = AE(ae_title="CT01")
        ae.add_requested_context(CTImageStorage)
        assoc = ae.associate("127.0.0.1", scp.server_address[1], ae_title="KURA")
        ds = make_dataset()
        assert assoc.send_c_store(ds).Status == 0
        assoc.release()
    finally:
        scp.shutdown()
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {tokens['doc']}"}) as c:
        r = c.get(f"/dicom-web/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}")
    assert r.status_code == 200
    assert dataset_bytes(part10(ds)) in r.content


def test_confirm_route_and_refusal_after(web, kura):
    server, tokens = web
    ds = make_dataset()
    tech = client(server, tokens["tech"])
    tech.store_instances([ds])
    with httpx.Client(base_url=server.url) as c:
        r = c.post(f"/api/studies/{ds.StudyInstanceUID}/confirm", headers={"Authorization": f"Bearer {tokens['doc']}"})
        assert r.status_code == 403
        r = c.post(f"/api/studies/{ds.StudyInstanceUID}/confirm", headers={"Authorization": f"Bearer {tokens['tech']}"})
        assert r.status_code == 200 and r.json()["status"] == "confirmed" and r.json()["by"] == "gishi"
        assert c.post(f"/api/studies/{ds.StudyInstanceUID}/confirm").status_code == 401
    ds.PixelData = bytes(len(ds.PixelData))
    with pytest.raises(Exception):
        tech.store_instances([ds])  # 409: refused, never overwritten


def _stow(server, token, body: bytes, content_type='multipart/related; type="application/dicom"; boundary=XX'):
    payload = b"--XX\r\nContent-Type: application/dicom\r\n\r\n" + body + b"\r\n--XX--\r\n"
    with httpx.Client(base_url=server.url, timeout=30) as c:
        return c.post("/dicom-web/studies", content=payload,
                      headers={"Authorization": f"Bearer {token}", "Content-Type": content_type})


def test_r38_stow_bad_input_is_4xx_and_stores_nothing(web, kura):
    server, tokens = web
    good = part10(make_dataset())
    for bad in (b"not dicom at all", good[:-7], good[:200], b"\0" * 128 + b"DICM"):
        r = _stow(server, tokens["tech"], bad)
        assert r.status_code == 409, r.text
        assert r.json()["00081198"]["Value"][0]["00081197"]["Value"] == [0xA900]
    assert _stow(server, tokens["tech"], good, content_type="application/json").status_code == 415
    with kura.unit_of_work(PHYSICIAN, "TREAT") as ctx:
        assert imaging.count_instances(ctx) == 0
    assert list(kura.blobs.names()) == []


FUZZ_SEED = part10(make_dataset(seed=1, study_uid="1.2.392.1", series_uid="1.2.392.1.1",
                                sop_uid="1.2.392.1.1.1"))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzz_stow_and_c_store_parse_path(web, kura, data):
    """Mutated instances through STOW-RS and the core parse path used by C-STORE: either
    stored whole, or refused with nothing left behind; the server keeps answering."""
    server, tokens = web
    good = FUZZ_SEED
    position = data.draw(st.integers(0, len(good) - 1))
    kind = data.draw(st.sampled_from(["flip", "cut", "insert"]))
    noise = data.draw(st.binary(min_size=1, max_size=8))
    mutated = {"flip": good[:position] + noise + good[position + len(noise):],
               "cut": good[:position], "insert": good[:position] + noise + good[position:]}[kind]
    before = set(kura.blobs.names())
    r = _stow(server, tokens["tech"], mutated)
    assert r.status_code in (200, 409), r.text
    if r.status_code == 409:
        assert set(kura.blobs.names()) == before
    with httpx.Client(base_url=server.url) as c:
        assert c.get("/healthz").status_code == 200


def test_r14_clearance_filters_qido_and_wado_needs_break_glass(web, kura):
    from sqlalchemy import select

    from kura.ledger.models import LedgerEntry
    from kura.ledger.tags import LedgerTag

    server, tokens = web
    ds = make_dataset()
    assert _stow(server, tokens["tech"], part10(ds)).status_code == 200
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        imaging.get_study_row(ctx, ds.StudyInstanceUID).confidentiality = "V"
    doc = {"Authorization": f"Bearer {tokens['doc']}"}
    url = f"/dicom-web/studies/{ds.StudyInstanceUID}"
    with httpx.Client(base_url=server.url, headers=doc) as c:
        assert c.get("/dicom-web/studies").json() == []
        assert c.get(url).status_code == 403
        assert c.get(f"{url}/metadata").status_code == 403
        r = c.get(url, headers={"X-Kura-Break-Glass": "emergency admission, unconscious"})
        assert r.status_code == 200 and dataset_bytes(part10(ds)) in r.content
        assert c.get("/dicom-web/studies", headers={"X-Kura-Break-Glass": "emergency"}).json() != []
        assert c.get("/dicom-web/studies").status_code == 200
    with kura.sessions() as s:
        alerts = list(s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(LedgerTag.AccessBreakGlassStarted))))
    assert alerts and all(a.alert for a in alerts)


def test_cors_from_settings(kura, clock, tmp_path):
    import dataclasses

    from tests.web.client import LiveServer

    prepare(kura)
    kura.settings = dataclasses.replace(kura.settings, cors_origins=("https://viewer.example",))
    live = LiveServer(kura)
    try:
        with httpx.Client(base_url=live.url) as c:
            r = c.options("/dicom-web/studies", headers={"Origin": "https://viewer.example",
                                                         "Access-Control-Request-Method": "GET"})
            assert r.status_code == 204
            assert r.headers["access-control-allow-origin"] == "https://viewer.example"
            r = c.options("/dicom-web/studies", headers={"Origin": "https://evil.example"})
            assert "access-control-allow-origin" not in r.headers
    finally:
        live.stop()
