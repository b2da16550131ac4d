"""/api/session: sign in (password + TOTP), sign out, change password (README, HTTP)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from kura.errors import Denied, Locked, Unauthenticated
from kura.identity import service as identity
from kura.web.deps import SESSION_COOKIE, AuthPendingDep, PublicDep, channel_of, kura_of, origin_of, work

__all__ = ["router", "sign_in", "set_session_cookie"]

router = APIRouter(prefix="/api/session", tags=["session"])


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(max_length=200)
    password: str = Field(max_length=1024)
    otp: str = Field(max_length=16)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    old: str = Field(max_length=1024)
    new: str = Field(max_length=1024)


class SessionOut(BaseModel):
    token: str
    expires_at: dt.datetime
    must_change_password: bool


def sign_in(request: Request, username: str, password: str, otp: str) -> identity.LoginResult:
    """Authenticate; failures are committed to the ledger first, then raised."""
    kura = kura_of(request)
    with kura.unit_of_work(None, "", origin=origin_of(request), request_id=request.state.request_id,
                           channel=channel_of(request)) as ctx:
        result = identity.authenticate(ctx, username=username, password=password, otp=otp)
    if result.outcome is identity.LoginOutcome.locked:
        # Only with the right password and code (R7); say whom to call.
        contact = kura.settings.support_contact or "the system administrator"
        raise Locked(f"account locked after too many failed logins; wait {kura.settings.lockout_minutes} "
                     f"minutes or call {contact} to have it unlocked")
    if result.outcome is identity.LoginOutcome.refused:
        raise Denied(result.reason)  # both factors right: the user learns why (training overdue)
    if result.reused_code:
        raise CodeReused("invalid credentials")  # the API answers it as any failure (R7)
    if result.outcome is not identity.LoginOutcome.ok:
        raise Unauthenticated("invalid credentials")
    return result


class CodeReused(Unauthenticated):
    """Both factors right, but the code was used already: the login screen says so."""


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")


@router.post("", status_code=201, response_model=SessionOut)
def create_session(body: Credentials, request: Request, response: Response, _: PublicDep):
    result = sign_in(request, body.username, body.password, body.otp)
    set_session_cookie(request, response, result.token)
    return SessionOut(token=result.token, expires_at=result.expires_at,
                      must_change_password=result.must_change_password)


@router.get("")
def current_session(auth: AuthPendingDep):
    return {"username": auth.username, "display_name": auth.display_name,
            "roles": sorted(auth.subject.roles), "clearance": auth.subject.clearance,
            "must_change_password": auth.must_change_password,
            "idle_expires_at": auth.idle_expires_at.isoformat()}


@router.delete("", status_code=204)
def delete_session(request: Request, auth: AuthPendingDep):
    with work(request, auth, "HOPERAT") as ctx:
        identity.end_session(ctx, auth.token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/password", status_code=204)
def change_password(body: PasswordChange, request: Request, auth: AuthPendingDep):
    with work(request, auth, "HOPERAT") as ctx:
        user = identity.get_user(ctx, auth.username)
        identity.change_password(ctx, user=user, old=body.old, new=body.new, session_id=auth.session_id)
    return Response(status_code=204)
