"""`kura selfcheck` (R65, R67): installed files against the wheel's RECORD, the SBOM, the home."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as md
import json
import os

import pytest
from sqlalchemy import select

from kura.errors import Denied
from kura.ledger.models import LedgerEntry
from kura.ledger.tags import LedgerTag
from kura.preservation.selfcheck import check_distribution, selfcheck

from tests.factories import ADMIN
from tests.support.imaging import NURSE_V


def _wheel_like(root):
    """An installed distribution as pip leaves it: the package and a dist-info with RECORD."""
    pkg = root / "demo_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("VERSION = 1\n")
    (pkg / "core.py").write_text("def f():\n    return 42\n")
    info = root / "demo_pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\n")
    lines = []
    for p in (pkg / "__init__.py", pkg / "core.py", info / "METADATA"):
        digest = base64.urlsafe_b64encode(hashlib.sha256(p.read_bytes()).digest()).rstrip(b"=").decode()
        lines.append(f"{p.relative_to(root)},sha256={digest},{p.stat().st_size}")
    lines.append("demo_pkg-1.0.dist-info/RECORD,,")
    (info / "RECORD").write_text("\n".join(lines) + "\n")
    return md.PathDistribution(info), pkg


def test_r65_installed_files_are_checked_against_the_record(tmp_path):
    dist, pkg = _wheel_like(tmp_path)
    n, anomalies, notes = check_distribution(dist, pkg)
    assert (n, anomalies, notes) == (3, [], [])
    (pkg / "core.py").write_text("def f():\n    return 41\n")
    (pkg / "__init__.py").unlink()
    _, anomalies, _ = check_distribution(dist, pkg)
    assert sorted(anomalies) == ["installed file altered: demo_pkg/core.py",
                                 "installed file missing: demo_pkg/__init__.py"]


def test_r67_selfcheck_reports_home_permissions_sbom_and_is_ledgered(kura, home, tmp_path):
    dist, pkg = _wheel_like(tmp_path)
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        report = selfcheck(ctx, dist=dist, package_dir=pkg)
    assert report.ok, report.anomalies
    sbom = json.loads(report.sbom)
    assert sbom["bomFormat"] == "CycloneDX"
    names = {c["name"].lower() for c in sbom["components"]}
    assert {"sqlalchemy", "cryptography", "pydicom"} <= names
    os.chmod(home / "keys" / "master.key", 0o644)
    (pkg / "core.py").write_text("tampered = True\n")
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        report = selfcheck(ctx, dist=dist, package_dir=pkg)
    assert not report.ok
    assert any("master.key: mode 644" in a for a in report.anomalies)
    assert "installed file altered: demo_pkg/core.py" in report.anomalies
    with kura.sessions() as s:
        entries = s.scalars(select(LedgerEntry).where(LedgerEntry.tag == str(LedgerTag.OpsSelfcheckCompleted))).all()
    assert [e.outcome for e in entries] == [0, 8] and entries[-1].alert


def test_r67_selfcheck_needs_the_operations_role(kura):
    with pytest.raises(Denied), kura.unit_of_work(NURSE_V, "TREAT") as ctx:
        selfcheck(ctx)
