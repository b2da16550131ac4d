"""The resources kura writes itself: Practitioner (one per user) and Provenance. Pure.

Provenance (FHIR R4 §6.3; R42): target = the exact version (`Type/id/_history/n`),
recorded = the time, activity = what was done, reason = why (corrections), agent = who.
Agent types follow provenance-participant-type: `author` for whoever wrote the version,
`enterer` for the 入力者 of a proxy entry (代行入力) with `onBehalfOf` the 確定者, and
`attester` for the user who confirmed (確定, MHLW guideline §6 confirmation operation).
"""

from __future__ import annotations

from typing import Any

__all__ = ["practitioner", "provenance", "agent_ref", "ACTIVITY", "PARTICIPANT"]

PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
KURA_ACTIVITY = "urn:kura:activity"
USER_SYSTEM = "urn:kura:user"

ACTIVITY = {
    "create": {"system": DATA_OPERATION, "code": "CREATE", "display": "create"},
    "update": {"system": DATA_OPERATION, "code": "UPDATE", "display": "revise"},
    "confirm": {"system": KURA_ACTIVITY, "code": "confirm", "display": "確定 (confirm)"},
}


def practitioner(*, user_id: str, username: str, display_name: str, active: bool = True) -> dict[str, Any]:
    return {"resourceType": "Practitioner", "id": user_id, "active": active,
            "identifier": [{"system": USER_SYSTEM, "value": username}],
            "name": [{"text": display_name or username}]}


def agent_ref(user_id: str | None, name: str) -> dict[str, Any]:
    return {"reference": f"Practitioner/{user_id}", "display": name} if user_id else {"display": name}


def _agent(code: str, who: dict[str, Any], on_behalf_of: dict[str, Any] | None = None) -> dict[str, Any]:
    agent = {"type": {"coding": [{"system": PARTICIPANT, "code": code}]}, "who": who}
    if on_behalf_of:
        agent["onBehalfOf"] = on_behalf_of
    return agent


def provenance(*, id: str, target: str, predecessor: str | None, recorded: str, activity: str,
               reason: str, author: dict[str, Any], enterer: dict[str, Any] | None = None, on_behalf_of: dict[str, Any] | None = None,
               attester: dict[str, Any] | None = None, origin: str = "") -> dict[str, Any]:
    """One Provenance for one create, update or confirm of version `target`."""
    agents = []
    if activity == "confirm":
        agents.append(_agent("attester", attester or author))
        if enterer:
            agents.append(_agent("enterer", enterer, on_behalf_of))
    elif on_behalf_of:
        # 代行入力 (R31): the enterer types it in on behalf of the 確定者, who must confirm.
        agents.append(_agent("enterer", enterer or author, on_behalf_of))
    else:
        agents.append(_agent("author", author))
    res = {"resourceType": "Provenance", "id": id, "target": [{"reference": target}],
           "recorded": recorded, "activity": {"coding": [ACTIVITY[activity]]}, "agent": agents}
    if reason:
        res["reason"] = [{"text": reason}]
    if predecessor:
        res["entity"] = [{"role": "revision", "what": {"reference": predecessor}}]
    if origin:
        res["location"] = {"display": origin}
    return res
