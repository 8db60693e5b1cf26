"""Fund rules: entries, corrections, "set total", campaigns, verification and the daily report.

Plain functions taking a SQLAlchemy session: they flush, never commit, and raise
:class:`FundError` subclasses that say which field was wrong. Every change to a campaign's
money goes through one conditional ``UPDATE … SET raised_pence = raised_pence + :amount`` in
the same transaction as the ledger row, so the running total can't drift from the ledger.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from coop import audit, cache, limits
from coop.db import lock_until_commit, now_utc
from coop.formatting import joined, money
from coop.fund.figures import (  # noqa: F401 - re-exported: the figures live with the rules
    CLOSED,
    OPEN,
    UPCOMING,
    CampaignFigures,
    bar_percent,
    countdown_text,
    days_remaining,
    expected_by,
    format_percent,
    hours_left,
    london_today,
    percent,
    remaining,
    status,
    target_met,
    target_text,
)
from coop.fund.models import (
    DONOR_NAME_MAX,
    DONOR_TOWN_MAX,
    NAME_MAX,
    REASON_MAX,
    SLUG_MAX,
    SOURCE_LABELS,
    SOURCES,
    THANKS_DECLINED,
    THANKS_MAX,
    THANKS_SHOWN,
    THANKS_WAITING,
    URL_MAX,
    VIA_MAX,
    Campaign,
    Entry,
    thanked_clause,
)
from coop.money import MAX_PENCE, PENCE_COLUMN_MAX, pence_problem
from coop.security import is_safe_next
from coop.timeutil import london_midnight

#: the largest single gift accepted unless FUND_MAX_GIFT_PENCE says otherwise (£100,000)
DEFAULT_MAX_GIFT_PENCE = 10_000_000


class FundError(Exception):
    """A fund rule refused the change. ``field`` names the input at fault (or None)."""

    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field


class InvalidEntry(FundError):
    """An entry's values break a rule: ``field`` is one of amount_pence, received_on, source,
    donor_name, donor_town, reason, via."""


class CampaignClosed(InvalidEntry):
    """Staff closed the campaign: it takes no more entries."""

    field = "campaign"


class TotalChanged(FundError):
    """"Set total" was sent with a total that is no longer current: nothing was written."""

    def __init__(self, message: str, *, current_pence: int, current_count: int):
        super().__init__(message, field="total")
        self.current_pence = current_pence
        self.current_count = current_count


class InvalidCampaign(FundError):
    """A campaign's values break a rule (``field`` names which)."""


class BatchError(FundError):
    """One line of a batch was refused; nothing from the batch was written."""

    def __init__(self, line: int, error: FundError):
        super().__init__(f"Line {line}: {error.message}", field=error.field)
        self.line = line
        self.error = error


# ---------------------------------------------------------------------------------------------
# Reading campaigns


def get_campaign(session: Session, slug: str) -> Campaign | None:
    if not slug or len(slug) > SLUG_MAX:
        return None
    return session.scalar(sa.select(Campaign).where(Campaign.slug == slug))


#: campaigns still taking gifts on ``:today``, open ones first (they opened earliest), then
#: upcoming; built once, as every fund page and embed asks it
_CURRENT_CAMPAIGN = (
    sa.select(Campaign)
    .where(Campaign.closed_at.is_(None),
           Campaign.deadline >= sa.bindparam("today", type_=Campaign.deadline.type))
    .order_by(Campaign.opens_on, Campaign.id)
    .limit(1)
)


def current_campaign(session: Session, today: dt.date) -> Campaign | None:
    """The open campaign, else the next upcoming one, else None."""
    return session.scalar(_CURRENT_CAMPAIGN, {"today": today})


def all_campaigns(session: Session) -> Sequence[Campaign]:
    return session.scalars(sa.select(Campaign).order_by(Campaign.opens_on.desc())).all()


def past_campaigns(session: Session, today: dt.date) -> Sequence[Campaign]:
    """Campaigns that are over: past their deadline or closed by staff, newest first."""
    return session.scalars(
        sa.select(Campaign)
        .where(sa.or_(Campaign.deadline < today, Campaign.closed_at.is_not(None)))
        .order_by(Campaign.deadline.desc(), Campaign.id.desc())
    ).all()


def current_figures(session: Session, today: dt.date) -> CampaignFigures | None:
    """The current campaign's figures (see :func:`current_campaign`), kept under the cache's
    freshness rule (:mod:`coop.cache`): what every public page, embed and the API show."""
    return cache.memo(("fund.current", today), lambda: _figures_or_none(
        current_campaign(session, today)))


def figures_for_slug(session: Session, slug: str) -> CampaignFigures | None:
    """A campaign's figures by its slug, kept like :func:`current_figures`; a slug with no
    campaign isn't kept (audit: requests for made-up slugs pushed real figures out)."""
    if not slug or len(slug) > SLUG_MAX:
        return None
    return cache.memo(("fund.slug", slug), lambda: _figures_or_none(get_campaign(session, slug)),
                      keep_none=False)


def _figures_or_none(campaign: Campaign | None) -> CampaignFigures | None:
    return None if campaign is None else figures_of(campaign)


def figures_of(campaign: Campaign) -> CampaignFigures:
    return CampaignFigures(
        id=campaign.id, slug=campaign.slug, name=campaign.name,
        target_pence=campaign.target_pence, opens_on=campaign.opens_on,
        deadline=campaign.deadline, donate_url=campaign.donate_url or "",
        thank_you_text=campaign.thank_you_text or "", raised_pence=campaign.raised_pence,
        entry_count=campaign.entry_count, updated_at=campaign.updated_at,
        closed_at=campaign.closed_at, thanks_version=campaign.thanks_version or 0,
    )


# ---------------------------------------------------------------------------------------------
# The ledger


def max_gift_pence() -> int:
    if has_app_context():
        configured = int(current_app.config.get("FUND_MAX_GIFT_PENCE", DEFAULT_MAX_GIFT_PENCE))
        return min(configured, MAX_PENCE)
    return DEFAULT_MAX_GIFT_PENCE


