"""`kura serve` on a port already taken says which port, and which option changes it,
in one line on stderr with exit 1 — not an unexpected OSError (issue 12)."""

import socket

from tests.support.cli import free_port


def test_busy_port_is_named_with_its_option(run_kura, tmp_path):
    home = tmp_path / "home"
    pw = tmp_path / "pw"
    pw.write_text("correct-horse-battery\n")
    assert run_kura("init", "--admin", "director", "--password-file", str(pw), home=home)[0] == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run_kura("serve", "--http", f"127.0.0.1:{port}", "--dicom", f"127.0.0.1:{free_port()}", home=home)
        assert code == 1
        assert f"port {port}" in err and "--http" in err and "unexpected" not in err
        assert len(err.strip().splitlines()) == 1
        code, _, err = run_kura("serve", "--http", f"127.0.0.1:{free_port()}", "--dicom", f"127.0.0.1:{port}", home=home)
        assert code == 1 and f"port {port}" in err and "--dicom" in err
