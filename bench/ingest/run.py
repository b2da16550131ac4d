"""DICOM ingest benchmark: kura side by side with Orthanc, on the same data and the same clients.

    python bench/ingest/run.py [--big 200] [--small 600] [--stow 300] [--qido-studies 10000]
                               [--queries 300] [--engine sqlite|postgresql|both]
                               [--data DIR] [--only kura|orthanc] [--no-netns]

Run as root: the script re-executes itself under `unshare --net` and brings up `lo`, so
Orthanc (which listens on every interface and has no bind option) and kura are reachable
only from inside this network namespace. It installs nothing; it needs Debian's `orthanc`,
`orthanc-dicomweb` and `dcmtk` packages and the Python packages in requirements.txt.

Data (deterministic, generated once into --data with pydicom + numpy):
  big    CT 512×512 16-bit (~0.5 MB each), `--big` per run
  small  CT 64×64 16-bit (~8 kB each), `--small` per run
  Each C-STORE run has its own instances (one study for one association, four studies for
  four associations), so nothing is ever a duplicate.
  qido   `--qido-studies` studies of one 16×16 instance each, loaded on both sides through the
         fastest common path: dcmtk storescu, four associations in parallel.

Measured, each on both servers:
  C-STORE: dcmtk storescu (TCP_NODELAY=1), one association, and four storescu processes in
           parallel; instances/s, for both sizes.
  STOW-RS: one instance per POST, one client, both sizes; instances/s.
  QIDO-RS: GET /dicom-web/studies?PatientID=… with --qido-studies studies loaded; p50/p95.
  WADO-RS: GET /dicom-web/studies/{uid} of the big one-association study; MB/s (best of 3).
  memory:  VmHWM (peak resident set) of each server process after the ingest runs.

Ratios are kura/Orthanc for rates and Orthanc/kura for latencies and memory, so > 1.0
always means kura does better.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

STORESCU = shutil.which("storescu", path="/usr/bin") or "storescu"
ORTHANC = shutil.which("Orthanc", path="/usr/sbin:/usr/bin") or "Orthanc"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
CLIENT_AET = "BENCH"
PASSWORD = "bench-password-42"
NAME = "Yamada^Tarou=山田^太郎=やまだ^たろう"
PG_URL = "postgresql://postgres@/postgres?host=/var/run/postgresql"  # unix socket: reachable in the netns


# -- network namespace ---------------------------------------------------------------------

def enter_netns(argv: list[str]) -> None:
    """Re-execute under `unshare --net` (a namespace with only loopback), then bring lo up."""
    if os.environ.get("KURA_BENCH_NETNS") == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    if os.geteuid() != 0:
        sys.exit("run as root (the benchmark isolates Orthanc in a network namespace), or pass --no-netns")
    env = {**os.environ, "KURA_BENCH_NETNS": "1"}
    os.execvpe("unshare", ["unshare", "--net", "--", sys.executable, os.path.abspath(__file__), *argv], env)


# -- data -----------------------------------------------------------------------------------

def uid(*parts) -> str:
    """A deterministic UID under the UUID-derived 2.25 root (PS3.5 B.2)."""
    digest = hashlib.sha256(" ".join(["kura-bench", *map(str, parts)]).encode()).digest()
    return f"2.25.{int.from_bytes(digest[:16], 'big') >> 2}"


def instance(path: Path, *, size: int, patient_id: str, study: str, series: str, sop: str,
             number: int, seed: int) -> None:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.PatientName = NAME
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "M"
    ds.StudyDate = "20260401"
    ds.StudyTime = "101500"
    ds.AccessionNumber = f"A{seed % 10**8}"
    ds.StudyID = "1"
    ds.StudyDescription = "CT chest"
    ds.Modality = "CT"
    ds.SeriesNumber = 1
    ds.InstanceNumber = number
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    ds.PixelData = np.random.default_rng(seed).integers(0, 4096, (size, size), dtype=np.uint16).tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.save_as(path, enforce_file_format=True)


def make_set(root: Path, name: str, *, size: int, count: int, studies: int) -> Path:
    """`count` instances in `studies` studies (one sub-directory per study)."""
    out = root / name
    done = out / ".done"
    if done.exists() and done.read_text() == f"{size} {count} {studies}":
        return out
    shutil.rmtree(out, ignore_errors=True)
    for s in range(studies):
        (out / f"{s:05d}").mkdir(parents=True)
    for i in range(count):
        s = i % studies
        instance(out / f"{s:05d}" / f"{i:06d}.dcm", size=size, patient_id=f"{name.upper()[:6]}{s:05d}",
                 study=uid(name, "study", s), series=uid(name, "series", s), sop=uid(name, "sop", i),
                 number=i // studies + 1, seed=i)
    done.write_text(f"{size} {count} {studies}")
    return out


def make_data(root: Path, args) -> dict[str, Path]:
    sets = {}
    for size_name, size, count in (("big", 512, args.big), ("small", 64, args.small)):
        for assocs in (1, 4):
            sets[f"{size_name}{assocs}"] = make_set(root, f"{size_name}{assocs}", size=size, count=count, studies=assocs)
        sets[f"stow{size_name}"] = make_set(root, f"stow{size_name}", size=size,
                                            count=args.stow if size_name == "small" else max(1, args.stow // 3),
                                            studies=1)
    qido = root / "qido"
    marker = qido / ".done"
    if not (marker.exists() and marker.read_text() == str(args.qido_studies)):
        shutil.rmtree(qido, ignore_errors=True)
        for k in range(4):
            (qido / str(k)).mkdir(parents=True)
        for s in range(args.qido_studies):
            instance(qido / str(s % 4) / f"{s:06d}.dcm", size=16, patient_id=f"Q{s:07d}",
                     study=uid("qido", "study", s), series=uid("qido", "series", s), sop=uid("qido", "sop", s),
                     number=1, seed=s)
        marker.write_text(str(args.qido_studies))
    sets["qido"] = qido
    return sets


def files_of(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.dcm"))


# -- servers --------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early ({proc.returncode}): {url}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"server did not answer: {url}")


def vm_hwm_mb(pid: int) -> float:
    """Peak resident set of a process and its children (kura may run several DICOM processes)."""
    total = 0.0
    pids = [pid]
    try:
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


class Server:
    name = ""
    aet = ""
    proc: subprocess.Popen
    http = dicom = 0
    headers: dict = {}

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Orthanc(Server):
    name, aet = "Orthanc", "ORTHANC"

    def __init__(self, tmp: Path):
        self.http, self.dicom = free_port(), free_port()
        work = tmp / "orthanc"
        work.mkdir()
        config = {  # Orthanc's defaults, plus what running it here needs, plus DefaultEncoding
            "Name": "bench", "StorageDirectory": str(work / "storage"), "IndexDirectory": str(work / "index"),
            "HttpPort": self.http, "DicomPort": self.dicom, "DicomAet": self.aet,
            "DefaultEncoding": "Utf8", "Plugins": [DICOMWEB_PLUGIN],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "DicomModalities": {CLIENT_AET: [CLIENT_AET, "127.0.0.1", 11113]},
        }
        (work / "orthanc.json").write_text(json.dumps(config, indent=1))
        self.proc = subprocess.Popen([ORTHANC, str(work / "orthanc.json")], env={**os.environ, "TCP_NODELAY": "1"},
                                     stdout=subprocess.DEVNULL, stderr=open(work / "orthanc.log", "wb"))
        wait_http(f"{self.base}/system", self.proc)


class Kura(Server):
    name, aet = "kura", "KURA"

    def __init__(self, tmp: Path, engine: str, pg_url: str, profile: Path | None = None):
        from kura.access.policy import Subject
        from kura.access.roles import Role
        from kura.app import build, create_home
        from kura.classes import service as classes
        from kura.config import load_settings
        from kura.identity import service as identity
        from kura.imaging import peers

        self.home = tmp / f"kura-{engine}"
        self.db_name = None
        config = ""
        if engine == "postgresql":
            from sqlalchemy import create_engine, text
            self.db_name = f"kura_ingest_{uuid.uuid4().hex[:8]}"
            admin = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{self.db_name}"'))
            admin.dispose()
            self.pg = (pg_url, self.db_name)
            config = f'[kura]\ndatabase_url = "{pg_url.replace("/postgres?", f"/{self.db_name}?", 1)}"\n'
        create_home(self.home, config)
        kura = build(load_settings(self.home))
        admin_subject = Subject(id=None, name="bench-admin", roles=frozenset({Role.admin}))
        with kura.unit_of_work(admin_subject, "HOPERAT") as ctx:
            classes.seed(ctx)
            peers.add_peer(ctx, ae_title=CLIENT_AET, host="127.0.0.1", port=11113,
                           rights=("store", "query", "retrieve"))
            user, uri = identity.register(ctx, username="benchtech", display_name="ベンチ 技師",
                                          roles=["technologist"], clearance="V", password=PASSWORD)
            user.must_change_password = False
        self.secret = uri.split("secret=")[1].split("&")[0]
        kura.dispose()
        self.http, self.dicom = free_port(), free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        spy = ["py-spy", "record", "--threads", "--idle", "-r", "250", "-f", "speedscope" if str(profile).endswith(".json")
               else "flamegraph", "-o", str(profile), "--"] if profile else []
        self.proc = subprocess.Popen(
            [*spy, sys.executable, "-m", "kura", "--home", str(self.home), "serve", "--http", f"127.0.0.1:{self.http}",
             "--dicom", f"127.0.0.1:{self.dicom}"], env=env, stdout=subprocess.DEVNULL,
            stderr=open(tmp / f"kura-{engine}.log", "wb"))
        wait_http(f"{self.base}/healthz", self.proc)
        self.login()

    def login(self) -> None:
        import datetime as dt

        from kura.identity import totp
        r = httpx.post(f"{self.base}/api/session", json={
            "username": "benchtech", "password": PASSWORD,
            "otp": totp.code_at(self.secret, dt.datetime.now(dt.timezone.utc))})
        r.raise_for_status()
        self.headers = {"Authorization": f"Bearer {r.json()['token']}"}

    def stop(self) -> None:
        super().stop()
        if self.db_name:
            from sqlalchemy import create_engine, text
            admin = create_engine(self.pg[0].replace("postgresql://", "postgresql+psycopg://", 1),
                                  isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
            admin.dispose()


# -- measurements ---------------------------------------------------------------------------

def storescu(server: Server, groups: list[list[Path]]) -> float:
    """Send each group on its own association, all groups at once; seconds of wall time."""
    env = {**os.environ, "TCP_NODELAY": "1"}
    t = time.perf_counter()
    procs = [subprocess.Popen([STORESCU, "-aet", CLIENT_AET, "-aec", server.aet, "127.0.0.1", str(server.dicom),
                               *map(str, g)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for g in groups]
    errors = [p.communicate()[1] for p in procs]
    elapsed = time.perf_counter() - t
    for p, err in zip(procs, errors):
        if p.returncode != 0 or b"E:" in err:
            raise SystemExit(f"storescu against {server.name} failed: {err.decode(errors='replace')[:800]}")
    return elapsed


def c_store(server: Server, directory: Path, assocs: int) -> float:
    groups = [files_of(d) for d in sorted(p for p in directory.iterdir() if p.is_dir())]
    assert len(groups) == assocs
    n = sum(map(len, groups))
    return n / storescu(server, groups)


def multipart(data: bytes, boundary: str) -> bytes:
    return (f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data
            + f"\r\n--{boundary}--\r\n".encode())


def stow(server: Server, directory: Path) -> float:
    files = [p.read_bytes() for p in files_of(directory)]
    boundary = uuid.uuid4().hex
    headers = {**server.headers, "Accept": "application/dicom+json",
               "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'}
    with httpx.Client(base_url=server.base, headers=headers, timeout=120) as c:
        t = time.perf_counter()
        for data in files:
            r = c.post("/dicom-web/studies", content=multipart(data, boundary))
            if r.status_code != 200:
                raise SystemExit(f"STOW-RS to {server.name}: {r.status_code} {r.text[:300]}")
        return len(files) / (time.perf_counter() - t)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def qido(server: Server, studies: int, queries: int) -> tuple[float, float]:
    rng = random.Random(11)
    headers = {**server.headers, "Accept": "application/dicom+json"}
    with httpx.Client(base_url=server.base, headers=headers, timeout=60) as c:
        times = []
        for i in range(queries + 20):
            pid = f"Q{rng.randrange(studies):07d}"
            t = time.perf_counter()
            r = c.get("/dicom-web/studies", params={"PatientID": pid})
            elapsed = time.perf_counter() - t
            if r.status_code != 200 or len(r.json()) != 1:
                raise SystemExit(f"QIDO-RS on {server.name}: {r.status_code} {r.text[:300]}")
            if i >= 20:  # the first 20 warm up caches and connections
                times.append(elapsed)
    return pct(times, 50) * 1000, pct(times, 95) * 1000


def wado(server: Server, study_uid: str) -> float:
    headers = {**server.headers, "Accept": 'multipart/related; type="application/dicom"'}
    best = 0.0
    with httpx.Client(base_url=server.base, headers=headers, timeout=300) as c:
        for _ in range(3):
            t, n = time.perf_counter(), 0
            with c.stream("GET", f"/dicom-web/studies/{study_uid}") as r:
                if r.status_code != 200:
                    raise SystemExit(f"WADO-RS on {server.name}: {r.status_code}")
                for chunk in r.iter_bytes(1 << 20):
                    n += len(chunk)
            best = max(best, n / 1e6 / (time.perf_counter() - t))
    return best


def measure(server: Server, data: dict[str, Path], args) -> dict:
    out: dict = {}
    skip = set(args.skip.split(","))
    for size in ("small", "big") if "cstore" not in skip else ():
        for assocs in (1, 4):
            rate = c_store(server, data[f"{size}{assocs}"], assocs)
            out[f"C-STORE {size} ×{assocs} (inst/s)"] = rate
            print(f"  {server.name}: C-STORE {size} ×{assocs}: {rate:.0f}/s", file=sys.stderr)
    for size in ("small", "big") if "stow" not in skip else ():
        rate = stow(server, data[f"stow{size}"])
        out[f"STOW-RS {size} (inst/s)"] = rate
        print(f"  {server.name}: STOW-RS {size}: {rate:.0f}/s", file=sys.stderr)
    out["peak memory (MB)"] = vm_hwm_mb(server.proc.pid)
    if "qido" in skip:
        return out
    t = time.perf_counter()
    qgroups = [files_of(d) for d in sorted(p for p in data["qido"].iterdir() if p.is_dir())]
    storescu(server, qgroups)
    print(f"  {server.name}: loaded {args.qido_studies} studies in {time.perf_counter() - t:.0f} s",
          file=sys.stderr)
    p50, p95 = qido(server, args.qido_studies, args.queries)
    out["QIDO-RS p50 (ms)"], out["QIDO-RS p95 (ms)"] = p50, p95
    out["WADO-RS study (MB/s)"] = wado(server, uid("big1", "study", 0))
    print(f"  {server.name}: QIDO p50 {p50:.1f} ms p95 {p95:.1f} ms, WADO {out['WADO-RS study (MB/s)']:.0f} MB/s",
          file=sys.stderr)
    return out


HIGHER_IS_BETTER = ("inst/s", "MB/s")


def report(results: dict[str, dict], args) -> None:
    names = list(results)
    orthanc = results.get("Orthanc")
    print()
    print(f"big = 512×512 16-bit CT (~0.5 MB), {args.big}/run; small = 64×64 (~8 kB), {args.small}/run; "
          f"STOW {args.stow} small / {max(1, args.stow // 3)} big; QIDO with {args.qido_studies} studies")
    header = f"{'measure':30}" + "".join(f"{n:>17}" for n in names)
    if orthanc:
        header += "".join(f"{'ratio ' + n:>23}" for n in names if n != "Orthanc")
    print(header)
    for key in next(iter(results.values())):
        line = f"{key:30}" + "".join(f"{results[n][key]:>17.1f}" for n in names)
        if orthanc:
            for n in names:
                if n == "Orthanc":
                    continue
                k, o = results[n][key], orthanc[key]
                ratio = k / o if any(unit in key for unit in HIGHER_IS_BETTER) else o / k
                line += f"{ratio:>23.2f}"
        print(line)
    if orthanc:
        print("ratio > 1.0: kura better (kura/Orthanc for rates, Orthanc/kura for latency and memory)")


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--big", type=int, default=200, help="512×512 instances per C-STORE run")
    ap.add_argument("--small", type=int, default=600, help="64×64 instances per C-STORE run")
    ap.add_argument("--stow", type=int, default=300, help="small instances for STOW-RS (a third as many big)")
    ap.add_argument("--qido-studies", type=int, default=10000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="sqlite")
    ap.add_argument("--pg-url", default=PG_URL)
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "kura-bench-ingest-data",
                    help="where the generated data set is kept (reused when it matches)")
    ap.add_argument("--only", choices=["kura", "orthanc"])
    ap.add_argument("--py-spy", type=Path, help="record a py-spy profile of the kura server into this file (.svg/.json)")
    ap.add_argument("--skip", default="", help="comma list of phases to skip: cstore,stow,qido,wado")
    ap.add_argument("--no-netns", action="store_true", help="do not isolate (Orthanc then listens on all interfaces)")
    args = ap.parse_args(argv)
    if not args.no_netns and args.only != "kura":
        enter_netns(argv)
    t = time.perf_counter()
    data = make_data(args.data, args)
    print(f"data set ready in {time.perf_counter() - t:.0f} s: {args.data}", file=sys.stderr)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="kura-bench-ingest-") as tmp:
        tmp = Path(tmp)
        runs = []
        if args.only != "kura":
            runs.append(("Orthanc", lambda: Orthanc(tmp)))
        if args.only != "orthanc":
            for engine in (["sqlite", "postgresql"] if args.engine == "both" else [args.engine]):
                runs.append((f"kura {engine}", lambda e=engine: Kura(tmp, e, args.pg_url, args.py_spy)))
        for name, start in runs:
            print(f"{name}:", file=sys.stderr)
            try:
                server = start()
            except (Exception, SystemExit) as exc:  # noqa: BLE001 — report the others still
                print(f"  {name} did not start: {exc}", file=sys.stderr)
                continue
            try:
                results[name] = measure(server, data, args)
            except (Exception, SystemExit) as exc:  # noqa: BLE001
                print(f"  {name} failed: {exc}", file=sys.stderr)
            finally:
                server.stop()
    if results:
        report(results, args)


if __name__ == "__main__":
    main(sys.argv[1:])