def _clean_text(value: str | None, field: str, limit: int, label: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidEntry(f"{label} must be text.", field=field)
    value = " ".join(value.split())
    if not value:
        return None
    if len(value) > limit:
        raise InvalidEntry(f"{label} can be at most {limit} characters.", field=field)
    return value


def check_entry(
    campaign: Campaign,
    amount_pence: int,
    *,
    received_on: dt.date,
    source: str,
    reason: str | None,
    today: dt.date | None = None,
) -> None:
    """Raise :class:`InvalidEntry` when an entry would break a rule (nothing is written)."""
    if isinstance(amount_pence, bool) or not isinstance(amount_pence, int):
        raise InvalidEntry("The amount must be a whole number of pence.", field="amount_pence")
    if amount_pence == 0:
        raise InvalidEntry("Enter an amount other than zero.", field="amount_pence")
    if amount_pence < 0 and reason is None:
        raise InvalidEntry("Enter an amount greater than zero.", field="amount_pence")
    limit = max_gift_pence()
    if reason is None and amount_pence > limit:
        raise InvalidEntry(f"The most we accept as one gift is {money(limit)}.",
                           field="amount_pence")
    problem = pence_problem(amount_pence)
    if problem:
        raise InvalidEntry(problem, field="amount_pence")
    if not isinstance(received_on, dt.date) or isinstance(received_on, dt.datetime):
        raise InvalidEntry("Enter the day the money was received.", field="received_on")
    problem = limits.date_problem(received_on, "The day received")
    if problem:
        raise InvalidEntry(problem, field="received_on")
    if not campaign.opens_on <= received_on <= campaign.deadline:
        raise InvalidEntry(
            f"The day received must be within the campaign, "
            f"{campaign.opens_on:%-d %b %Y} to {campaign.deadline:%-d %b %Y}.",
            field="received_on",
        )
    today = today or london_today()
    if received_on > today:
        raise InvalidEntry("The day received can't be in the future.", field="received_on")
    if source not in SOURCES:
        raise InvalidEntry(
            "Choose a source: " + ", ".join(SOURCE_LABELS[s].lower() for s in SOURCES) + ".",
            field="source",
        )
    if campaign.closed_at is not None:
        raise CampaignClosed(f"{campaign.name} is closed and takes no more entries.")


def add_entry(
    session: Session,
    campaign: Campaign,
    amount_pence: int,
    *,
    received_on: dt.date,
    source: str,
    by=None,
    via: str = "staff",
    donor_name: str | None = None,
    donor_town: str | None = None,
    may_thank: bool = False,
    reason: str | None = None,
    name_to_check: bool = False,
    name_declined: bool = False,
    corrects_id: int | None = None,
) -> Entry:
    """Record a gift (or, with a ``reason``, a correction of either sign) and move the running
    total in the same transaction.

    ``name_to_check``: the donor typed their name themselves (online), so it isn't thanked in
    public until staff have checked it (:func:`decide_thanks`). ``name_declined``: staff
    declined this name before (a monthly gift's earlier payment), so it isn't thanked; the
    donor's wish is recorded all the same.

    The total moves by one conditional UPDATE, so concurrent writers never lose an amount, a
    closed campaign takes nothing, and a correction can't take the total below zero.

    :raise InvalidEntry: with ``.field`` for a value that breaks a rule.
    :raise CampaignClosed: when staff have closed the campaign.
    """
    reason = _clean_text(reason, "reason", REASON_MAX, "The reason")
    donor_name = _clean_text(donor_name, "donor_name", DONOR_NAME_MAX, "The donor's name")
    donor_town = _clean_text(donor_town, "donor_town", DONOR_TOWN_MAX, "The donor's town")
    via = _clean_text(via, "via", VIA_MAX, "Via") or "staff"
    check_entry(campaign, amount_pence, received_on=received_on, source=source, reason=reason)
    if corrects_id is not None and reason:  # one correction of a line at a time (staff, Stripe)
        lock_until_commit(session, CORRECTIONS_LOCK, Entry.__table__)

    _move_total(session, campaign, amount_pence)
    entry = Entry(
        campaign_id=campaign.id,
        amount_pence=amount_pence,
        received_on=received_on,
        source=source,
        donor_name=donor_name,
        donor_town=donor_town,
        may_thank=bool(may_thank) and donor_name is not None,
        thanks_check=_first_check(may_thank and donor_name is not None and amount_pence > 0,
                                  to_check=name_to_check, declined=name_declined),
        reason=reason,
        corrects_id=corrects_id if reason else None,
        entered_by_id=getattr(by, "id", by),
        via=via,
    )
    session.add(entry)
    session.flush()
    audit.record(
        session, "fund.correction" if reason else "fund.entry", "fund_entry", entry.id, by=by,
        campaign=campaign.slug, amount_pence=amount_pence, via=via,
        **({"corrects": entry.corrects_id} if entry.corrects_id else {}),
    )
    return entry


def _first_check(named: bool, *, to_check: bool, declined: bool) -> str | None:
    """A new line's ``thanks_check``: only a named gift the donor wants thanked has one."""
    if not named:
        return None
    return THANKS_DECLINED if declined else THANKS_WAITING if to_check else None


def _move_total(session: Session, campaign: Campaign, amount_pence: int,
                *, expected: tuple[int, int] | None = None) -> None:
    """The one place the running total changes: atomically, with its guards in the WHERE."""
    table = Campaign.__table__
    now = now_utc()
    conditions = [table.c.id == campaign.id, table.c.closed_at.is_(None)]
    raised = table.c.raised_pence + amount_pence
    if amount_pence < 0:
        conditions.append(table.c.raised_pence >= -amount_pence)
    else:  # the column's ceiling, compared without an addition that could overflow it
        conditions.append(table.c.raised_pence <= PENCE_COLUMN_MAX - amount_pence)
    if expected is not None:
        conditions += [table.c.raised_pence == expected[0], table.c.entry_count == expected[1]]
    stmt = (
        sa.update(table)
        .where(*conditions)
        .values(raised_pence=raised, entry_count=table.c.entry_count + 1, updated_at=now)
        .returning(table.c.raised_pence, table.c.entry_count, table.c.updated_at)
    )
    row = session.execute(stmt).first()
    if row is None:
        current = session.execute(
            sa.select(table.c.raised_pence, table.c.entry_count, table.c.closed_at)
            .where(table.c.id == campaign.id)
        ).one()
        set_committed_value(campaign, "raised_pence", current.raised_pence)
        set_committed_value(campaign, "entry_count", current.entry_count)
        if current.closed_at is not None:
            raise CampaignClosed(f"{campaign.name} is closed and takes no more entries.")
        if expected is not None:
            raise TotalChanged(
                "Someone changed the fund while you had this form open, so nothing was "
                f"saved. The total is now {money(current.raised_pence)}.",
                current_pence=current.raised_pence, current_count=current.entry_count,
            )
        if amount_pence > 0:
            raise InvalidEntry(
                f"That would take the total past {money(PENCE_COLUMN_MAX)}, the most the fund "
                f"can record: it is now {money(current.raised_pence)}.",
                field="amount_pence",
            )
        raise InvalidEntry(
            "A correction can't take the total below zero: it is now "
            f"{money(current.raised_pence)}.",
            field="amount_pence",
        )
    # Keep the object in step without another SELECT (and without marking it dirty).
    set_committed_value(campaign, "raised_pence", row.raised_pence)
    set_committed_value(campaign, "entry_count", row.entry_count)
    set_committed_value(campaign, "updated_at", row.updated_at)


class CorrectedMeanwhile(InvalidEntry):
    """The line was corrected by someone else since the form was drawn."""


def add_correction(session: Session, campaign: Campaign, amount_pence: int, *, reason: str,
                   received_on: dt.date, by=None, source: str = "other",
                   via: str = "staff", corrects: Entry | None = None,
                   seen: str | None = None) -> Entry:
    """A correction entry: either sign, never zero, with a required reason; ``corrects``, the
    ledger line it puts right (one of this campaign's).

    ``seen``: :func:`corrections_version` of that line when the form was drawn. Read again
    holding the lock, so two staff who opened "Correct" on the same gift can't both reverse it.

    With ``seen`` (staff's form) a correction can't take a line past nothing: a gift of £25
    corrected by −£30 is refused, with what is left of it (QA). Stripe's refunds and lost
    disputes, which come without ``seen``, are what happened, even past the gift.

    :raise CorrectedMeanwhile: the line's corrections changed since (the message says how).
    :raise InvalidEntry: it would take the line past nothing.
    """
    if not reason or not reason.strip():
        raise InvalidEntry("Give a reason for the correction.", field="reason")
    if corrects is not None and corrects.campaign_id != campaign.id:
        raise InvalidEntry("That entry isn't in this campaign's ledger.", field="amount")
    if corrects is not None and seen is not None:
        lock_until_commit(session, CORRECTIONS_LOCK, Entry.__table__)
        now = corrections_of(session, [corrects.id]).get(corrects.id)
        if corrections_version(now) != seen:
            by_ = ", ".join(f"entry {i}" for i in now.by) if now else "nothing"
            raise CorrectedMeanwhile(
                f"Entry {corrects.id} was corrected by someone else while you had this page "
                f"open (now {by_}): check what it counts for above, then send this again if "
                "it still needs correcting.", field="amount")
        held = corrects.amount_pence + (now.pence if now else 0)
        sign = 1 if corrects.amount_pence > 0 else -1
        after = (held + amount_pence) * sign
        if after < 0 and after < held * sign:  # further past nothing than it already is
            verb = "take back" if sign > 0 else "put back"
            room = max(held * sign, 0)
            raise InvalidEntry(
                f"Entry {corrects.id} counts for {money(held)} now: " + (
                    f"a correction of it can {verb} at most {money(room)}." if room else
                    f"nothing of it is left to {verb}."), field="amount")
    entry = add_entry(session, campaign, amount_pence, received_on=received_on, source=source,
                      by=by, via=via, reason=reason,
                      corrects_id=corrects.id if corrects is not None else None)
    if corrects is not None and corrects.amount_pence > 0:
        gone = corrections_of(session, [corrects.id]).get(corrects.id)
        if gone is not None and corrects.amount_pence + gone.pence <= 0:
            gift_taken_back(session, corrects)  # a bounced cheque thanks nobody either
    return entry


#: the advisory lock key of :func:`add_correction` (any constant the app uses once)
CORRECTIONS_LOCK = 0x636F6F70_636F7272  # "coopcorr"


@dataclass(frozen=True)
class Corrected:
    """What earlier corrections of one ledger line add up to."""

    #: the corrections naming it, oldest first
    by: tuple[int, ...]
    #: what they change in all, a correction of one of them included (a reversal undone)
    pence: int


def corrections_of(session: Session, entry_ids: Iterable[int]) -> dict[int, Corrected]:
    """For each of ``entry_ids`` that has been corrected by name: by which entries, and by how
    much in all (one query for a page of the ledger, and one more for each level of a
    correction corrected in turn)."""
    ids = list(dict.fromkeys(entry_ids))
    direct: dict[int, list[tuple[int, int]]] = {}
    asked: set[int] = set()
    frontier = ids
    while frontier:
        asked.update(frontier)
        rows = session.execute(
            sa.select(Entry.corrects_id, Entry.id, Entry.amount_pence)
            .where(Entry.corrects_id.in_(frontier)).order_by(Entry.id)).all()
        for corrects_id, entry_id, pence in rows:
            direct.setdefault(corrects_id, []).append((entry_id, pence))
        # each line asked about once (a page may hold a correction and its own correction)
        frontier = list(dict.fromkeys(e for _, e, _ in rows if e not in asked))
    # what each line's corrections change, worked out from the newest line down (a correction
    # names an older line), so a long chain needs no recursion
    net: dict[int, int] = {}
    for line in sorted(direct, reverse=True):
        net[line] = sum(pence + net.get(child, 0) for child, pence in direct[line]
                        if child > line)
    return {key: Corrected(tuple(i for i, _ in direct[key]), net[key])
            for key in ids if key in direct}


def corrections_version(corrected: Corrected | None) -> str:
    """What a correction form remembers of its line's corrections when drawn."""
    if corrected is None:
        return "none"
    return ",".join(map(str, corrected.by)) + f":{corrected.pence}"


@dataclass(frozen=True)
class BatchLine:
    amount_pence: int
    source: str = "post"
    donor_name: str | None = None
    donor_town: str | None = None
    may_thank: bool = False


def add_batch(session: Session, campaign: Campaign, lines: Sequence[BatchLine], *,
              received_on: dt.date, by=None, via: str = "batch") -> list[Entry]:
    """A day's post in one go. Every line is checked before anything is written; the caller's
    single commit (or rollback on error) makes it all or nothing.

    :raise BatchError: naming the first bad line (1-based).
    """
    if not lines:
        raise InvalidEntry("Enter at least one amount.", field="lines")
    for number, line in enumerate(lines, start=1):
        try:
            _clean_text(line.donor_name, "donor_name", DONOR_NAME_MAX, "The donor's name")
            _clean_text(line.donor_town, "donor_town", DONOR_TOWN_MAX, "The donor's town")
            check_entry(campaign, line.amount_pence, received_on=received_on,
                        source=line.source, reason=None)
        except FundError as err:
            raise BatchError(number, err) from None
    entries = []
    for number, line in enumerate(lines, start=1):
        try:
            entries.append(add_entry(
                session, campaign, line.amount_pence, received_on=received_on,
                source=line.source, by=by, via=via, donor_name=line.donor_name,
                donor_town=line.donor_town, may_thank=line.may_thank,
            ))
        except FundError as err:
            raise BatchError(number, err) from None
    return entries


def set_total(session: Session, campaign: Campaign, new_total_pence: int, *,
              expected_pence: int, expected_count: int, received_on: dt.date,
              reason: str | None = None, by=None, via: str = "set-total") -> Entry:
    """Set the running total to a figure staff know (e.g. from the bank) by recording a
    correction for the difference.

    Guarded by the total (and entry count) the form was loaded with: if the fund changed in
    between, nothing is written.

    :raise TotalChanged: someone else changed the fund first; carries the current total.
    :raise InvalidEntry: the new total is negative or the same as now.
    """
    if isinstance(new_total_pence, bool) or not isinstance(new_total_pence, int):
        raise InvalidEntry("The total must be a whole number of pence.", field="total")
    if new_total_pence < 0:
        raise InvalidEntry("The total can't be below zero.", field="total")
    problem = pence_problem(new_total_pence, "The total")
    if problem:
        raise InvalidEntry(problem, field="total")
    difference = new_total_pence - expected_pence
    if difference == 0:
        raise InvalidEntry(f"The total is already {money(new_total_pence)}.", field="total")
    # what happened, always; the staff's reason after it
    what = (f"Total set to {money(new_total_pence, always_pence=True)} "
            f"(was {money(expected_pence, always_pence=True)})")
    room = REASON_MAX - len(what) - 2
    given = _clean_text(reason, "reason", room, "The reason")
    reason = f"{what}: {given}" if given else what
    try:
        check_entry(campaign, difference, received_on=received_on, source="other", reason=reason)
    except InvalidEntry as err:
        if err.field == "amount_pence":
            err.field = "total"
        raise
    _move_total(session, campaign, difference, expected=(expected_pence, expected_count))
    entry = Entry(
        campaign_id=campaign.id, amount_pence=difference, received_on=received_on,
        source="other", reason=reason, entered_by_id=getattr(by, "id", by), via=via,
    )
    session.add(entry)
    session.flush()
    audit.record(session, "fund.total_set", "fund_campaign", campaign.id, by=by,
                 entry_id=entry.id, old_pence=expected_pence, new_pence=new_total_pence)
    return entry


def ledger_statement(campaign_id: int, *, source: str | None = None,
                     day: dt.date | None = None, corrections_only: bool = False):
    stmt = sa.select(Entry).where(Entry.campaign_id == campaign_id)
    if source:
        stmt = stmt.where(Entry.source == source)
    if day:
        stmt = stmt.where(Entry.received_on == day)
    if corrections_only:
        stmt = stmt.where(Entry.reason.is_not(None))
    return stmt.order_by(Entry.id.desc())


def thanked_donors(session: Session, campaign_id: int, *, day: dt.date | None = None,
                   limit: int = 30) -> list[str]:
    """"J. Smith of Leeds" for donors who agreed to be thanked, newest first, each once.

    With ``day``: those to thank in that day's paragraph for the paper. A name is thanked on
    the day its gift came in or, when staff showed it (a name typed online) only after that
    day, on the day they showed it: so each name is in one paragraph, and none misses the
    paper because it was checked late.
    """
    stmt = (
        sa.select(Entry.donor_name, Entry.donor_town)
        .where(Entry.campaign_id == campaign_id, thanked_clause())
        .order_by(Entry.id.desc())
        .limit(limit * 3)
    )
    if day is not None:
        # the later of the day the gift came in and the day its name first went public
        start, end = london_midnight(day), london_midnight(day + dt.timedelta(days=1))
        shown_at = Entry.thanks_shown_at
        stmt = stmt.where(sa.or_(
            sa.and_(Entry.received_on == day, sa.or_(shown_at.is_(None), shown_at < end)),
            sa.and_(Entry.received_on < day, shown_at >= start, shown_at < end),
        ))
    names: list[str] = []
    for name, town in session.execute(stmt):
        label = f"{name} of {town}" if town else name
        if label not in names:
            names.append(label)
        if len(names) >= limit:
            break
    return names


#: how many waiting names the staff page lists at once
NAMES_LISTED = 50


class NameAlreadyDecided(FundError):
    """Someone else decided about the name first (two staff at once, or a resent form)."""


def names_to_check(session: Session, *, limit: int = NAMES_LISTED) -> list[Entry]:
    """Gifts whose name, typed online, waits for staff before it is thanked; oldest first."""
    return list(session.scalars(
        sa.select(Entry).where(Entry.thanks_check == THANKS_WAITING)
        .order_by(Entry.id).limit(limit)
    ))


def names_to_check_with_others(session: Session) -> list[tuple[Entry, int]]:
    """:func:`names_to_check`, each with how many gifts to its campaign already thank the
    same name and town (one query for them all, not one a name)."""
    waiting = names_to_check(session)
    if not waiting:
        return []
    key = (Entry.campaign_id, Entry.donor_name, sa.func.coalesce(Entry.donor_town, ""))
    counts = {
        (campaign, name, town): int(n) for campaign, name, town, n in session.execute(
            sa.select(*key, sa.func.count())
            .where(thanked_clause(), Entry.campaign_id.in_({e.campaign_id for e in waiting}),
                   Entry.donor_name.in_({e.donor_name for e in waiting}))
            .group_by(*key))
    }
    return [(e, counts.get((e.campaign_id, e.donor_name, e.donor_town or ""), 0))
            for e in waiting]


def count_names_to_check(session: Session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Entry)
                          .where(Entry.thanks_check == THANKS_WAITING)) or 0


