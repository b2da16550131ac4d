"""kura.dicom.server copies two private pynetdicom reactors (to wait on the socket instead of
polling). A copy silently goes stale when pynetdicom changes: this test fails first."""

from __future__ import annotations

import hashlib
import inspect

import pynetdicom
from pynetdicom.association import Association
from pynetdicom.dul import DULServiceProvider

from kura.dicom import send
from kura.dicom.server import REACTORS_COPIED_FROM, _EventAssociation, _EventDUL


def _digest(method) -> str:
    return hashlib.sha256(inspect.getsource(method).encode()).hexdigest()


def test_reactor_copies_are_pinned_to_the_installed_pynetdicom():
    assert pynetdicom.__version__ == REACTORS_COPIED_FROM["pynetdicom"], (
        "pynetdicom changed: compare its DULServiceProvider.run_reactor and "
        "Association._run_reactor with the copies in kura.dicom.server, then re-pin")
    assert _digest(DULServiceProvider.run_reactor) == REACTORS_COPIED_FROM["DULServiceProvider.run_reactor"]
    assert _digest(Association._run_reactor) == REACTORS_COPIED_FROM["Association._run_reactor"]


def test_raw_storing_is_pinned_to_the_send_c_store_it_follows():
    assert pynetdicom.__version__ == send.COPIED_FROM["pynetdicom"]
    assert _digest(Association.send_c_store) == send.COPIED_FROM["Association.send_c_store"], (
        "pynetdicom's send_c_store changed: compare kura.dicom.send.RawStoring, then re-pin")
    assert issubclass(_EventAssociation, send.RawStoring)


def test_the_copies_replace_the_methods_they_pin():
    assert _EventDUL.run_reactor is not DULServiceProvider.run_reactor
    assert _EventAssociation._run_reactor is not Association._run_reactor
