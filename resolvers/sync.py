"""Follower and template sync: Zalo's lists and details, upserted idempotently (SPEC §6).

Followers: ``user/getlist`` pages of 50 ids, ``user/detail`` for each with bounded
concurrency (every call goes through the client's rate limiter), then one transaction per
page upserts the rows by (``ZaloOa``, ``Zalo``) through the generic create and advances the
job's cursor. Only rows whose values changed are written, so a second run reports
``updated = 0``. The next page is fetched, and the previous one committed, while details
are being read, so the rate limit and not the round trips sets the pace.

What a sync owns on a follower: ``Name`` (display name), ``Avatar`` (Zalo's avatar) and
``AvatarUrl`` (the 240 px one), ``IsFollower``, ``LastInteraction``, ``Group`` (Zalo tags,
comma-separated: the OA's grouping of its followers), and, only when Zalo has them, ``Note``
(Zalo notes) and the shared info (``Phone``, ``Address``, ``District``, ``Province``): a
field Zalo leaves empty keeps what the CRM wrote. ``LastInteraction`` only moves forward:
Zalo gives a calendar day (Vietnam time), stored as its start, and a later moment already
known (from a webhook) is kept.

Templates: ``template/all`` pages of 100, ``template/info/v2`` for each, upserted by
(``ZaloOa``, ``TemplateId``) with ``Params``, ``Status``, ``Quality``, ``Tag``, ``Price``,
``PreviewUrl``; ``Synced`` records when each was last seen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from resolvers import _crud, follower, jobs, official_account
from resolvers.caller import SYSTEM
from resolvers.errors import BadInput, DomainError, UpstreamZalo
from resolvers.message import ZALO_ZONE
from resolvers.oa_token import Account, TokenKeeper
from resolvers.resources import FOLLOWERS, OFFICIAL_ACCOUNTS, TEMPLATES
from resolvers.sender import backoff
from zalo.client import ZaloClient
from zalo.errors import ZaloError
from zalo.types import FollowerPage, TemplateDetail, TemplatePage, UserDetail

SYNC_FOLLOWERS, SYNC_TEMPLATES = "sync_followers", "sync_templates"
KINDS = (SYNC_FOLLOWERS, SYNC_TEMPLATES)
FOLLOWER_PAGE = 50  # Zalo's maximum
TEMPLATE_PAGE = 100  # Zalo's maximum
TRIES = 5  # per Zalo call, for transient failures, before the job fails
FOLLOWER_FIELDS = (
    "name",
    "avatar",
    "avatar_url",
    "is_follower",
    "last_interaction",
    "group",
    "note",
    "phone",
    "address",
    "district",
    "province",
)
TEMPLATE_FIELDS = ("name", "status", "quality", "tag", "params", "preview_url", "price")
T = TypeVar("T")


async def start(session: AsyncSession, kind: str, oa_code: str | None) -> Any:
    """The job that syncs ``kind`` for the OA (the default one when omitted), queued."""
    code = oa_code or await official_account.default_code(session)
    if code is None:
        raise BadInput("no default official account: give oa", "oa")
    account = (await _crud.fetch_by_keys(session, OFFICIAL_ACCOUNTS, "code", [code])).get(code)
    if account is None:
        raise BadInput(f"no official account {code!r}", "oa")
    if account.is_enabled is False:
        raise BadInput(f"official account {code} is disabled", "oa")
    if not account.status:
        raise BadInput(f"official account {code} is not authorized yet", "oa")
    return await jobs.create(session, kind, code)


class Syncs:
    """The two job bodies, over one Zalo client and token keeper."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        zalo: ZaloClient,
        tokens: TokenKeeper,
        *,
        concurrency: int,
        retry_base_seconds: float,
    ) -> None:
        self.sessions = sessions
        self.zalo = zalo
        self.tokens = tokens
        self.concurrency = concurrency
        self.retry_base = retry_base_seconds

    @property
    def bodies(self) -> dict[str, jobs.Body]:
        return {SYNC_FOLLOWERS: self.followers, SYNC_TEMPLATES: self.templates}

    async def _call(self, oa: str, work: Callable[[Account], Awaitable[T]]) -> T:
        """A Zalo call of a sync, retried with backoff while Zalo says it is transient."""
        for attempt in range(1, TRIES + 1):
            try:
                return await self.tokens.call(oa, work)
            except (ZaloError, UpstreamZalo) as exc:
                if attempt == TRIES or not (isinstance(exc, UpstreamZalo) or exc.transient):
                    raise
            await asyncio.sleep(backoff(self.retry_base, attempt))
        raise AssertionError("unreachable")

    async def _each(self, items: list[Any], fetch: Callable[[Any], Awaitable[T]]) -> list[T | None]:
        """``fetch`` every item, ``concurrency`` at a time; None where Zalo refused one."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(item: Any) -> T | None:
            async with gate:
                try:
                    return await fetch(item)
                except ZaloError as exc:
                    if exc.transient:
                        raise
                    return None  # e.g. -201: the user left between the list and the detail

        try:
            async with asyncio.TaskGroup() as group:  # one failure cancels the rest
                tasks = [group.create_task(one(item)) for item in items]
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return [task.result() for task in tasks]

    # ------------------------------------------------------------ followers

    async def followers(self, step: jobs.Step) -> None:
        oa = step.job.oa_code
        offset = int((step.cursor or {}).get("offset", 0))

        def page_at(start: int) -> asyncio.Task[FollowerPage]:
            return asyncio.create_task(
                self._call(
                    oa,
                    lambda a: self.zalo.list_followers(
                        a.access_token or "",
                        start,
                        FOLLOWER_PAGE,
                        app_id=a.app_id,
                        api_url=a.api_url,
                    ),
                )
            )

        def detail(user_id: str) -> Awaitable[UserDetail]:
            return self._call(
                oa,
                lambda a: self.zalo.user_detail(
                    a.access_token or "", user_id, app_id=a.app_id, api_url=a.api_url
                ),
            )

        upcoming: asyncio.Task[FollowerPage] | None = page_at(offset)
        committing: asyncio.Task[None] | None = None
        try:
            while upcoming is not None:
                page = await upcoming
                ids = page.user_ids
                end = offset + len(ids)
                upcoming = page_at(end) if ids and end < page.total else None
                details = await self._each(ids, detail)
                if committing is not None:
                    await committing
                committing = asyncio.create_task(
                    self._commit_followers(step, oa, ids, details, end, page.total)
                )
                offset = end
            if committing is not None:
                await committing
            elif step.job.total is None:  # an OA without followers
                async with self.sessions() as session:
                    await step.commit(session, cursor={"offset": offset}, total=0, done=0)
        finally:
            for task in (upcoming, committing):
                if task is not None and not task.done():
                    task.cancel()

    async def _commit_followers(
        self,
        step: jobs.Step,
        oa: str,
        ids: list[str],
        details: list[UserDetail | None],
        end: int,
        total: int,
    ) -> None:
        got = [d for d in details if d is not None]
        async with self.sessions() as session:
            table = FOLLOWERS.table
            rows = await session.execute(
                sa.select(table).where(
                    table.c.zalo_oa == oa, table.c.zalo.in_([d.user_id for d in got])
                )
            )
            stored = {row.zalo: row for row in rows.all()}
            items, created, updated = [], 0, 0
            for detail in got:
                current = stored.get(detail.user_id)
                values = follower_values(detail, current)
                if current is None:
                    created += 1
                    items.append({"zalo_oa": oa, "zalo": detail.user_id, **values})
                    continue
                if any(getattr(current, k) != v for k, v in values.items()):
                    updated += 1
                    # The whole item, so the create defaults never stand in for a value.
                    values.setdefault("is_follower", current.is_follower)
                    items.append({"zalo_oa": oa, "zalo": detail.user_id, **values})
            if items:
                result = await _crud.create_many(
                    session,
                    FOLLOWERS,
                    items,
                    SYSTEM,
                    on_conflict=_crud.OnConflict("ZALO_OA_ZALO", FOLLOWER_FIELDS),
                    prepare=follower.prepare_create,
                )
                if not result.ok:
                    raise DomainError(f"follower upsert refused: {result.problems[0].message}")
            await step.commit(
                session,
                cursor={"offset": end},
                total=total,
                done=len(ids),
                created=created,
                updated=updated,
                failed=len(ids) - len(got),
            )

    # ------------------------------------------------------------ templates

    async def templates(self, step: jobs.Step) -> None:
        oa = step.job.oa_code
        offset = int((step.cursor or {}).get("offset", 0))

        def listing(start: int) -> Awaitable[TemplatePage]:
            return self._call(
                oa,
                lambda a: self.zalo.zns_templates(
                    a.access_token or "", start, TEMPLATE_PAGE, app_id=a.app_id
                ),
            )

        def info(template_id: str) -> Awaitable[TemplateDetail]:
            return self._call(
                oa,
                lambda a: self.zalo.zns_template_info(
                    a.access_token or "", template_id, app_id=a.app_id
                ),
            )

        while True:
            page = await listing(offset)
            ids = [t.template_id for t in page.templates]
            details = await self._each(ids, info)
            offset += len(ids)
            async with self.sessions() as session:
                created, updated = await _upsert_templates(session, oa, details)
                await step.commit(
                    session,
                    cursor={"offset": offset},
                    total=page.total,
                    done=len(ids),
                    created=created,
                    updated=updated,
                    failed=sum(d is None for d in details),
                )
            if not ids or offset >= page.total:
                return


def _vietnam_day(text: str | None) -> datetime | None:
    """Zalo's ``DD/MM/YYYY`` (a day in Vietnam) as the UTC moment it began."""
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%d/%m/%Y")
    except ValueError:
        return None
    return day.replace(tzinfo=ZALO_ZONE).astimezone(UTC)