def decide_thanks(session: Session, entry_id: int, *, show: bool, by=None) -> Entry:
    """Show (``show``) or decline a name waiting to be thanked, once: one guarded UPDATE, so
    two staff deciding at once can't both win. The campaign's ``thanks_version`` goes up so
    every process reads its thanks list again; the decision is audited.

    :raise NameAlreadyDecided: when the name no longer waits (or there is no such entry).
    """
    decision = THANKS_SHOWN if show else THANKS_DECLINED
    if _set_thanks(session, entry_id, decision, Entry.thanks_check == THANKS_WAITING, by=by):
        return session.get(Entry, entry_id)
    entry = session.get(Entry, entry_id)
    if entry is None or entry.thanks_check is None:
        raise NameAlreadyDecided("That gift has no name waiting to be checked.")
    session.refresh(entry, ["thanks_check"])
    shown = "is shown in the thanks" if entry.thanks_check == THANKS_SHOWN else (
        "is not shown" if entry.thanks_check == THANKS_DECLINED else "still waits")
    raise NameAlreadyDecided(f"Someone decided about that name first: it {shown}.")


def withdraw_thanks(session: Session, entry_id: int, *, by=None) -> Entry:
    """Stop thanking a gift's donor by name (they asked, or the name was shown by mistake):
    from then on the line is "declined", like a name staff never showed; the gift and the
    donor's recorded wish stay. Audited; later payments of the same monthly gift follow it.

    :raise NameAlreadyDecided: when the gift isn't thanked by name (any more).
    """
    entry = session.get(Entry, entry_id)
    # a name thanked from the start (staff typed it) went public the day its gift came in
    since = london_midnight(entry.received_on) if entry is not None else None
    if _set_thanks(session, entry_id, THANKS_DECLINED, thanked_clause(), by=by,
                   action="withdrawn", shown_since=since):
        return session.get(Entry, entry_id)
    raise NameAlreadyDecided("That gift’s donor isn’t thanked by name, so there was nothing "
                             "to stop.")


