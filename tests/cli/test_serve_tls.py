"""`kura serve --tls-cert/--tls-key`: HTTPS with TLS 1.2 at the least (R21), HSTS, and a clean stop."""

import datetime as dt
import socket
import ssl
import subprocess
import sys
import time

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.cli import free_port


def _self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    return tmp_path / "cert.pem", tmp_path / "key.pem"


def test_r21_serve_over_tls_12_or_better(tmp_path, run_kura):
    home = tmp_path / "h"
    pw = tmp_path / "pw"
    pw.write_text("Strong-pass-2026\n")
    assert run_kura("init", "--admin", "director", "--password-file", str(pw), home=home)[0] == 0
    cert, key = _self_signed(tmp_path)
    port = free_port()
    log = open(tmp_path / "serve.log", "w")  # closed with the process, below
    proc = subprocess.Popen([sys.executable, "-m", "kura", "--home", str(home), "serve", "--http", f"127.0.0.1:{port}",
                             "--dicom", f"127.0.0.1:{free_port()}", "--tls-cert", str(cert), "--tls-key", str(key)],
                            stdout=subprocess.DEVNULL, stderr=log, text=True)  # a file: logs never fill a pipe
    try:
        url = f"https://127.0.0.1:{port}"
        deadline = time.monotonic() + 60  # start-up under a loaded CI machine can take a while
        while True:
            try:
                r = httpx.get(url + "/healthz", verify=str(cert), timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise AssertionError((tmp_path / "serve.log").read_text()[-2000:] or "server did not answer") from None
                time.sleep(0.2)
        assert r.status_code == 200 and "max-age" in r.headers["strict-transport-security"]
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client offer TLS 1.1; the server must refuse it
        with socket.create_connection(("127.0.0.1", port)) as raw:
            try:
                with old.wrap_socket(raw) as tls:
                    refused = tls.version() in (None,)
            except (ssl.SSLError, OSError):
                refused = True
        assert refused, "TLS 1.1 was accepted"
        modern = ssl.create_default_context(cafile=str(cert))
        with socket.create_connection(("127.0.0.1", port)) as raw, modern.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def test_tls_options_go_together(tmp_path, run_kura):
    home = tmp_path / "h"
    pw = tmp_path / "pw"
    pw.write_text("Strong-pass-2026\n")
    run_kura("init", "--admin", "director", "--password-file", str(pw), home=home)
    code, _, err = run_kura("serve", "--tls-cert", str(tmp_path / "nope.pem"), home=home)
    assert code == 2 and "go together" in err
