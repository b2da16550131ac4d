"""Mutated data sets over a real C-STORE: success, or a refusal of the bad input (0xA900) —
never 0xC000, which means kura broke on it — nothing half-stored, and the server keeps
serving (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from pynetdicom import AE, _config
from pynetdicom.sop_class import CTImageStorage, Verification

from tests.unit.imaging.data import dataset_bytes, make_dataset, part10

SEED = part10(make_dataset(seed=2, study_uid="1.2.392.2", series_uid="1.2.392.2.1", sop_uid="1.2.392.2.1.1"))
META, DATASET = SEED[:len(SEED) - len(dataset_bytes(SEED))], dataset_bytes(SEED)


@pytest.fixture
def raw_sending():
    """Send the file's data set bytes as they are, without pydicom re-encoding them."""
    before = _config.STORE_SEND_CHUNKED_DATASET
    _config.STORE_SEND_CHUNKED_DATASET = True
    yield
    _config.STORE_SEND_CHUNKED_DATASET = before


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzz_c_store(scp, raw_sending, tmp_path, data):
    kura, port = scp
    position = data.draw(st.integers(0, len(DATASET) - 1))
    kind = data.draw(st.sampled_from(["flip", "cut", "insert"]))
    noise = data.draw(st.binary(min_size=1, max_size=8))
    mutated = {"flip": DATASET[:position] + noise + DATASET[position + len(noise):],
               "cut": DATASET[:position], "insert": DATASET[:position] + noise + DATASET[position:]}[kind]
    path = tmp_path / "fuzz.dcm"
    path.write_bytes(META + mutated)
    before = set(kura.blobs.names())
    ae = AE(ae_title="ALL")
    ae.add_requested_context(CTImageStorage)
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="KURA")
    assert assoc.is_established
    status = assoc.send_c_store(path)
    code = status.get("Status") if status else None
    assert code is None or code in (0x0000, 0xA900, 0xC001), hex(code)
    if code != 0:
        assert set(kura.blobs.names()) == before
    if assoc.is_established:
        assoc.release()
    again = ae.associate("127.0.0.1", port, ae_title="KURA")
    assert again.is_established and again.send_c_echo().Status == 0
    again.release()