def gift_taken_back(session: Session, entry: Entry) -> None:
    """A gift whose money all went back (a refund, a dispute lost) thanks nobody: a name still
    waiting to be checked, or thanked, is declined (audited as "taken back"; QA: a refunded
    gift still waited under "Names to check")."""
    since = london_midnight(entry.received_on) if entry.thanks_check is None else None
    # not a decision about the name (``thanks_decided_at`` stays): a monthly gift's later
    # payments follow staff's decisions, not a month that was refunded
    _set_thanks(session, entry.id, THANKS_DECLINED,
                sa.or_(Entry.thanks_check == THANKS_WAITING, thanked_clause()), by=None,
                action="taken_back", shown_since=since, decided=False)


def thank_again(session: Session, entry_id: int, *, by=None) -> Entry:
    """Undo "Don't print it" or "Stop thanking": the line's name is thanked again (a
    mis-click, or a donor who changes their mind). Audited like the others.

    :raise NameAlreadyDecided: when the name isn't declined (any more).
    """
    declined = sa.and_(Entry.thanks_check == THANKS_DECLINED, Entry.may_thank.is_(True),
                       Entry.donor_name.is_not(None))
    if _set_thanks(session, entry_id, THANKS_SHOWN, declined, by=by, action="restored"):
        return session.get(Entry, entry_id)
    raise NameAlreadyDecided("That gift’s name isn’t declined, so there was nothing to undo.")


