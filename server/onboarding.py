"""Bulk onboarding: `traybell admin import-users FILE.csv` (contract, "Bulk onboarding").

One CSV line per person, header `user_id,email,display_name,teams,admin`. What is missing is
created (the user, the `local` teams named, the memberships); what exists is left as it is, so
a second run of the same file changes nothing. A line that cannot be taken is refused with its
reason and refuses nothing else. New users get their sign-up link by email when SMTP is set,
as `traybell admin invite` sends one (email_invites)."""

import contextlib
import csv
import io
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any, NamedTuple

from pydantic import ValidationError

from server.accounts import Accounts
from server.api.schemas import CreateTeamRequest, CreateUserRequest
from server.audiences import Audiences
from server.audit import Actor
from server.channels.email import EmailTransport
from server.channels.message import Envelope, Message, PermanentError, TransientError
from server.config import Settings
from server.errors import Conflict, NotFound
from server.service import Service
from shared.i18n import gettext, use_language

HEADER = ("user_id", "email", "display_name", "teams", "admin")
_ADMIN = {"true": True, "false": False, "": False}


class BadFile(ValueError):
    """The file as a whole cannot be read as the import's CSV (its header, its encoding)."""


class Invite(NamedTuple):
    """A sign-up link made for a user, and where it may be emailed."""

    user_id: str
    email: str | None
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class Person:
    line: int
    user: CreateUserRequest
    teams: tuple[str, ...]


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)
    #: The invite of each user created.
    invites: list[Invite] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The command's one JSON line."""
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "refused": self.refused,
        }


