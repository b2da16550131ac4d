"""The signed-in user's own account: password change (forced at first login, R6) and
re-enrolment of the TOTP second factor with a QR code."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request

from kura.errors import Invalid, Unauthenticated
from kura.identity import service as identity
from kura.identity import totp
from kura.web.deps import AuthPendingDep, work
from kura.web.ui.render import PageDep, qr_data_uri, redirect, render

__all__ = ["router"]

router = APIRouter(prefix="/account", include_in_schema=False)

DONE = {"password": "Your password has been changed.",
        "totp": "Your second factor has been re-enrolled. Use the new code from now on."}


@router.get("")
def account(request: Request, auth: PageDep, done: str = ""):
    return render(request, "account/index.html", {"done": DONE.get(done)})


def _password_page(request: Request, auth, error: str | None = None, status: int = 200):
    return render(request, "account/password.html",
                  {"forced": auth.must_change_password, "error": error,
                   "min_length": request.app.state.kura.settings.password_min_length}, status=status)


@router.get("/password")
def password_form(request: Request, auth: AuthPendingDep):
    return _password_page(request, auth)


@router.post("/password")
def change_password(request: Request, auth: AuthPendingDep,
                    old: Annotated[str, Form(max_length=1024)] = "",
                    new: Annotated[str, Form(max_length=1024)] = "",
                    confirm: Annotated[str, Form(max_length=1024)] = ""):
    if new != confirm:
        return _password_page(request, auth, "The two new passwords differ.", 400)
    try:
        with work(request, auth, "HOPERAT") as ctx:
            user = identity.get_user(ctx, auth.username)
            identity.change_password(ctx, user=user, old=old, new=new, session_id=auth.session_id)
    except Unauthenticated:
        return _password_page(request, auth, "The current password is wrong.", 400)
    except Invalid as exc:
        return _password_page(request, auth, str(exc), 400)
    return redirect("/account?done=password")


def _totp_page(request: Request, auth, secret: str, error: str | None = None, status: int = 200):
    uri = totp.provisioning_uri(secret, username=auth.username)
    return render(request, "account/totp.html",
                  {"secret": secret, "uri": uri, "qr": qr_data_uri(uri), "error": error}, status=status)


@router.post("/totp")
def start_totp(request: Request, auth: PageDep):
    """A new secret, not yet in force: it replaces the old one only when a code from it is shown."""
    with work(request, auth, "HOPERAT") as ctx:
        secret = identity.reenrol_totp(ctx, user=identity.get_user(ctx, auth.username))
    return _totp_page(request, auth, secret)


@router.post("/totp/confirm")
def confirm_totp(request: Request, auth: PageDep,
                 secret: Annotated[str, Form(max_length=64)] = "",
                 code: Annotated[str, Form(max_length=16)] = ""):
    if not secret.isalnum():
        return redirect("/account")
    try:
        with work(request, auth, "HOPERAT") as ctx:
            identity.confirm_totp(ctx, user=identity.get_user(ctx, auth.username), secret=secret,
                                  code=code.replace(" ", ""))
    except Invalid as exc:
        return _totp_page(request, auth, secret, str(exc), 400)
    return redirect("/account?done=totp")
