"""FHIR benchmark: Patient search by kana prefix at 100k patients, and create+confirm
throughput, each as a ratio to the bare HTTP round trip (`GET /healthz`) of the same run.

    python bench/fhir/run.py [--patients 100000] [--engine sqlite|postgresql|both]
                             [--searches 400] [--creates 300] [--clients 1,4]
                             [--bundles 20] [--bundle-size 50]
                             [--pg-url postgresql://postgres@127.0.0.1:5432/postgres]
                             [--keep DIR]   (keep the loaded homes in DIR/<engine> and reuse them)

For each engine, on a fresh home:

1. load:    --patients Patients with JP Core kanji + kana names through records.service.create
            (validation, index rows, Provenance, ledger entry — the real write path), 1000 per
            unit of work (one transaction), as a bulk registration would; then, on PostgreSQL,
            VACUUM ANALYZE (what autovacuum does after a bulk load).
2. serve:   `kura.web.create_app` under uvicorn in a child process (so client and server do
            not share a GIL), on a free loopback port; a clerk signs in with password + TOTP.
3. healthz: sequential GET /healthz — the bare HTTP round trip (p50/p95).
4. search:  sequential GET /fhir/Patient?name=<prefix> with random 2–3 character prefixes of
            family names, as hiragana, katakana or half-width katakana (p50/p95; _count=20,
            with `total`).
5. write:   (a) one request per interaction: POST /fhir/Patient then POST
            /fhir/Patient/{id}/$confirm, by 1 and by N parallel clients;
            (b) transaction Bundles (POST /fhir) of --bundle-size Patients, each entry a create
            (fullUrl urn:uuid:…) plus a `urn:uuid:…/$confirm` entry, so every resource is created
            and confirmed in one unit of work per Bundle (the same service calls: access check,
            version, Provenance, ledger entry per change), by 1 and by N parallel clients.
            Both as confirmed resources per second.

Aims (issue 3): search p95 ≤ 10× the bare round trip; ≥ 300 confirmed resources/s.
The CI never runs this; figures are in the closing note of the work that added it.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from kura.access.policy import Subject  # noqa: E402
from kura.access.roles import Role  # noqa: E402
from kura.app import build, create_home  # noqa: E402
from kura.classes import service as classes  # noqa: E402
from kura.config import load_settings  # noqa: E402
from kura.identity import service as identity  # noqa: E402
from kura.identity import totp  # noqa: E402
from kura.records import service as records  # noqa: E402
from kura.demo.records import SURNAMES  # noqa: E402

# The first 40 surnames of the demo, so that a 2–3 kana prefix matches thousands at 100k.
FAMILIES = SURNAMES[:40]
GIVEN = [("太郎", "タロウ"), ("花子", "ハナコ"), ("一郎", "イチロウ"), ("翔太", "ショウタ"), ("陽菜", "ヒナ"),
         ("蓮", "レン"), ("結衣", "ユイ"), ("大輝", "ダイキ"), ("美咲", "ミサキ"), ("健太", "ケンタ"),
         ("さくら", "サクラ"), ("拓海", "タクミ"), ("葵", "アオイ"), ("悠真", "ユウマ"), ("七海", "ナナミ"),
         ("誠", "マコト"), ("恵子", "ケイコ"), ("和子", "カズコ"), ("洋子", "ヨウコ"), ("隆", "タカシ")]
REP = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
MRN = "urn:oid:1.2.392.100495.20.3.51.11318814"
ADMIN = Subject(id=None, name="bench-admin", roles=frozenset({Role.admin}))
PASSWORD = "bench-password-42"


def patient(i: int, rng: random.Random) -> dict:
    (fk, fy), (gk, gy) = rng.choice(FAMILIES), rng.choice(GIVEN)
    return {"resourceType": "Patient", "identifier": [{"system": MRN, "value": f"{i:08d}"}],
            "name": [{"use": "official", "family": fk, "given": [gk], "extension": [{"url": REP, "valueCode": "IDE"}]},
                     {"use": "official", "family": fy, "given": [gy], "extension": [{"url": REP, "valueCode": "SYL"}]}],
            "gender": rng.choice(["male", "female"]),
            "birthDate": f"{rng.randint(1930, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"}


def kana_form(kata: str, rng: random.Random) -> str:
    form = rng.randrange(3)
    if form == 0:
        return kata
    if form == 1:
        return "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in kata)
    # half-width: decompose voiced marks, then map through the NFKC inverse by lookup
    half = {unicodedata.normalize("NFKC", chr(cp)): chr(cp) for cp in range(0xFF66, 0xFF9E)}
    out = []
    for c in unicodedata.normalize("NFD", kata):
        if c == "\u3099":
            out.append("ﾞ")
        elif c == "\u309a":
            out.append("ﾟ")
        else:
            out.append(half.get(c, c))
    return "".join(out)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def setup_home(engine_kind: str, pg_url: str, tmp: Path, name: str = "home") -> tuple[Path, str | None]:
    home = tmp / name
    create_home(home)
    db_name = None
    if engine_kind == "postgresql":
        admin = create_engine("postgresql+psycopg://" + pg_url.split("://", 1)[1], isolation_level="AUTOCOMMIT")
        db_name = f"kura_fhirbench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{db_name}"'))
        admin.dispose()
        (home / "config.toml").write_text(f'[kura]\ndatabase_url = "{pg_url.rsplit("/", 1)[0]}/{db_name}"\n')
    return home, db_name


def new_clerk(kura) -> tuple[str, Subject, str]:
    """A clerk for this run (a fresh name, so a kept home can be measured again); its TOTP secret."""
    with kura.unit_of_work(ADMIN, "HOPERAT") as ctx:
        classes.seed(ctx)
        user, uri = identity.register(ctx, username=f"clerk{uuid.uuid4().hex[:8]}", display_name="ベンチ 事務",
                                      roles=["clerk"], password=PASSWORD)
        user.must_change_password = False
        return user.username, identity.subject_of(user), uri.split("secret=")[1].split("&")[0]


def load(home: Path, n: int) -> tuple[tuple[str, str], float]:
    kura = build(load_settings(home, env="development"))
    username, clerk, secret = new_clerk(kura)
    rng = random.Random(42)
    t = time.perf_counter()
    batch = 1000
    done = int((home / "bench-loaded").read_text()) if (home / "bench-loaded").exists() else 0
    for start in range(done, n, batch):
        with kura.unit_of_work(clerk, "HPAYMT") as ctx:
            for i in range(start, min(n, start + batch)):
                records.create(ctx, patient(i, rng))
        (home / "bench-loaded").write_text(str(min(n, start + batch)))
        print(f"  loaded {min(n, start + batch):,} / {n:,}", file=sys.stderr, end="\r")
    elapsed = time.perf_counter() - t
    if kura.engine.dialect.name == "postgresql":
        # What autovacuum does on a production server after a bulk load (statistics, and the
        # visibility map that index-only scans need); it may be off on a test server.
        with kura.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))
    kura.dispose()
    return (username, secret), elapsed


SERVER = """
import sys, uvicorn
sys.path.insert(0, {src!r})
from pathlib import Path
from kura.app import build
from kura.config import load_settings
from kura.web import create_app
kura = build(load_settings(Path({home!r}), env="development"))
uvicorn.run(create_app(kura), host="127.0.0.1", port={port}, log_level="warning", access_log=False)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(home: Path, login: tuple[str, str], args) -> dict:
    username, secret = login
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER.format(src=str(ROOT / "src"), home=str(home), port=port)])
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        r = httpx.post(f"{base}/api/session", json={"username": username, "password": PASSWORD,
                                                   "otp": totp.code_at(secret, __import__("datetime").datetime.now(
                                                       __import__("datetime").timezone.utc))})
        r.raise_for_status()
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        rng = random.Random(7)
        out: dict = {}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
            for _ in range(50):  # warm-up
                c.get("/healthz")
                c.get("/fhir/Patient", params={"name": "ヤマ"})
            times = []
            for _ in range(args.searches):
                t = time.perf_counter()
                c.get("/healthz").raise_for_status()
                times.append(time.perf_counter() - t)
            out["healthz"] = times
            times, totals = [], []
            for _ in range(args.searches):
                family = rng.choice(FAMILIES)[1]
                prefix = kana_form(family[: rng.choice([2, 3])], rng)
                t = time.perf_counter()
                resp = c.get("/fhir/Patient", params={"name": prefix})
                times.append(time.perf_counter() - t)
                resp.raise_for_status()
                totals.append(resp.json()["total"])
            out["search"] = times
            out["search_total_mean"] = statistics.mean(totals)

        def writer(k: int, results: list):
            rng_w = random.Random(1000 + k)
            with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
                for i in range(args.creates):
                    r1 = c.post("/fhir/Patient", json=patient(10_000_000 + k * 100_000 + i, rng_w),
                                headers={"Content-Type": "application/fhir+json"})
                    r1.raise_for_status()
                    c.post(f"/fhir/Patient/{r1.json()['id']}/$confirm").raise_for_status()
                    results.append(1)

        def bundler(k: int, results: list):
            rng_w = random.Random(2000 + k)
            with httpx.Client(base_url=base, headers=headers, timeout=120) as c:
                for b in range(args.bundles):
                    entries = []
                    for i in range(args.bundle_size):
                        urn = f"urn:uuid:{uuid.uuid4()}"
                        n = 20_000_000 + k * 1_000_000 + b * args.bundle_size + i
                        entries.append({"fullUrl": urn, "resource": patient(n, rng_w),
                                        "request": {"method": "POST", "url": "Patient"}})
                        entries.append({"request": {"method": "POST", "url": f"{urn}/$confirm"}})
                    r = c.post("/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": entries},
                               headers={"Content-Type": "application/fhir+json"})
                    r.raise_for_status()
                    confirmed = [e for e in r.json()["entry"] if e["response"]["location"].endswith("/_history/2")]
                    assert len(confirmed) == args.bundle_size
                    results.extend([1] * len(confirmed))

        def run(target, clients: int) -> float:
            results: list = []
            threads = [threading.Thread(target=target, args=(k, results)) for k in range(clients)]
            t = time.perf_counter()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            return len(results) / (time.perf_counter() - t)

        for clients in args.clients:
            out[f"write{clients}"] = run(writer, clients)
        for clients in args.clients:
            out[f"bundle{clients}"] = run(bundler, clients)
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--patients", type=int, default=100_000)
    p.add_argument("--searches", type=int, default=400)
    p.add_argument("--creates", type=int, default=300, help="create+confirm pairs per client")
    p.add_argument("--clients", default="1,4")
    p.add_argument("--bundles", type=int, default=20, help="transaction Bundles per client")
    p.add_argument("--bundle-size", type=int, default=50, help="Patients created and confirmed per Bundle")
    p.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--keep", type=Path, help="keep loaded homes here and reuse them on the next run")
    p.add_argument("--pg-url", default=os.environ.get("KURA_BENCH_PG_URL",
                                                      "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = p.parse_args()
    args.clients = [int(x) for x in args.clients.split(",")]
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    report = []
    for kind in engines:
        with tempfile.TemporaryDirectory(prefix="kura-fhirbench-") as tmp:
            kept = args.keep / kind if args.keep else None
            if kept and (kept / "config.toml").exists():
                home, db_name = kept, None
            else:
                home, db_name = setup_home(kind, args.pg_url, kept.parent if kept else Path(tmp), name=kind if kept else "home")
                if kept:
                    db_name = None  # kept: the database stays for the next run
            try:
                login, load_s = load(home, args.patients)
                print(f"\n{kind}: {args.patients:,} patients loaded ({load_s:.0f} s this run)", file=sys.stderr)
                r = measure(home, login, args)
            finally:
                if db_name:
                    admin = create_engine("postgresql+psycopg://" + args.pg_url.split("://", 1)[1],
                                          isolation_level="AUTOCOMMIT")
                    with admin.connect() as c:
                        c.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
                    admin.dispose()
            report.append((kind, load_s, r))

    ms = lambda s: s * 1000  # noqa: E731
    print(f"\n{args.patients:,} patients; {args.searches} searches; {args.creates} create+confirm per client; "
          f"{args.bundles} transaction Bundles of {args.bundle_size} per client\n")
    print(f"{'engine':<11}{'healthz p50/p95 ms':>20}{'search p50/p95 ms':>20}{'p50 ×':>7}{'p95 ×':>7}"
          f"{'hits':>7}  confirmed/s (clients: rate, ×rt per resource)")
    for kind, load_s, r in report:
        h50, h95 = ms(pct(r["healthz"], 50)), ms(pct(r["healthz"], 95))
        s50, s95 = ms(pct(r["search"], 50)), ms(pct(r["search"], 95))
        rate = lambda key, r=r, h50=h50: "  ".join(  # noqa: E731 — bound per row
            f"{c}: {r[f'{key}{c}']:.0f}/s ({1000 / r[f'{key}{c}'] / h50:.2f}×)" for c in args.clients)
        print(f"{kind:<11}{h50:>9.2f} /{h95:>7.2f}   {s50:>9.2f} /{s95:>7.2f}   {s50 / h50:>6.1f}{s95 / h95:>7.1f}"
              f"{r['search_total_mean']:>7.0f}  (a) per request {rate('write')}")
        print(f"{'':<72}(b) transaction Bundles {rate('bundle')}")
    print("\naims: search p95 ≤ 10× bare round trip; ≥ 300 confirmed resources/s")


if __name__ == "__main__":
    main()