def follower_values(detail: UserDetail, current: Any) -> dict[str, Any]:
    """The Follower columns a sync writes from one ``user/detail`` (see the module doc)."""
    values: dict[str, Any] = {
        "name": detail.display_name or detail.user_alias or None,
        "avatar": detail.avatar or None,
        "avatar_url": detail.avatars.get("240") or detail.avatar or None,
        "group": ", ".join(detail.tags_and_notes_info.tag_names) or None,
    }
    if detail.user_is_follower is not None:
        values["is_follower"] = 1 if detail.user_is_follower else 0
    day = _vietnam_day(detail.user_last_interaction_date)
    known = getattr(current, "last_interaction", None)
    if day is not None and (known is None or known < day):
        values["last_interaction"] = day
    notes = [n for n in detail.tags_and_notes_info.notes if n]
    if notes:
        values["note"] = "\n".join(notes)
    shared = detail.shared_info
    if shared is not None:
        for column, value in (
            ("phone", shared.phone),
            ("address", shared.address),
            ("district", shared.district),
            ("province", shared.city),
        ):
            if value:
                values[column] = value
    return values


def template_values(detail: TemplateDetail) -> dict[str, Any]:
    params = [
        {
            "name": p.name,
            "type": p.type,
            "required": p.require,
            "maxLength": p.max_length,
            "minLength": p.min_length,
            "acceptNull": p.accept_null,
        }
        for p in detail.params
    ]
    return {
        "name": detail.template_name or None,
        "status": detail.status or None,
        "quality": detail.template_quality,
        "tag": detail.template_tag,
        "params": params,
        "preview_url": detail.preview_url,
        "price": None if detail.price is None else Decimal(str(detail.price)),
    }


