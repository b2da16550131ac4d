"""dcmtk as a foreign peer: storescu, findscu, getscu and movescu against kura's SCP.

Peers are registered through the real `kura dicom-peer add` command while the server runs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

from kura.dicom.server import start

from tests.support.imaging import dataset_bytes, make_dataset, part10, prepare

DCMTK = Path("/usr/bin")
pytestmark = pytest.mark.skipif(not (DCMTK / "storescu").exists(), reason="dcmtk is not installed")
ENV = {**os.environ, "TCP_NODELAY": "1"}


def dcmtk(tool, *args, cwd=None):
    proc = subprocess.run([str(DCMTK / tool), *map(str, args)], capture_output=True, text=True,
                          env=ENV, cwd=cwd, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def kura_cli(home, *args):
    proc = subprocess.run([sys.executable, "-m", "kura", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "KURA_ENV": "development"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live(kura, home):
    prepare(kura)
    server = start(kura, "127.0.0.1", 0)
    try:
        yield kura, home, server.server_address[1]
    finally:
        server.shutdown()


def test_dcmtk_store_find_get_move_round_trip(live, tmp_path):
    kura, home, port = live
    files = []
    datasets = [make_dataset(patient_id="J1", charset=["", "ISO 2022 IR 87"], study_uid="1.2.3.4.5",
                             instance_number=i, seed=i) for i in range(1, 4)]
    for i, ds in enumerate(datasets):
        path = tmp_path / f"in{i}.dcm"
        path.write_bytes(part10(ds))
        files.append(path)
    # unknown AE: rejected at association
    code, out = dcmtk("storescu", "-aet", "CT01", "-aec", "KURA", "127.0.0.1", port, files[0])
    assert code != 0
    kura_cli(home, "dicom-peer", "add", "CT01", "127.0.0.1", "104", "--rights", "store")
    assert "CT01\t127.0.0.1:104\tstore" in kura_cli(home, "dicom-peer", "list")
    code, out = dcmtk("storescu", "-aet", "CT01", "-aec", "KURA", "127.0.0.1", port, *files)
    assert code == 0, out
    # a registered peer addressing another AE title: rejected, nothing stored
    code, out = dcmtk("storescu", "-v", "-aet", "CT01", "-aec", "WRONG", "127.0.0.1", port, files[0])
    assert code != 0 and "Called AE Title Not Recognized" in out, out
    # a store-only peer cannot query
    code, out = dcmtk("findscu", "-v", "-S", "-aet", "CT01", "-aec", "KURA", "-k", "QueryRetrieveLevel=STUDY",
                      "-k", "StudyInstanceUID", "127.0.0.1", port)
    assert "Status: 0x124" in out, out

    mover_port = free_port()
    kura_cli(home, "dicom-peer", "add", "WS01", "127.0.0.1", str(mover_port), "--rights", "query,retrieve")
    finds = tmp_path / "find"
    finds.mkdir()
    code, out = dcmtk("findscu", "-S", "-aet", "WS01", "-aec", "KURA", "-X", "-od", finds,
                      "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientID=J1", "-k", "PatientName",
                      "-k", "StudyInstanceUID", "127.0.0.1", port)
    assert code == 0, out
    (rsp,) = list(finds.iterdir())
    name = pydicom.dcmread(rsp).PatientName
    assert (name.alphabetic, name.ideographic, name.phonetic) == ("Yamada^Tarou", "山田^太郎", "やまだ^たろう")

    gets = tmp_path / "get"
    gets.mkdir()
    code, out = dcmtk("getscu", "-S", "-aet", "WS01", "-aec", "KURA", "-od", gets,
                      "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID=1.2.3.4.5", "127.0.0.1", port)
    assert code == 0, out
    got = sorted(dataset_bytes(p.read_bytes()) for p in gets.iterdir())
    assert got == sorted(dataset_bytes(f.read_bytes()) for f in files)

    moves = tmp_path / "move"
    moves.mkdir()
    code, out = dcmtk("movescu", "-S", "-aet", "WS01", "-aem", "WS01", "-aec", "KURA", "--port", mover_port,
                      "-od", moves, "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID=1.2.3.4.5",
                      "127.0.0.1", port)
    assert code == 0, out
    assert sorted(dataset_bytes(p.read_bytes()) for p in moves.iterdir()) == got

    # every stored instance re-hashes against the ledger (`kura audit verify --deep`)
    out = kura_cli(home, "audit", "verify", "--deep")
    assert "deep" in out


def test_dcmtk_getscu_gets_the_stored_bytes_or_a_converted_copy_it_can_take(live, tmp_path, monkeypatch):
    """getscu accepts only uncompressed transfer syntaxes unless told otherwise (+xr: RLE
    Lossless too): kura sends the stored RLE file as it is to the one, a decoded copy
    (ledgered) to the other."""
    import numpy as np
    from pydicom.data import get_testdata_file
    from pynetdicom import AE, _config
    from pynetdicom.dsutils import split_dataset
    kura, home, port = live
    path = Path(get_testdata_file("MR_small_RLE.dcm"))
    kura_cli(home, "dicom-peer", "add", "CT01", "127.0.0.1", "104", "--rights", "store,retrieve")
    # stored as the file holds it (pynetdicom sends a file's data set unchanged in chunks)
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
    ae = AE(ae_title="CT01")
    ae.add_requested_context(pydicom.uid.MRImageStorage, [pydicom.uid.RLELossless])
    assoc = ae.associate("127.0.0.1", port, ae_title="KURA")
    assert assoc.send_c_store(path).Status == 0
    assoc.release()
    study = pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID
    for name, options in (("as-stored", ["+xr"]), ("default", [])):
        into = tmp_path / name
        into.mkdir()
        code, out = dcmtk("getscu", "-S", *options, "-aet", "CT01", "-aec", "KURA", "-od", into,
                          "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}", "127.0.0.1", port)
        assert code == 0, out
        (got,) = into.iterdir()
        ds = pydicom.dcmread(got)
        if name == "as-stored":
            _, offset = split_dataset(path)
            assert ds.file_meta.TransferSyntaxUID == pydicom.uid.RLELossless
            assert got.read_bytes().endswith(path.read_bytes()[offset:])
        else:
            assert ds.file_meta.TransferSyntaxUID in (pydicom.uid.ExplicitVRLittleEndian,
                                                       pydicom.uid.ImplicitVRLittleEndian)
            assert np.array_equal(ds.pixel_array, pydicom.dcmread(path).pixel_array)
    assert "imaging:instance:converted" in kura_cli(home, "audit", "export", "--format", "csv")
