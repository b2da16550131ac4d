"""WADO-RS answers in the transfer syntax the client asks for (PS3.18 8.7.3): dicomweb-client
with its default Accept gets Explicit VR Little Endian whatever kura stored, `*` gets the
stored bytes, frames and bulk data likewise; 406 only for what cannot be made. A DICOM peer
that accepted only uncompressed contexts gets a converted copy over C-GET, ledgered."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom import uid
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet
from sqlalchemy import select

from kura.dicom.server import start
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.web.dicomweb import multipart

from tests.dicom.conftest import add_peer
from tests.factories import make_user
from tests.support.corpus import corpus
from tests.support.imaging import prepare

UNDECODABLE = "JPEG-lossy.dcm"  # its JPEG stream defeats every decoder kura ships


def _pixels(data_or_ds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = data_or_ds if isinstance(data_or_ds, Dataset) else pydicom.dcmread(io.BytesIO(data_or_ds))
        return ds.pixel_array


def _sample():
    """One file per transfer syntax whose pixels pydicom decodes, and the undecodable one."""
    chosen: dict = {}
    for f in corpus():
        if f.transfer_syntax in chosen or f.path.name == UNDECODABLE:
            continue
        try:
            _pixels(f.data)
        except Exception:  # noqa: BLE001, S112 — no pixels, or none that decode: not a sample
            continue
        chosen[f.transfer_syntax] = f
    (bad,) = [f for f in corpus() if f.path.name == UNDECODABLE]
    return list(chosen.values()), bad


def _stow(server, token, files):
    boundary = "kura-test-boundary"
    body = b"".join(b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + f.data + b"\r\n"
                    for f in files) + b"--" + boundary.encode() + b"--\r\n"
    with server.client(token) as c:
        r = c.post("/dicom-web/studies", content=body, headers={
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'})
    assert r.status_code == 200, r.text


@pytest.fixture
def stored(kura, server, clock):
    prepare(kura)
    files, bad = _sample()
    tech = server.login(make_user(kura, "gishi", ("technologist",)), clock)
    _stow(server, tech, files + [bad])
    doc = server.login(make_user(kura, "isha", ("physician",)), clock)
    return server, doc, files, bad


def test_wado_rs_gives_dicomweb_client_its_default_explicit_vr_little_endian(stored):
    server, token, files, bad = stored
    assert len({f.transfer_syntax for f in files} | {bad.transfer_syntax}) >= 11
    client = DICOMwebClient(url=f"{server.url}/dicom-web", headers={"Authorization": f"Bearer {token}"})
    for f in files:
        # retrieve_series's default Accept: multipart/related; type="application/dicom" (no
        # transfer-syntax: PS3.18's default, Explicit VR Little Endian)
        series = client.retrieve_series(f.study_uid, f.series_uid)
        (ds,) = [d for d in series if d.SOPInstanceUID == f.sop_uid]
        assert ds.file_meta.TransferSyntaxUID == uid.ExplicitVRLittleEndian, f.path.name
        assert np.array_equal(_pixels(ds), _pixels(f.data)), f.path.name
        if uid.UID(f.transfer_syntax) in (uid.JPEGBaseline8Bit, uid.JPEGExtended12Bit, uid.JPEG2000):
            assert ds.LossyImageCompression == "01"  # decoded from a lossy transfer syntax: still lossy
        # retrieve_instance's default Accept (dicomweb-client 0.61) is transfer-syntax=*: as stored
        same = client.retrieve_instance(f.study_uid, f.series_uid, f.sop_uid)
        assert same.file_meta.TransferSyntaxUID == f.transfer_syntax
    # What cannot be decoded is 406 in the default, and as stored with `*`
    url = f"/dicom-web/studies/{bad.study_uid}/series/{bad.series_uid}/instances/{bad.sop_uid}"
    with server.client(token) as c:
        r = c.get(url, headers={"Accept": 'multipart/related; type="application/dicom"'})
        assert r.status_code == 406 and "JPEG Extended" in r.json()["detail"]
        r = c.get(url, headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
        assert r.status_code == 200 and bad.dataset_bytes in r.content
        # a lossy encoding kura cannot make: 406; RLE Lossless it can
        plain = next(f for f in files if f.transfer_syntax == uid.ExplicitVRLittleEndian)
        url = f"/dicom-web/studies/{plain.study_uid}/series/{plain.series_uid}/instances/{plain.sop_uid}"
        r = c.get(url, headers={"Accept": 'multipart/related; type="application/dicom"; '
                                          f'transfer-syntax={uid.JPEGBaseline8Bit}'})
        assert r.status_code == 406
        r = c.get(url, headers={"Accept": f'multipart/related; type="application/dicom"; '
                                          f'transfer-syntax={uid.RLELossless}'})
        assert r.status_code == 200
        assert f"transfer-syntax={uid.RLELossless}".encode() in r.content[:400]
        boundary = multipart.parse_content_type(r.headers["content-type"])[1]["boundary"]
        ((_, body),) = multipart.split(r.content, boundary)
        assert np.array_equal(_pixels(body), _pixels(plain.data))


def test_wado_rs_frames_and_bulk_data_uncompressed_by_default_or_as_stored(stored):
    server, token, files, _ = stored
    client = DICOMwebClient(url=f"{server.url}/dicom-web", headers={"Authorization": f"Bearer {token}"})
    # single-sample images: a frame's bytes are the decoded array's (colour may be planar)
    mono = [f for f in files if pydicom.dcmread(f.path, stop_before_pixels=True).get("SamplesPerPixel", 1) == 1]
    assert len({f.transfer_syntax for f in mono}) >= 5
    for f in mono:
        pixels = _pixels(f.data)
        first = pixels[0] if int(pydicom.dcmread(f.path, stop_before_pixels=True).get("NumberOfFrames", 1) or 1) > 1 \
            else pixels
        native = first.astype(first.dtype.newbyteorder("<")).tobytes()
        (frame,) = client.retrieve_instance_frames(f.study_uid, f.series_uid, f.sop_uid, frame_numbers=[1],
                                                   media_types=("application/octet-stream",))
        assert frame == native, f.path.name
        if uid.UID(f.transfer_syntax).is_compressed:  # as stored: the compressed frame itself
            ds = pydicom.dcmread(f.path)
            stored_frame = next(generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames", 1) or 1)))
            with server.client(token) as c:
                r = c.get(f"/dicom-web/studies/{f.study_uid}/series/{f.series_uid}/instances/{f.sop_uid}/frames/1",
                          headers={"Accept": "multipart/related; type=\"image/*\"; transfer-syntax=*"})
            assert r.status_code == 200 and stored_frame in r.content, f.path.name
        with server.client(token) as c:  # the BulkDataURI of the metadata (for pixel data over 1 KiB)
            r = c.get(f"/dicom-web/studies/{f.study_uid}/series/{f.series_uid}/instances/{f.sop_uid}/bulkdata/7FE00010",
                      headers={"Accept": 'multipart/related; type="application/octet-stream"'})
        assert r.status_code == 200 and native in r.content, f.path.name
    with server.client(token) as c:  # uncompressed pixels as JPEG baseline: kura cannot make that
        f = next(f for f in files if f.transfer_syntax == uid.ExplicitVRLittleEndian)
        r = c.get(f"/dicom-web/studies/{f.study_uid}/series/{f.series_uid}/instances/{f.sop_uid}/frames/1",
                  headers={"Accept": 'multipart/related; type="image/jpeg"'})
        assert r.status_code == 406


def test_c_get_converts_only_for_a_peer_that_accepted_no_context_for_the_stored_syntax(stored, kura):
    server, token, files, _ = stored
    f = next(f for f in files if f.transfer_syntax == uid.JPEGLSLossless)
    add_peer(kura, "VIEWER", ("query", "retrieve"))
    scp = start(kura, "127.0.0.1", 0)
    got = []
    try:
        ae = AE(ae_title="VIEWER")
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
        ae.add_requested_context(f.sop_class_uid, [uid.ExplicitVRLittleEndian])  # no JPEG-LS
        assoc = ae.associate("127.0.0.1", scp.server_address[1], ae_title="KURA",
                             ext_neg=[build_role(f.sop_class_uid, scp_role=True)],
                             evt_handlers=[(evt.EVT_C_STORE, lambda e: got.append((e.file_meta, e.dataset)) or 0)])
        query = Dataset()
        query.QueryRetrieveLevel = "IMAGE"
        query.StudyInstanceUID, query.SeriesInstanceUID, query.SOPInstanceUID = f.study_uid, f.series_uid, f.sop_uid
        final = list(assoc.send_c_get(query, StudyRootQueryRetrieveInformationModelGet))[-1][0]
        assoc.release()
    finally:
        scp.shutdown()
    assert final.Status == 0
    ((meta, ds),) = got
    ds.file_meta = meta
    assert meta.TransferSyntaxUID == uid.ExplicitVRLittleEndian
    assert np.array_equal(ds.pixel_array, _pixels(f.data))
    with kura.sessions() as s:
        (entry,) = s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(LedgerTag.ImagingInstanceConverted)))
    assert entry.target_id == f.study_uid and uid.JPEGLSLossless in entry.reason
    assert f'"sent_transfer_syntax":"{uid.ExplicitVRLittleEndian}"' in entry.detail.replace(" ", "")