def _set_thanks(session: Session, entry_id: int, decision: str, condition, *, by,
                action: str | None = None, shown_since: dt.datetime | None = None,
                decided: bool = True) -> bool:
    """One guarded UPDATE of a line's ``thanks_check`` (ORM, so the session's copy follows),
    the campaign's ``thanks_version`` moved and the audit row; False when ``condition`` no
    longer holds. ``thanks_shown_at`` is set once: by the first "shown", or to
    ``shown_since`` (a name thanked from the start, stopped)."""
    now = now_utc()
    first_shown = now if decision == THANKS_SHOWN else shown_since
    values = {"thanks_check": decision, **({"thanks_decided_at": now} if decided else {})}
    if first_shown is not None:
        values["thanks_shown_at"] = sa.func.coalesce(Entry.thanks_shown_at, first_shown)
    row = session.execute(
        sa.update(Entry).where(Entry.id == entry_id, condition)
        .values(**values).returning(Entry.campaign_id)
    ).first()
    if row is None:
        return False
    session.execute(sa.update(Campaign).where(Campaign.id == row.campaign_id)
                    .values(thanks_version=Campaign.thanks_version + 1))
    audit.record(session, f"fund.thanks_{action or decision}", "fund_entry", entry_id, by=by,
                 campaign_id=row.campaign_id)
    return True


def others_thanked(session: Session, entry: Entry) -> int:
    """How many other gifts to the same campaign still thank the same name and town."""
    return session.scalar(
        sa.select(sa.func.count()).select_from(Entry)
        .where(Entry.campaign_id == entry.campaign_id, Entry.id != entry.id, thanked_clause(),
               Entry.donor_name == entry.donor_name,
               Entry.donor_town.is_(None) if entry.donor_town is None
               else Entry.donor_town == entry.donor_town)
    ) or 0


# ---------------------------------------------------------------------------------------------
# Campaigns


