"""Backup benchmark: on one generated home, the preservation commands against plain tools.

    python bench/backup/run.py [--size-mb 500] [--patients 500] [--instance-kb 2048] [--dir DIR] [--keep] [--reuse]

Generates a home (SQLite) with --size-mb of DICOM instances (random 16-bit pixels, stored
through the real C-STORE service path: imaging.store_instance) and --patients patients with
a few records each, then measures, each command in its own process:

- full backup (`kura backup create`)       vs `cp -a` of the home, and `tar -c | zstd -1`
- incremental after a 1 % change            vs the full backup
- scrub (`kura scrub`)                      vs `sha256sum` over the same blob files
- restore (`kura backup restore`)           vs the full backup
- peak memory (max RSS) of each kura command

The page cache is warmed before each pair (every tool reads from memory, as a nightly backup
of a busy server mostly does); the destination is on the same disk. The issue asks for
>= 5 GB: `--size-mb 5200`. The CI never runs this; figures go in bench/backup/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))


def _env() -> dict:
    return {**os.environ, "KURA_ENV": "development", "PYTHONPATH": str(ROOT / "src")}


def timed(cmd: list[str], *, shell: bool = False) -> tuple[float, int]:
    """(seconds, max RSS in KB) of one command, via /usr/bin/time."""
    t0 = time.perf_counter()
    if shell:
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "bash", "-c", cmd[0]], capture_output=True, text=True,
                              env=_env())
    else:
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True, env=_env())
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0,):
        raise SystemExit(f"{cmd} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    rss = int(proc.stderr.strip().splitlines()[-1])
    return seconds, rss


def warm(path: Path) -> None:
    subprocess.run(f"find {path} -type f -print0 | xargs -0 cat > /dev/null", shell=True, check=True)


def du(path: Path) -> int:
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True).stdout.split()[0])


def generate(home: Path, *, size_mb: int, patients: int, instance_kb: int, seed: int = 0) -> int:
    """Fill `home` through the real services; returns the number of instances stored."""
    import numpy as np
    from pydicom.uid import generate_uid

    from kura.app import build, create_home
    from kura.config import load_settings
    from kura.imaging import service as imaging
    from kura.records import service as records
    from kura.access.policy import Subject
    from kura.access.roles import Role
    from tests.support.imaging import TECH, make_dataset, part10, prepare
    from tests.support.records import encounter, patient

    if not (home / "config.toml").exists():
        create_home(home)
    app = build(load_settings(home, env="development"))
    rng = np.random.default_rng(seed)
    side = int((instance_kb * 1024 / 2) ** 0.5)
    try:
        prepare(app) if seed == 0 else None
        ids = []
        clerk = Subject(id=None, name="bench-clerk", roles=frozenset({Role.clerk}), clearance="N")
        with app.unit_of_work(clerk, "HPAYMT") as ctx:
            for i in range(patients):
                pid = records.create(ctx, patient(family="山田", given=f"太郎{seed}-{i}", mrn=f"{seed:02d}{i:06d}")).id
                records.create(ctx, encounter(pid))
                ids.append(f"{seed:02d}{i:06d}")
        n, stored = 0, 0
        study = generate_uid()
        while stored < size_mb * 1048576:
            ds = make_dataset(patient_id=ids[n % len(ids)] if ids else "P0", study_uid=study if n % 50 else None,
                              instance_number=n + 1)
            ds.Rows = ds.Columns = side
            ds.PixelData = rng.integers(0, 4096, size=side * side, dtype=np.uint16).tobytes()
            if n % 50 == 0:
                study = ds.StudyInstanceUID
            data = part10(ds)
            with app.unit_of_work(TECH, "TREAT", origin="bench") as ctx:
                imaging.store_instance(ctx, data)
            stored += len(data)
            n += 1
        return n
    finally:
        app.dispose()


INPROC = """
import json, sys, time
from pathlib import Path
from kura.app import build
from kura.config import load_settings
from kura.preservation import backup
from tests.factories import ADMIN
app = build(load_settings(Path(sys.argv[1]), env="development"))
t = time.perf_counter()
backup.create(app, ADMIN, Path(sys.argv[2]))
print(json.dumps(time.perf_counter() - t))
"""


def inproc(home: Path, dest: Path) -> float:
    """A backup timed inside one process, as the server's scheduler runs it (no start-up)."""
    out = subprocess.run([sys.executable, "-c", INPROC, str(home), str(dest)], capture_output=True, text=True,
                         env={**_env(), "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=500)
    ap.add_argument("--patients", type=int, default=500)
    ap.add_argument("--instance-kb", type=int, default=2048)
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--reuse", action="store_true",
                    help="use the home already generated in --dir (and its instance count) instead of generating it")
    a = ap.parse_args()
    work = a.dir or Path(tempfile.mkdtemp(prefix="kura-bench-backup-"))
    work.mkdir(parents=True, exist_ok=True)
    home, dest = work / "home", work / "dest"
    kura = [sys.executable, "-m", "kura", "--home", str(home)]
    out: dict = {"size_mb": a.size_mb}
    try:
        if a.reuse and (home / "config.toml").exists():
            for stale in ("cp", "dest", "dest-inproc", "restored", "home.tar.zst"):
                p = work / stale
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        else:
            t0 = time.perf_counter()
            out["instances"] = generate(home, size_mb=a.size_mb, patients=a.patients, instance_kb=a.instance_kb)
            out["generate_s"] = round(time.perf_counter() - t0, 1)
        out["home_bytes"] = du(home)

        warm(home)
        out["cp_a_s"], _ = timed(["cp", "-a", str(home), str(work / "cp")])
        shutil.rmtree(work / "cp")
        subprocess.run(["sync"], check=True)
        warm(home)
        # kura flushes its generation to disk before the manifest (syncfs); cp does not
        out["cp_a_sync_s"], _ = timed([f"cp -a {home} {work}/cp && sync -f {work}/cp"], shell=True)
        shutil.rmtree(work / "cp")
        subprocess.run(["sync"], check=True)
        if shutil.which("zstd"):
            warm(home)
            out["tar_zstd_s"], _ = timed([f"tar -C {work} -cf - home | zstd -1 -q -o {work}/home.tar.zst"],
                                         shell=True)
            (work / "home.tar.zst").unlink()
        warm(home)
        subprocess.run(["sync"], check=True)
        out["full_s"], out["full_rss_kb"] = timed([*kura, "backup", "create", str(dest)])
        out["dest_bytes"] = du(dest)
        warm(home)
        out["full_inprocess_s"] = inproc(home, work / "dest-inproc")

        # a 1 % change: new instances (and their patients' records) worth 1 % of the images
        changes = sorted(work.glob("change-*"))  # each run's change has patient numbers of its own
        (work / f"change-{len(changes) + 1:02d}").touch()
        generate(home, size_mb=max(1, a.size_mb // 100), patients=max(1, a.patients // 100),
                 instance_kb=a.instance_kb, seed=len(changes) + 1)
        warm(home)
        out["incremental_s"], out["incremental_rss_kb"] = timed([*kura, "backup", "create", str(dest)])
        out["incremental_inprocess_s"] = inproc(home, work / "dest-inproc")

        warm(home)
        out["sha256sum_s"], _ = timed([f"find {home}/blobs -type f -print0 | xargs -0 sha256sum > /dev/null"],
                                      shell=True)
        out["scrub_s"], out["scrub_rss_kb"] = timed([*kura, "scrub"])

        warm(dest)
        out["restore_s"], out["restore_rss_kb"] = timed([*kura, "backup", "restore", str(dest), "--into",
                                                         str(work / "restored")])
        out["ratios"] = {
            "full_vs_cp_a": round(out["full_s"] / out["cp_a_s"], 2),
            "full_vs_cp_a_sync": round(out["full_s"] / out["cp_a_sync_s"], 2),
            "full_vs_tar_zstd": round(out["full_s"] / out["tar_zstd_s"], 2) if "tar_zstd_s" in out else None,
            "incremental_vs_full": round(out["incremental_s"] / out["full_s"], 3),
            "incremental_vs_full_inprocess": round(out["incremental_inprocess_s"] / out["full_inprocess_s"], 3),
            "full_inprocess_vs_cp_a_sync": round(out["full_inprocess_s"] / out["cp_a_sync_s"], 2),
            "scrub_throughput_vs_sha256sum": round(out["sha256sum_s"] / out["scrub_s"], 2),
            "restore_vs_full": round(out["restore_s"] / out["full_s"], 2),
        }
        for k in list(out):
            if k.endswith("_s"):
                out[k] = round(out[k], 2)
        out["load_average"] = os.getloadavg()
        print(json.dumps(out, indent=2))
    finally:
        if not a.keep and a.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
