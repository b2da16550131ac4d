"""pydicom's test corpus (tests.support.corpus: files no one here wrote, every transfer
syntax kura accepts) stored by C-STORE as the files hold them, then retrieved by C-GET,
C-MOVE and WADO-RS: every instance comes back byte for byte as it was sent."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pynetdicom import AE, _config, build_role, evt
from pynetdicom.sop_class import (StudyRootQueryRetrieveInformationModelGet,
                                  StudyRootQueryRetrieveInformationModelMove)

from kura.dicom.server import start
from kura.imaging.transcode import split_part10
from kura.web.dicomweb import multipart

from tests.dicom.conftest import add_peer
from tests.factories import make_user
from tests.support.corpus import corpus
from tests.support.imaging import prepare


def _ae(aet: str) -> AE:
    ae = AE(ae_title=aet)
    ae.dimse_timeout = 120  # a shared, loaded machine: wait for answers by a generous deadline
    return ae


def _pairs():
    return sorted({(f.sop_class_uid, f.transfer_syntax) for f in corpus()})


def store_corpus(port, monkeypatch) -> dict[str, tuple]:
    """C-STORE every corpus file as it is on disk (pynetdicom sends a file's data set bytes
    unchanged when asked to send it in chunks); (file, status, error comment) of each failure."""
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
    ae = _ae("ALL")
    for sop, ts in _pairs():
        ae.add_requested_context(sop, [ts])
    assoc = ae.associate("127.0.0.1", port, ae_title="KURA")
    assert assoc.is_established
    try:
        answers = {f.path.name: assoc.send_c_store(f.path) for f in corpus()}
        return {name: (hex(a.Status), a.get("ErrorComment")) for name, a in answers.items() if a.Status}
    finally:
        assoc.release()


def _all(studies) -> Dataset:
    """One retrieve for every study: a list of UIDs (PS3.4 C.2.2.2.2)."""
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = studies
    return query


def _received(into: dict):
    def on_store(event):
        into[str(event.request.AffectedSOPInstanceUID)] = (str(event.context.transfer_syntax),
                                                           event.request.DataSet.getvalue())
        return 0x0000
    return on_store


def test_r49_corpus_c_store_then_c_get_c_move_and_wado_rs_byte_for_byte(kura, server, clock, monkeypatch):
    prepare(kura)
    add_peer(kura, "ALL")
    studies = sorted({f.study_uid for f in _kept()})
    assert len({f.transfer_syntax for f in corpus()}) >= 11 and len(corpus()) > 100
    scp = start(kura, "127.0.0.1", 0)
    try:
        port = scp.server_address[1]
        # One file's meta names another SOP Instance than its data set, so pynetdicom's request
        # does too: refused, and the status says why. Everything else is kept.
        assert store_corpus(port, monkeypatch) == {
            "rtplan.dcm": ("0xa900", "data set's SOP Instance UID differs from the meta/request's")}

        # C-GET: each instance in its stored transfer syntax, on the same association
        got: dict = {}
        ae = _ae("ALL")
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
        for sop, ts in _pairs():
            ae.add_requested_context(sop, [ts])
        roles = [build_role(sop, scp_role=True) for sop in {s for s, _ in _pairs()}]
        assoc = ae.associate("127.0.0.1", port, ae_title="KURA", ext_neg=roles,
                             evt_handlers=[(evt.EVT_C_STORE, _received(got))])
        assert assoc.is_established
        final = list(assoc.send_c_get(_all(studies), StudyRootQueryRetrieveInformationModelGet))[-1][0]
        assoc.release()
        assert final.Status == 0, final
        _assert_same(got)

        # C-MOVE to a storage SCP that accepts every stored (SOP class, transfer syntax)
        moved: dict = {}
        dest = _ae("DEST")
        for sop, ts in _pairs():
            dest.add_supported_context(sop, [ts])
        receiver = dest.start_server(("127.0.0.1", 0), block=False,
                                     evt_handlers=[(evt.EVT_C_STORE, _received(moved))])
        try:
            add_peer(kura, "DEST", port=receiver.server_address[1])
            ae = _ae("ALL")
            ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
            assoc = ae.associate("127.0.0.1", port, ae_title="KURA")
            final = list(assoc.send_c_move(_all(studies), "DEST", StudyRootQueryRetrieveInformationModelMove))[-1][0]
            assoc.release()
            assert final.Status == 0, final
        finally:
            receiver.shutdown()
        _assert_same(moved)
    finally:
        scp.shutdown()

    # WADO-RS, asking for the stored transfer syntax (`transfer-syntax=*`)
    token = server.login(make_user(kura, "isha", ("physician",)), clock)
    wado: dict = {}
    with server.client(token) as c:
        for study in studies:
            r = c.get(f"/dicom-web/studies/{study}",
                      headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
            assert r.status_code == 200, r.text
            boundary = multipart.parse_content_type(r.headers["content-type"])[1]["boundary"]
            for _, body in multipart.split(r.content, boundary):
                ts, data = split_part10(body)
                wado[_sop_of(data, ts)] = (ts, data)
    _assert_same(wado)


def _sop_of(data: bytes, ts: str) -> str:
    for f in _kept():
        if f.dataset_bytes == data:
            return f.sop_uid
    return f"unknown ({ts})"


def _kept():
    return [f for f in corpus() if f.path.name != "rtplan.dcm"]


def _assert_same(received: dict) -> None:
    expected = {f.sop_uid: (f.transfer_syntax, f.dataset_bytes) for f in _kept()}
    differ = sorted(f.path.name for f in _kept() if received.get(f.sop_uid) != expected[f.sop_uid])
    assert differ == [], f"{len(differ)} of {len(expected)} came back different"
    assert set(received) == set(expected)