def _check_campaign_values(*, name: str, slug: str, target_pence: int, opens_on: dt.date,
                           deadline: dt.date, donate_url: str, thank_you_text: str) -> None:
    if not name or len(name) > NAME_MAX:
        raise InvalidCampaign(f"Enter a name of at most {NAME_MAX} characters.", field="name")
    if not slug or len(slug) > SLUG_MAX or not _is_slug(slug):
        raise InvalidCampaign("Use lower-case letters, digits and hyphens for the address.",
                              field="slug")
    if isinstance(target_pence, bool) or not isinstance(target_pence, int) or target_pence <= 0:
        raise InvalidCampaign("Enter a target greater than zero.", field="target_pence")
    problem = pence_problem(target_pence, "The target")
    if problem:
        raise InvalidCampaign(problem, field="target_pence")
    for value, field, what in ((opens_on, "opens_on", "The opening day"),
                               (deadline, "deadline", "The deadline")):
        if not isinstance(value, dt.date):
            raise InvalidCampaign(f"Enter {what.lower()}.", field=field)
        problem = limits.date_problem(value, what)
        if problem:
            raise InvalidCampaign(problem, field=field)
    if deadline < opens_on:
        raise InvalidCampaign("The deadline can't be before the opening day.", field="deadline")
    if (deadline - opens_on).days >= MAX_CAMPAIGN_DAYS:
        raise InvalidCampaign("A campaign can run for a year at most: check the deadline.",
                              field="deadline")
    if len(donate_url or "") > URL_MAX:
        raise InvalidCampaign("That address is too long.", field="donate_url")
    if donate_url and not (donate_url.startswith("https://") or is_safe_next(donate_url)):
        raise InvalidCampaign("Enter a web address starting with https:// (or a page of this "
                              "site, like /give).", field="donate_url")
    if len(thank_you_text or "") > THANKS_MAX:
        raise InvalidCampaign(f"Keep the text under {THANKS_MAX} characters.",
                              field="thank_you_text")


def _lock_campaign_dates(session: Session) -> None:
    """Serialise the overlap check with its write, so two staff (or the hourly roll-over and
    a staff form) can't both find the days free."""
    lock_until_commit(session, CAMPAIGN_DATES_LOCK, Campaign.__table__)


#: the advisory lock key of :func:`_lock_campaign_dates` (any constant the app uses once)
CAMPAIGN_DATES_LOCK = 0x636F6F70_66756E64  # "coopfund"


def _check_no_overlap(session: Session, campaign: Campaign | None, opens_on: dt.date,
                      deadline: dt.date, *, reopening: bool = False) -> None:
    """Open campaigns don't share a day: a gift's day says which campaign it counts for, and
    the public bar shows one. A campaign closed early leaves its days to the next (reopening
    it checks again). :raise InvalidCampaign: naming the campaign in the way."""
    if campaign is not None and campaign.closed_at is not None and not reopening:
        return
    _lock_campaign_dates(session)
    other = session.scalar(
        sa.select(Campaign)
        .where(Campaign.opens_on <= deadline, Campaign.deadline >= opens_on,
               Campaign.closed_at.is_(None),
               Campaign.id != (campaign.id if campaign is not None else -1))
        .order_by(Campaign.opens_on).limit(1))
    if other is not None:
        raise InvalidCampaign(
            f"“{other.name}” runs from {other.opens_on:%-d %b %Y} to "
            f"{other.deadline:%-d %b %Y}: campaigns can't share a day.",
            field="opens_on" if other.opens_on <= opens_on else "deadline")


def _is_slug(value: str) -> bool:
    import re

    return re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", value) is not None


#: paths under /fund/ that a campaign slug must not take
RESERVED_SLUGS = {"archive", "widget", "badge.svg", "badge"}


def create_campaign(session: Session, *, name: str, slug: str, target_pence: int,
                    opens_on: dt.date, deadline: dt.date, donate_url: str = "",
                    thank_you_text: str = "", by=None) -> Campaign:
    name, slug = (name or "").strip(), (slug or "").strip().lower()
    _check_campaign_values(name=name, slug=slug, target_pence=target_pence, opens_on=opens_on,
                           deadline=deadline, donate_url=donate_url,
                           thank_you_text=thank_you_text)
    if slug in RESERVED_SLUGS:
        raise InvalidCampaign("That address is used by another page; choose another.",
                              field="slug")
    if get_campaign(session, slug) is not None:
        raise InvalidCampaign("Another campaign already has that address.", field="slug")
    _check_no_overlap(session, None, opens_on, deadline)
    campaign = Campaign(name=name, slug=slug, target_pence=target_pence, opens_on=opens_on,
                        deadline=deadline, donate_url=donate_url or "",
                        thank_you_text=thank_you_text or "")
    session.add(campaign)
    session.flush()
    audit.record(session, "fund.campaign_created", "fund_campaign", campaign.id, by=by,
                 slug=slug, target_pence=target_pence)
    return campaign


def update_campaign(session: Session, campaign: Campaign, *, name: str, target_pence: int,
                    opens_on: dt.date, deadline: dt.date, donate_url: str = "",
                    thank_you_text: str = "", by=None) -> Campaign:
    """Change the name, target, dates or texts. The ledger can't change, so the dates can't
    move to leave an existing entry outside the campaign."""
    name = (name or "").strip()
    _check_campaign_values(name=name, slug=campaign.slug, target_pence=target_pence,
                           opens_on=opens_on, deadline=deadline, donate_url=donate_url,
                           thank_you_text=thank_you_text)
    first, last = session.execute(
        sa.select(sa.func.min(Entry.received_on), sa.func.max(Entry.received_on))
        .where(Entry.campaign_id == campaign.id)
    ).one()
    if first is not None and opens_on > first:
        raise InvalidCampaign(
            f"There are entries from {first:%-d %b %Y}: the campaign must open by then.",
            field="opens_on")
    if last is not None and deadline < last:
        raise InvalidCampaign(
            f"There are entries from {last:%-d %b %Y}: the deadline can't be before then.",
            field="deadline")
    if (opens_on, deadline) != (campaign.opens_on, campaign.deadline):
        # only a change of dates: a rename mustn't be held up by an overlap made before
        # the rule (closing either campaign lifts it)
        _check_no_overlap(session, campaign, opens_on, deadline)
    before = {"name": campaign.name, "target_pence": campaign.target_pence,
              "opens_on": campaign.opens_on.isoformat(),
              "deadline": campaign.deadline.isoformat()}
    campaign.name = name
    campaign.target_pence = target_pence
    campaign.opens_on = opens_on
    campaign.deadline = deadline
    campaign.donate_url = donate_url or ""
    campaign.thank_you_text = thank_you_text or ""
    campaign.updated_at = now_utc()
    session.flush()
    audit.record(session, "fund.campaign_updated", "fund_campaign", campaign.id, by=by,
                 before=before, name=name, target_pence=target_pence,
                 opens_on=opens_on.isoformat(), deadline=deadline.isoformat())
    return campaign