def read_people(text: str, result: ImportResult) -> list[Person]:
    """The file's lines as people; lines that are not valid go to `result.refused`."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))  # Excel's UTF-8 mark
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != HEADER:
        raise BadFile(f"the first line must be the header {','.join(HEADER)}")
    people: list[Person] = []
    seen: set[str] = set()
    for fields in reader:
        line = reader.line_num
        if not any(f.strip() for f in fields):
            continue  # a blank line, as spreadsheets leave at the end
        try:
            person = _person(line, fields)
        except ValueError as exc:
            result.refused.append({"line": line, "reason": str(exc)})
            continue
        if person.user.user_id in seen:
            result.refused.append({"line": line, "reason": "the user id is on an earlier line"})
            continue
        seen.add(person.user.user_id)
        people.append(person)
    return people


def _person(line: int, fields: list[str]) -> Person:
    if len(fields) != len(HEADER):
        raise ValueError(f"{len(fields)} fields where the header has {len(HEADER)}")
    user_id, email, display_name, teams, admin = (f.strip() for f in fields)
    if admin.lower() not in _ADMIN:
        raise ValueError(f"admin must be true or false, not {admin!r}")
    team_ids = tuple(dict.fromkeys(t.strip() for t in teams.split(";") if t.strip()))
    try:
        user = CreateUserRequest(
            user_id=user_id,
            email=email or None,
            display_name=display_name or None,
            admin=_ADMIN[admin.lower()],
        )
        for team_id in team_ids:
            CreateTeamRequest(team_id=team_id)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ValueError(f"{'.'.join(map(str, error['loc']))}: {error['msg']}") from None
    return Person(line, user, team_ids)


@dataclass(frozen=True)
class Plan:
    """What importing one person does: `outcome` is created, updated (joins teams), unchanged
    or refused (with `reason`); `new_teams` are the `local` teams to create for the joins."""

    person: Person
    outcome: str
    joins: tuple[str, ...] = ()
    new_teams: tuple[str, ...] = ()
    reason: str | None = None


async def plan_people(
    people: list[Person], *, service: Service, audiences: Audiences
) -> list[Plan]:
    """What an import of `people` would do now, reading only (the console's preview)."""
    return [await _plan(person, service, audiences) for person in people]


async def _plan(person: Person, service: Service, audiences: Audiences) -> Plan:
    user_id = person.user.user_id
    teams = {team_id: await _existing_team(audiences, team_id) for team_id in person.teams}
    managed = [t for t, team in teams.items() if team and team["managed_by"] != "local"]
    if managed:
        return Plan(
            person, "refused", reason=f"team {managed[0]!r} is managed by the company sign-in"
        )
    joins = tuple(
        t for t, team in teams.items() if team is None or user_id not in team["member_ids"]
    )
    new_teams = tuple(t for t, team in teams.items() if team is None)
    try:
        await service.user(user_id)
    except NotFound:
        return Plan(person, "created", joins, new_teams)
    return Plan(person, "updated" if joins else "unchanged", joins, new_teams)


async def import_people(
    people: list[Person],
    result: ImportResult,
    *,
    service: Service,
    accounts: Accounts,
    audiences: Audiences,
    actor: Actor,
) -> None:
    """Creates what is missing of each person, counting them into `result`. Each line is
    planned against the state at its turn, so what changed since a preview is taken into
    account."""
    for person in people:
        plan = await _plan(person, service, audiences)
        try:
            await _apply(plan, result, service, accounts, audiences, actor)
        except (Conflict, NotFound) as exc:  # changed under the import (a team made oidc, say)
            result.refused.append({"line": person.line, "reason": str(exc)})


async def _apply(
    plan: Plan,
    result: ImportResult,
    service: Service,
    accounts: Accounts,
    audiences: Audiences,
    actor: Actor,
) -> None:
    user = plan.person.user
    if plan.outcome == "refused":
        result.refused.append({"line": plan.person.line, "reason": plan.reason})
        return
    created = False
    if plan.outcome == "created":
        with contextlib.suppress(Conflict):  # made meanwhile: then it is not ours to invite
            await service.create_user(
                user.user_id,
                email=user.email,
                display_name=user.display_name,
                is_admin=user.admin,
                actor=actor,
                with_token=False,
            )
            created = True
    for team_id in plan.joins:
        if team_id in plan.new_teams:
            with contextlib.suppress(Conflict):  # made meanwhile (by an earlier line, say)
                await audiences.create_team(team_id, None, actor)
        await audiences.change_member(team_id, user.user_id, True, actor)
    if created:
        result.created += 1
        url, expires_at = await accounts.create_invite(user.user_id, actor)
        result.invites.append(Invite(user.user_id, user.email, url, expires_at))
    elif plan.joins:
        result.updated += 1
    else:
        result.unchanged += 1


async def _existing_team(audiences: Audiences, team_id: str) -> dict[str, Any] | None:
    try:
        return await audiences.team(team_id)
    except NotFound:
        return None


def invite_message(user_id: str, url: str, expires_at: datetime) -> Message:
    """The invite's email: the sign-up link, its expiry, and nothing else about the account."""
    until = f"{expires_at:%Y-%m-%d %H:%M %Z}"
    account = gettext("You have a Traybell account (%(user_id)s).", user_id=user_id)
    once = gettext("The link works once. If you did not expect this email, you can ignore it.")
    choose_here = gettext("Choose your password here, before %(until)s:", until=until)
    text = f"{account}\n\n{choose_here}\n{url}\n\n{once}\n"
    choose = gettext("Choose your password")
    link = f'<a href="{escape(url)}">{escape(choose)}</a>'
    before = gettext("%(link)s before %(until)s.", link=link, until=escape(until))
    html = f"<p>{escape(account)}</p><p>{before}</p><p>{escape(once)}</p>"
    return Message(
        subject=gettext("Your Traybell account: choose a password"),
        text=text,
        html=html,
        severity="info",
    )


async def email_invites(invites: list[Invite], settings: Settings) -> list[tuple[Invite, str]]:
    """Emails each invite whose user has an address, when SMTP is set; returns the invites not
    emailed and why, whose links the command shows instead."""
    if not settings.smtp_url:
        return [(invite, "no SMTP set") for invite in invites]
    not_sent: list[tuple[Invite, str]] = []
    transport = EmailTransport(settings.smtp_url, settings.smtp_from)
    try:
        for invite in invites:
            if invite.email is None:
                not_sent.append((invite, "no email address"))
                continue
            # A new account has no language of its own yet: the server's default.
            with use_language(settings.default_language):
                message = invite_message(invite.user_id, invite.url, invite.expires_at)
            try:
                await transport.send(Envelope(str(uuid.uuid4()), (invite.email,), message))
            except (TransientError, PermanentError) as exc:  # the others still go
                not_sent.append((invite, f"email not sent: {exc}"))
    finally:
        await transport.close()
    return not_sent
