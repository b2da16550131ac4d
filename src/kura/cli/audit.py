"""`kura audit verify|export|checkpoint`, and the review reports: `kura audit report|reports|report-pdf|verify-report`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Optional

import typer

from kura.cli import State, _, app, fail, language
from kura.access.console import console_operator

audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident ledger: verify, export, checkpoint; review reports.")
app.add_typer(audit_app, name="audit")


@audit_app.command()
def verify(deep: Annotated[bool, typer.Option("--deep", help="Also re-hash every stored version and object.")] = False,
           checkpoint: Annotated[Optional[Path], typer.Option(
               "--checkpoint", metavar="FILE",
               help="A line printed earlier by `kura audit checkpoint` and kept off this machine "
                    "(the last such line in FILE is used). The ledger must still hold that tree: "
                    "this also catches entries cut off after the last checkpoint in the database, "
                    "and checkpoints deleted from it.")] = None) -> None:
    """Exit 0 when the ledger is intact; exit 1 naming the first broken entry.

    Checks every entry's hash, the hash chain, the head, and every signed checkpoint's root and signature. Keep `kura audit checkpoint` output somewhere else (paper, another machine, mail) and pass it with --checkpoint, so that cutting off the newest entries together with their checkpoints is caught too.
    """
    from rich.progress import Progress

    from kura.audit import service as audit
    from kura.ledger.service import Anchor

    anchor = None
    if checkpoint is not None:
        try:
            lines = [ln for ln in checkpoint.read_text(encoding="utf-8").splitlines() if ln.strip()]
            anchor = Anchor.parse(lines[-1] if lines else "")
        except OSError as exc:
            fail("cannot read %(path)s: %(reason)s", code=2, path=checkpoint, reason=exc.strerror)
        except ValueError as exc:
            fail("%(path)s: %(problem)s", code=2, path=checkpoint, problem=exc)
    kura = State.kura()
    result, problems = None, []
    try:
        with Progress(transient=True) as bar, kura.unit_of_work(console_operator(), "HOPERAT") as ctx:
            task = bar.add_task(_("verifying"), total=None)
            result = audit.verify(ctx, progress=lambda n: bar.update(task, completed=n), anchor=anchor)
            if deep and result.ok:
                from kura.preservation.deep import deep_check  # registered by each store
                problems = deep_check(ctx)
    except Exception:
        if result is None or result.ok:
            raise
        # the broken ledger would not take the entry recording this verdict; the verdict stands
    if not result.ok:
        fail(result.line(_))
    if problems:
        fail("%(n)s stored object(s) differ from the ledger; first: %(first)s", n=len(problems), first=problems[0])
    typer.echo(result.line(_) + (" " + _("(deep: every stored version and object matches)") if deep else ""))


@audit_app.command()
def checkpoint() -> None:
    """Sign and print the latest checkpoint (tree size, root hash, signature).

    Keep the line off this machine; `kura audit verify --checkpoint FILE` checks against it.
    """
    from kura.audit import service as audit
    from kura.ledger.service import Anchor

    kura = State.kura()
    with kura.unit_of_work(console_operator(), "HOPERAT") as ctx:
        line = Anchor.of(audit.checkpoint(ctx)).line()
    typer.echo(line)


def _time(value: Optional[str]) -> Optional[dt.datetime]:
    if not value:
        return None
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        fail("not an ISO 8601 time: %(value)r", code=2, value=value)
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


@audit_app.command()
def export(fmt: Annotated[str, typer.Option("--format", help="fhir, csv or syslog")],
           since: Annotated[Optional[str], typer.Option("--since", help="ISO 8601 time (UTC if no zone).")] = None,
           until: Annotated[Optional[str], typer.Option("--until")] = None) -> None:
    """Audit entries to stdout: a FHIR AuditEvent Bundle, CSV, or RFC 5424 syslog (DICOM PS3.15 A.5)."""
    from kura.audit.export import export_entries

    if fmt not in ("fhir", "csv", "syslog"):
        fail("--format must be fhir, csv or syslog", code=2)
    kura = State.kura()
    with kura.unit_of_work(console_operator(), "HOPERAT") as ctx:
        for chunk in export_entries(ctx, fmt=fmt, since=_time(since), until=_time(until)):
            typer.echo(chunk, nl=False)


def _day(value: Optional[str], default):
    if not value:
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail("not a date (YYYY-MM-DD): %(value)r", code=2, value=value)


@audit_app.command()
def report(since: Annotated[Optional[str], typer.Option("--since", help="First day (JST), YYYY-MM-DD; default yesterday.")] = None,
           until: Annotated[Optional[str], typer.Option("--until", help="Last day (JST), inclusive; default --since.")] = None) -> None:
    """Make an audit review report (R27) of whole days now, and print its findings.

    The audit manager signs it off on the screen (監査レビュー報告); the console is no named person.
    """
    from kura.reviews import findings, reports

    kura = State.kura()
    today = kura.clock.now().astimezone(reports.JST).date()
    first = _day(since, today - dt.timedelta(days=1))
    last = _day(until, first)
    start = dt.datetime.combine(first, dt.time(), tzinfo=reports.JST)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=reports.JST)
    with kura.unit_of_work(console_operator(), "HSYSADMIN") as ctx:
        row = reports.generate(ctx, start=start, end=end)
        found, report_id = reports.findings_of(row), row.id
    typer.echo(_("review report %(id)s: %(first)s – %(last)s (JST), %(n)s finding(s)", id=report_id, first=first,
                 last=last, n=len(found)))
    for f in found:
        typer.echo(f"{findings.KIND_NAMES[f['kind']][0 if language() == 'ja' else 1]}\t{f['subject']}\t"
                   f"{_('%(n)s entries', n=f['count'])}\t{_('%(n)s patients', n=f['patient_count'])}\t"
                   f"{reports.local(f['first'])} – {reports.local(f['last'])}")


@audit_app.command()
def reports() -> None:
    """The review reports: id, period, kind, findings, signed off by whom."""
    from kura.reviews import reports as service

    with State.kura().unit_of_work(console_operator(), "HSYSADMIN") as ctx:
        lines = [f"{r.id}\t{service.local(r.period_start)} – {service.local(r.period_end)}\t{r.kind}\t"
                 f"{len(service.findings_of(r))}\t{r.signed_by_name or _('not signed off')}"
                 for r in service.list_reports(ctx)]
    for line in lines:
        typer.echo(line)


@audit_app.command("report-pdf")
def report_pdf(report_id: str, out: Annotated[Path, typer.Option("--out", help="The PDF to write; its signature goes to OUT.sig.")]) -> None:
    """Write a signed-off review report's PDF and signature line (for `audit verify-report`)."""
    from kura.reviews import reports as service

    if out.exists():
        fail("%(path)s exists; not overwritten", code=2, path=out)
    with State.kura().unit_of_work(console_operator(), "HSYSADMIN") as ctx:
        pdf, sig = service.document(ctx, report_id)
    out.write_bytes(pdf)
    out.with_name(out.name + ".sig").write_text(sig.line() + "\n", encoding="utf-8")
    typer.echo(f"{out}: SHA-256 {sig.sha256}")


@audit_app.command("verify-report")
def verify_report(pdf: Path, signature: Path) -> None:
    """Exit 0 when PDF is a review report or rights review this home signed (SIGNATURE: its .sig line), else 1."""
    from kura.ledger.signing import DocumentSignature, verify_document
    from kura.reviews import reports, rights

    try:
        data, line = pdf.read_bytes(), signature.read_text(encoding="utf-8")
    except OSError as exc:
        fail("cannot read %(path)s: %(reason)s", code=2, path=exc.filename, reason=exc.strerror)
    try:
        sig = DocumentSignature.parse(line, (reports.KIND, rights.KIND))
    except ValueError as exc:
        fail(str(exc), code=2)
    signer = State.kura().signer
    problems = verify_document(signer.public_key, signer.key_id, data, sig)
    if problems:
        fail("%(path)s: %(problem)s", path=pdf, problem="; ".join(_(p) for p in problems))
    typer.echo(_("%(path)s: %(kind)s signed by this home (key %(key)s), SHA-256 %(sha256)s", path=pdf,
                 kind=sig.kind.split()[0], key=sig.key_id, sha256=sig.sha256))