def delete_campaign(session: Session, campaign: Campaign, today: dt.date, *, by=None) -> None:
    """A campaign made by mistake: only before it opens and with nothing in its ledger (no
    one can have given to it yet). Audited with its name and dates."""
    entries = session.scalar(sa.select(sa.func.count()).select_from(Entry)
                             .where(Entry.campaign_id == campaign.id))
    if entries or campaign.opens_on <= today:
        raise InvalidCampaign("Only a campaign that hasn't opened yet and has nothing in its "
                              "ledger can be deleted: close this one instead.", field="campaign")
    audit.record(session, "fund.campaign_deleted", "fund_campaign", campaign.id, by=by,
                 name=campaign.name, opens_on=campaign.opens_on.isoformat(),
                 deadline=campaign.deadline.isoformat())
    session.delete(campaign)
    session.flush()


def close_campaign(session: Session, campaign: Campaign, *, by=None) -> Campaign:
    if campaign.closed_at is not None:
        raise InvalidCampaign(f"{campaign.name} is already closed.", field="campaign")
    campaign.closed_at = now_utc()
    campaign.updated_at = campaign.closed_at
    session.flush()
    audit.record(session, "fund.campaign_closed", "fund_campaign", campaign.id, by=by,
                 raised_pence=campaign.raised_pence)
    return campaign


def reopen_campaign(session: Session, campaign: Campaign, *, by=None) -> Campaign:
    if campaign.closed_at is None:
        raise InvalidCampaign(f"{campaign.name} is not closed.", field="campaign")
    try:
        _check_no_overlap(session, campaign, campaign.opens_on, campaign.deadline,
                          reopening=True)
    except InvalidCampaign as err:
        raise InvalidCampaign(f"It can't reopen: {err.message}", field="campaign") from None
    campaign.closed_at = None
    campaign.updated_at = now_utc()
    session.flush()
    audit.record(session, "fund.campaign_reopened", "fund_campaign", campaign.id, by=by)
    return campaign


def month_bounds(year: int, month: int) -> tuple[dt.date, dt.date]:
    last = calendar.monthrange(year, month)[1]
    return dt.date(year, month, 1), dt.date(year, month, last)


#: a campaign opened with fewer days than this left in its month runs to the next month's end
MIN_CAMPAIGN_DAYS = 7
#: the longest a campaign may run (a year, leap years included)
MAX_CAMPAIGN_DAYS = 366


def campaign_name(start: dt.date, end: dt.date) -> str:
    """"November 2026 fighting fund": the month it starts in, or the next one when it starts
    with under a week of its month left and runs on into the next (a campaign from 26
    November to 31 December is December's). The rule of :func:`next_month_values`, which
    stretches such a campaign to the next month's end."""
    month_end = month_bounds(start.year, start.month)[1]
    month = start
    if (month_end - start).days + 1 < MIN_CAMPAIGN_DAYS and end > month_end:
        month = month_end + dt.timedelta(days=1)
    return f"{month:%B %Y} fighting fund"


def free_name(session: Session, start: dt.date, end: dt.date) -> str:
    """:func:`campaign_name`, unless a campaign already has it (one that doesn't follow the
    months, as the demo's 30-day ones, can have taken the month's name): then the opening
    month's, then the dates ("Fighting fund, 25 to 31 December 2026")."""
    taken = set(session.scalars(sa.select(Campaign.name)))
    for name in (campaign_name(start, end), f"{start:%B %Y} fighting fund"):
        if name not in taken:
            return name
    if (start.year, start.month) == (end.year, end.month):
        return f"Fighting fund, {start.day} to {end.day} {end:%B %Y}"
    return f"Fighting fund, {start.day} {start:%B} to {end.day} {end:%B %Y}"


def next_month_values(session: Session, today: dt.date) -> dict:
    """What the one-click "next month's campaign" would create: from the first day not
    covered by a campaign, counting from today or, after a lapse, from the day after the
    latest campaign to have opened (so no day is left uncovered, and none is covered twice;
    an older gap is history, not filled), to the end of that
    month (or of the next, when fewer than a week would be left), stopping short of a
    campaign staff have already set up later (a January appeal, say). The target, donate URL
    and thanks are those of the campaign it follows. With no campaign yet: this month."""
    campaigns = session.scalars(sa.select(Campaign).order_by(Campaign.opens_on)).all()
    if not campaigns:
        first, last = month_bounds(today.year, today.month)
        return {"name": campaign_name(first, last), "slug": f"{first:%Y-%m}",
                "target_pence": 1_800_000, "opens_on": first, "deadline": last,
                "donate_url": "", "thank_you_text": ""}
    # from the day after the latest campaign to have opened (a lapse since is covered), or
    # today when one runs now; never an older gap (a month long past)
    latest = max((c.deadline for c in campaigns if c.opens_on <= today), default=today)
    first = latest + dt.timedelta(days=1) if latest < today else today
    later = None  # the first campaign after the gap, if staff have set one up
    for campaign in campaigns:
        if campaign.deadline < first:
            continue
        if campaign.opens_on > first:
            later = campaign
            break
        if campaign.deadline >= limits.LATEST_DATE:
            # past the range (a campaign saved before dates were bounded may even end in
            # 9999, whose next day doesn't exist): offered, but create_campaign refuses it
            first, last = month_bounds(limits.LATEST_DATE.year + 1, 1)
            return {"name": campaign_name(first, last), "slug": f"{last:%Y-%m}",
                    "target_pence": campaign.target_pence, "opens_on": first,
                    "deadline": last, "donate_url": campaign.donate_url,
                    "thank_you_text": campaign.thank_you_text}
        first = campaign.deadline + dt.timedelta(days=1)
    before = [c for c in campaigns if c.deadline < first]
    follows = max(before, key=lambda c: c.deadline) if before else campaigns[0]
    last = month_bounds(first.year, first.month)[1]
    if (last - first).days + 1 < MIN_CAMPAIGN_DAYS:
        following = last + dt.timedelta(days=1)
        last = month_bounds(following.year, following.month)[1]
    if later is not None:
        last = min(last, later.opens_on - dt.timedelta(days=1))
    slug = f"{last.year:04d}-{last.month:02d}"
    if get_campaign(session, slug) is not None:
        slug = f"{slug}-{first:%d%b}".lower()
    return {
        "name": free_name(session, first, last), "slug": slug,
        "target_pence": follows.target_pence, "opens_on": first, "deadline": last,
        "donate_url": follows.donate_url, "thank_you_text": follows.thank_you_text,
    }