async def _upsert_templates(
    session: AsyncSession, oa: str, details: list[TemplateDetail | None]
) -> tuple[int, int]:
    got = [d for d in details if d is not None]
    if not got:
        return 0, 0
    table = TEMPLATES.table
    rows = await session.execute(
        sa.select(table).where(
            table.c.zalo_oa == oa, table.c.template_id.in_([d.template_id for d in got])
        )
    )
    stored = {row.template_id: row for row in rows.all()}
    new, changes = [], []
    for detail in got:
        values = template_values(detail)
        current = stored.get(detail.template_id)
        if current is None:
            new.append({"zalo_oa": oa, "template_id": detail.template_id, **values})
            continue
        changed = {k: v for k, v in values.items() if getattr(current, k) != v}
        if changed:
            changes.append({"code": current.code, **changed})
    for result in (
        await _crud.create_many(session, TEMPLATES, new, SYSTEM) if new else None,
        await _crud.update_many(session, TEMPLATES, changes, SYSTEM) if changes else None,
    ):
        if result is not None and not result.ok:
            raise DomainError(f"template upsert refused: {result.problems[0].message}")
    await session.execute(
        sa.update(table)
        .where(table.c.zalo_oa == oa, table.c.template_id.in_([d.template_id for d in got]))
        .values(synced=_crud.utcnow())
    )
    return len(new), len(changes)
