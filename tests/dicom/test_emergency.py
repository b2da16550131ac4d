"""The emergency switch on the DICOM port (R74): a cut-off peer, or every peer when all external
connections are cut, is refused at association (and the refusal ledgered); lifted, it works again."""

from __future__ import annotations

from pynetdicom import AE
from pynetdicom.sop_class import Verification

from kura.identity import emergency
from kura.ledger.tags import LedgerTag
from tests.factories import ADMIN
from tests.web.ui import entries


def _echo(port: int, aet: str) -> bool:
    ae = AE(ae_title=aet)
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="KURA")
    try:
        return assoc.is_established and assoc.send_c_echo().Status == 0
    finally:
        if assoc.is_established:
            assoc.release()


def test_r74_a_cut_off_peer_is_refused_at_association_and_lifting_restores_it(scp):
    kura, port = scp
    assert _echo(port, "VIEWER") and _echo(port, "ALL")
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        peer = emergency.switch_on(ctx, scope="peer", target="VIEWER", reason="不審な大量検索").id
    assert not _echo(port, "VIEWER") and _echo(port, "ALL")
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        everyone = emergency.switch_on(ctx, scope="all", reason="ランサムウェア感染の疑い").id
    assert not _echo(port, "ALL")
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        emergency.switch_off(ctx, peer, reason="確認済み")
        emergency.switch_off(ctx, everyone, reason="復旧")
    assert _echo(port, "VIEWER") and _echo(port, "ALL")
    rejected = entries(kura, LedgerTag.DicomAssociationRejected)
    assert any("emergency switch" in e.reason and e.target_id == "VIEWER" for e in rejected)