def roll_over(session: Session, today: dt.date, *, by=None) -> Campaign | None:
    """The scheduled roll-over: when no campaign covers tomorrow, open the next one (see
    :func:`next_month_values`) from the day after the latest closes. A campaign staff have
    already set up for tomorrow (another target, say) is left alone. ``None``: nothing to do.
    """
    tomorrow = today + dt.timedelta(days=1)
    covered = session.scalar(
        sa.select(sa.func.count()).select_from(Campaign)
        .where(Campaign.opens_on <= tomorrow, Campaign.deadline >= tomorrow)
    )
    if covered or session.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 0:
        return None
    return create_next_month(session, today, by=by)


def create_next_month(session: Session, today: dt.date, *, by=None) -> Campaign:
    return create_campaign(session, **next_month_values(session, today), by=by)


# ---------------------------------------------------------------------------------------------
# Verification and the printed paragraph


@dataclass(frozen=True)
class Difference:
    slug: str
    name: str
    stored_pence: int
    ledger_pence: int
    stored_count: int
    ledger_count: int

    def describe(self) -> str:
        return (f"{self.slug}: running total {money(self.stored_pence, always_pence=True)} "
                f"({self.stored_count} entries) but the ledger sums to "
                f"{money(self.ledger_pence, always_pence=True)} ({self.ledger_count} entries)")


def verify_totals(session: Session) -> tuple[int, list[Difference]]:
    """Recompute every campaign's sum and count from the ledger; return
    ``(campaigns checked, differences)``."""
    sums = (
        sa.select(Entry.campaign_id, sa.func.coalesce(sa.func.sum(Entry.amount_pence), 0)
                  .label("total"), sa.func.count().label("n"))
        .group_by(Entry.campaign_id)
        .subquery()
    )
    rows = session.execute(
        sa.select(Campaign.slug, Campaign.name, Campaign.raised_pence, Campaign.entry_count,
                  sa.func.coalesce(sums.c.total, 0), sa.func.coalesce(sums.c.n, 0))
        .outerjoin(sums, sums.c.campaign_id == Campaign.id)
        .order_by(Campaign.opens_on)
    ).all()
    differences = [
        Difference(slug, name, int(stored), int(total), int(count), int(n))
        for slug, name, stored, count, total, n in rows
        if int(stored) != int(total) or int(count) != int(n)
    ]
    return len(rows), differences


def daily_report(session: Session, campaign: Campaign, day: dt.date, *,
                 max_names: int = 12) -> str:
    """The fund paragraph for the paper printed the day after ``day``: "£412 came in
    yesterday, bringing November's total to £6,572. £11,428 to go with 17 days left. Thanks
    to J. Smith of Leeds, …". Figures come from the ledger up to and including ``day``.
    """
    on_day = Entry.received_on == day
    correcting = on_day & Entry.reason.is_not(None)
    gifts, corrected, corrections, up_to = (int(n) for n in session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(
                sa.case((on_day & Entry.reason.is_(None), Entry.amount_pence), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(
                sa.case((correcting, Entry.amount_pence), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((correcting, 1), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(Entry.amount_pence), 0),
        ).where(Entry.campaign_id == campaign.id, Entry.received_on <= day)
    ).one())
    month = f"{campaign.opens_on:%B}'s" if _is_calendar_month(campaign) else "the fund's"
    # corrections are told apart from gifts, each with its sign: this goes into print
    which = "a correction" if corrections == 1 else "corrections"
    correction = (f"{which} took {money(-corrected)} off" if corrected < 0
                  else f"{which} added {money(corrected)}")
    if gifts and corrected:
        first = (f"{money(gifts)} came in yesterday and {correction}, bringing {month} total "
                 f"to {money(up_to)}.")
    elif gifts:
        first = f"{money(gifts)} came in yesterday, bringing {month} total to {money(up_to)}."
    elif corrected:
        first = f"Yesterday {correction}: {month} total stands at {money(up_to)}."
    else:
        first = f"Nothing came in yesterday: {month} total stands at {money(up_to)}."
    # The paper comes out the day after `day`: count the days left from then.
    left = (campaign.deadline - (day + dt.timedelta(days=1))).days
    target = campaign.target_pence
    if up_to >= target:
        over = up_to - target
        second = f"That's our {money(target)} target reached" + (
            f", with {money(over)} to spare." if over else ".")
    else:
        to_go = money(target - up_to)
        if left > 1:
            second = f"{to_go} to go with {left} days left."
        elif left == 1:
            second = f"{to_go} to go with one day left."
        elif left == 0:
            second = f"{to_go} to go, and today is the last day."
        else:
            second = f"The fund closed {to_go} short of its target."
    parts = [first, second]
    names = thanked_donors(session, campaign.id, day=day, limit=max_names + 1)
    if names:
        shown = names[:max_names]
        more = " and many others" if len(names) > max_names else ""
        if more:
            parts.append(f"Thanks to {', '.join(shown)}{more}.")
        else:
            parts.append(f"Thanks to {joined(shown)}.")
    return " ".join(parts)


def _is_calendar_month(campaign: Campaign) -> bool:
    first, last = month_bounds(campaign.opens_on.year, campaign.opens_on.month)
    return campaign.opens_on == first and campaign.deadline == last
