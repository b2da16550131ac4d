"""The operations manager's screens over real HTTP (R54, R62, R67): who may open them, "back up
now" with progress, and the DICOM peers page (admin and operations)."""

from __future__ import annotations

import dataclasses
import re
import time

import pytest

from kura.ledger.tags import LedgerTag
from kura.preservation import generations

from tests.support.homes import populate
from tests.web.ui import browser, entries, page_as

PAGES = ["/ops", "/admin/peers"]


@pytest.mark.parametrize("path", PAGES)
def test_r15_ops_pages_need_a_session_and_the_role(server, clock, path):
    with browser(server) as c:
        r = c.get(path)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    with page_as(server, clock, "clerk") as clerk:
        assert clerk.get(path).status_code == 403
    with page_as(server, clock, "operations") as ops:
        r = ops.get(path)
    assert r.status_code == 200 and "<h1>" in r.text


def _wait(c, job_id):
    for _ in range(600):
        j = c.get(f"/ops/jobs/{job_id}").json()
        if j["finished"]:
            return j
        time.sleep(0.1)
    raise AssertionError("job did not finish")


def test_r54_back_up_now_runs_with_progress_and_shows_the_generation(server, clock, tmp_path):
    populate(server.kura)
    dest = tmp_path / "dest"
    server.kura.settings = dataclasses.replace(server.kura.settings, backup_destination=str(dest))
    with page_as(server, clock, "operations") as ops:
        page = ops.get("/ops")
        assert "運用管理" in page.text and "今すぐバックアップ" in page.text
        r = ops.post("/ops/run", data={"kind": "backup", "dest": str(dest)})
        assert r.status_code == 303
        job_id = re.search(r"job=(\w+)", r.headers["location"]).group(1)
        j = _wait(ops, job_id)
        assert j["ok"], j
        gen = generations.list_generations(dest)[0].name
        page = ops.get(f"/ops?job={job_id}")
        assert gen in page.text and "complete" in page.text
        # a path the home does not know is refused, nothing is written there
        elsewhere = tmp_path / "elsewhere"
        bad = ops.post("/ops/run", data={"kind": "backup", "dest": str(elsewhere)})
        assert bad.status_code == 400 and not elsewhere.exists()
        # verify, scrub and selfcheck through the same button row
        for kind in ("verify", "scrub", "selfcheck"):
            r = ops.post("/ops/run", data={"kind": kind, "dest": str(dest)})
            j = _wait(ops, re.search(r"job=(\w+)", r.headers["location"]).group(1))
            assert j["ok"] is not None, j
        page = ops.get("/ops")
        assert "正常" in page.text  # the generation's verification
    assert entries(server.kura, LedgerTag.OpsBackupCreated, actor="operations-ui")
    assert entries(server.kura, LedgerTag.OpsScrubCompleted, actor="operations-ui")


def test_r15_a_clerk_cannot_start_a_backup(server, clock, tmp_path):
    with page_as(server, clock, "clerk") as clerk:
        r = clerk.post("/ops/run", data={"kind": "backup", "dest": str(tmp_path)})
    assert r.status_code == 403
    assert entries(server.kura, LedgerTag.AccessRequestDenied, actor="clerk-ui")


def test_r13_peers_list_add_change_disable(server, clock):
    with page_as(server, clock, "admin") as admin:
        r = admin.post("/admin/peers", data={"ae_title": "CT01", "host": "10.0.0.5", "port": "104",
                                             "rights": ["store"]})
        assert r.status_code == 303
        page = admin.get("/admin/peers")
        assert "CT01" in page.text and "保存" in page.text
        bad = admin.post("/admin/peers", data={"ae_title": "BAD\\AE", "host": "h", "port": "104", "rights": ["store"]})
        assert bad.status_code == 400
    with page_as(server, clock, "operations") as ops:
        r = ops.post("/admin/peers", data={"ae_title": "CT01", "host": "10.0.0.6", "port": "11112",
                                           "rights": ["store", "query"]})
        assert r.status_code == 303
        assert ops.post("/admin/peers/CT01/disable").status_code == 303
        page = ops.get("/admin/peers")
        assert "無効" in page.text
    with page_as(server, clock, "clerk") as clerk:
        assert clerk.post("/admin/peers/CT01/disable").status_code == 403
    assert [e.target_id for e in entries(server.kura, LedgerTag.AdminPeerAdded)] == ["CT01"]
    assert len(entries(server.kura, LedgerTag.AdminPeerChanged)) == 2
    from kura.imaging import peers
    with server.kura.unit_of_work(None, "HOPERAT") as ctx:
        assert peers.lookup(ctx, "CT01") is None  # a disabled peer is rejected like an unknown one
