"""A kura DICOM server on a free loopback port, with registered peers, per test."""

from __future__ import annotations

import pytest

from kura.dicom.server import start
from kura.imaging import peers

from tests.factories import ADMIN
from tests.support.imaging import prepare


def add_peer(kura, aet, rights=("store", "query", "retrieve"), host="127.0.0.1", port=104):
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        peers.add_peer(ctx, ae_title=aet, host=host, port=port, rights=rights)


@pytest.fixture
def scp(kura):
    """(kura, port): the server runs until the test ends."""
    prepare(kura)
    add_peer(kura, "MODALITY", ("store",))
    add_peer(kura, "VIEWER", ("query", "retrieve"))
    add_peer(kura, "ALL")
    server = start(kura, "127.0.0.1", 0)
    try:
        yield kura, server.server_address[1]
    finally:
        server.shutdown()
