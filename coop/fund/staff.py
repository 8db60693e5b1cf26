"""Staff pages for the fund: gifts, a day's post, set total, corrections, the ledger, CSV,
campaigns, the printed paper's daily paragraph and the totals check."""

from __future__ import annotations

import datetime as dt
import posixpath
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from coop import submissions
from coop.access import access
from coop.csvexport import csv_response
from coop.db import now_utc
from coop.extensions import db
from coop.formatting import money, money_input
from coop.forms import ConfirmForm, EmptyForm, SentOnceButton, not_confirmed, show_error
from coop.fund import embed as embed_sizes
from coop.fund import services
from coop.fund.forms import (
    BATCH_MORE,
    BATCH_ROWS,
    BATCH_ROWS_MAX,
    BatchForm,
    CampaignForm,
    CorrectionForm,
    DayForm,
    EditCampaignForm,
    GiftForm,
    SetTotalForm,
)
from coop.fund.models import SOURCE_LABELS, Campaign, Entry
from coop.limits import current_page
from coop.money import pounds
from coop.security import is_safe_next
from coop.timeutil import london_midnight, london_today
from coop.urls import id_or_none

bp = Blueprint("fund_staff", __name__, url_prefix="/staff/fund")

#: ledger lines a page
LEDGER_PAGE = 100

#: service error fields → form fields
FIELD_MAP = {"amount_pence": "amount", "target_pence": "target", "total": "new_total"}


def _today() -> dt.date:
    return london_today()


def _campaign_or_404(campaign_id: int) -> Campaign:
    return db.get_or_404(Campaign, campaign_id)


def _show_error(form, err: services.FundError) -> None:
    """The service's field names, as this feature's forms name them (:data:`FIELD_MAP`)."""
    show_error(form, err, field=FIELD_MAP.get(err.field or "", err.field))


def line_number(entry) -> int:
    """A batch line's number as the form shows it (from its name, ``lines-3`` → 4)."""
    return int(entry.name.rsplit("-", 1)[1]) + 1


def _entry_from_args(campaign: Campaign) -> Entry | None:
    """The campaign's entry named by ``?entry=`` (a ledger row's links), if there is one."""
    return _campaign_entry(campaign, id_or_none(request.args.get("entry")))


def _campaign_entry(campaign: Campaign, entry_id: int | None) -> Entry | None:
    entry = db.session.get(Entry, entry_id) if entry_id else None
    return entry if entry is not None and entry.campaign_id == campaign.id else None


def _default_day(campaign: Campaign) -> dt.date:
    return min(max(_today(), campaign.opens_on), campaign.deadline)


# ---------------------------------------------------------------------------------------------
# Overview and campaigns


@bp.route("")
@access("staff")
def index():
    campaigns = services.all_campaigns(db.session)
    current = services.current_campaign(db.session, _today())
    return render_template(
        "fund/staff/index.html", campaigns=campaigns, current=current, now=now_utc(),
        next_values=services.next_month_values(db.session, _today()), action_form=EmptyForm(),
        next_form=SentOnceButton(), figures_of=services.figures_of,
        names=services.names_to_check_with_others(db.session),
        names_waiting=services.count_names_to_check(db.session),
    )


@bp.route("/names/<int:entry_id>", methods=["POST"])
@access("staff", fresh=True)
def decide_name(entry_id: int):
    """Thank a name given online in public, or not (the buttons of "Names to check")."""
    form = EmptyForm()
    decision = request.form.get("decision")
    if form.validate_on_submit() and decision in ("show", "decline"):
        try:
            entry = services.decide_thanks(db.session, entry_id, show=decision == "show",
                                           by=current_user)
        except services.NameAlreadyDecided as err:
            db.session.rollback()
            flash(err.message, "error")
        else:
            others = services.others_thanked(db.session, entry)
            db.session.commit()
            label = _label(entry)
            if decision == "show":
                flash(f"“{label}” is now in the thanks.", "success")
            else:
                also = (f" It is still thanked for {_gifts(others)} staff entered or showed "
                        "before: “Stop thanking” on the ledger takes it off." if others else "")
                flash(f"Gift {entry.id} won’t thank “{label}” in public. The gift still "
                      "counts; “Thank by name again” on its ledger line undoes this."
                      f"{also}", "success")
    return redirect(url_for(".index", _anchor="names-heading"))


@bp.route("/names/<int:entry_id>/withdraw", methods=["POST"])
@access("staff", fresh=True)
def withdraw_name(entry_id: int):
    """"Stop thanking" on a ledger line: a donor who asks not to be named any more."""

    def done(entry: Entry) -> str:
        label, others = _label(entry), services.others_thanked(db.session, entry)
        more = ""
        if others == 1:
            more = (f" One other gift to this campaign still thanks “{label}”: stop it too to "
                    "take the name off the list.")
        elif others:
            more = (f" {others} other gifts to this campaign still thank “{label}”: stop those "
                    "too to take the name off the list.")
        return f"Gift {entry.id} no longer thanks “{label}” in public.{more}"

    return _ledger_line_action(entry_id, services.withdraw_thanks, done)


@bp.route("/names/<int:entry_id>/again", methods=["POST"])
@access("staff", fresh=True)
def thank_again(entry_id: int):
    """"Thank by name again" on a declined ledger line: undoes "Don't print it" or "Stop
    thanking"."""
    return _ledger_line_action(
        entry_id, services.thank_again,
        lambda entry: f"Gift {entry.id} thanks “{_label(entry)}” in public again.")


def _ledger_line_action(entry_id: int, change, done):
    """A ledger line's thanks button: ``change(session, id, by=)``, then ``done(entry)``'s
    message (read before the commit), or the refusal's; back to the ledger page it was on."""
    entry = db.get_or_404(Entry, entry_id)
    if EmptyForm().validate_on_submit():
        try:
            change(db.session, entry.id, by=current_user)
        except services.NameAlreadyDecided as err:
            db.session.rollback()
            flash(err.message, "error")
        else:
            message = done(entry)
            db.session.commit()
            flash(message, "success")
    return _back_to_ledger(entry)


def _gifts(count: int) -> str:
    return "one other gift" if count == 1 else f"{count} other gifts"


def _label(entry: Entry) -> str:
    return entry.donor_name + (f" of {entry.donor_town}" if entry.donor_town else "")


def _back_to_ledger(entry: Entry):
    """Back to the ledger page the button was on (its filters and page kept), at the
    message; any other address given is ignored."""
    back = request.form.get("back", "")
    home = f"/staff/fund/{entry.campaign_id}"
    path = unquote(urlsplit(back).path)
    if not (is_safe_next(back) and (path == home or path.startswith(home + "/"))
            and posixpath.normpath(path) == path):  # no "/staff/fund/1/../../admin"
        back = url_for(".ledger", campaign_id=entry.campaign_id)
    return redirect(back.split("#")[0] + "#messages")


@bp.route("/campaigns/new", methods=["GET", "POST"])
@access("staff", fresh=True)
def new_campaign():
    form = CampaignForm()
    if request.method == "GET":
        values = services.next_month_values(db.session, _today())
        form.name.data, form.slug.data = values["name"], values["slug"]
        form.target.data = money(values["target_pence"]).lstrip("£")
        form.opens_on.data, form.deadline.data = values["opens_on"], values["deadline"]
        form.donate_url.data = values["donate_url"]
        form.thank_you_text.data = values["thank_you_text"]
    if form.validate_on_submit():
        sent = submissions.claim(db.session, form)
        try:
            campaign = services.create_campaign(
                db.session, name=form.name.data, slug=form.slug.data,
                target_pence=form.target.pence, opens_on=form.opens_on.data,
                deadline=form.deadline.data, donate_url=form.donate_url.data or "",
                thank_you_text=form.thank_you_text.data or "", by=current_user,
            )
        except services.FundError as err:
            db.session.rollback()
            _show_error(form, err)
        else:
            url = sent.leads_to(url_for(".campaign", campaign_id=campaign.id))
            db.session.commit()
            flash(f"Created {campaign.name}.", "success")
            return redirect(url)
    status = 422 if request.method == "POST" else 200
    return render_template("fund/staff/campaign_form.html", form=form, campaign=None), status


@bp.route("/campaigns/next", methods=["POST"])
@access("staff", fresh=True)
def next_campaign():
    """Next month's campaign in one click: same target, the month's first and last day."""
    form = SentOnceButton()
    if not form.validate_on_submit():
        return redirect(url_for(".index"))
    sent = submissions.claim(db.session, form)
    try:
        campaign = services.create_next_month(db.session, _today(), by=current_user)
    except services.FundError as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(url_for(".index"))
    url = sent.leads_to(url_for(".campaign", campaign_id=campaign.id))
    db.session.commit()
    flash(f"Created {campaign.name}: {money(campaign.target_pence)} from "
          f"{campaign.opens_on:%-d %B} to {campaign.deadline:%-d %B %Y}.", "success")
    return redirect(url)


@bp.route("/<int:campaign_id>")
@access("staff")
def campaign(campaign_id: int):
    campaign = _campaign_or_404(campaign_id)
    recent = db.session.scalars(
        services.ledger_statement(campaign.id).options(selectinload(Entry.entered_by)).limit(10)
    ).all()
    return render_template(
        "fund/staff/campaign.html", campaign=campaign, fund=services.figures_of(campaign),
        now=now_utc(), recent=recent, action_form=EmptyForm(), source_labels=SOURCE_LABELS,
        today=_today(),
    )


@bp.route("/<int:campaign_id>/edit", methods=["GET", "POST"])
@access("staff", fresh=True)
def edit_campaign(campaign_id: int):
    """Change the name, target, dates and texts; the ledger can't be changed here."""
    campaign = _campaign_or_404(campaign_id)
    form = EditCampaignForm(obj=campaign)
    version = form.version_of(campaign, *form.EDITS)
    if request.method == "GET":
        form.target.data = money(campaign.target_pence).lstrip("£")
        form.seen.data = version
    valid = form.validate_on_submit()
    if valid:
        submissions.check(db.session, form)  # sent again (a double click): not a clash
    if valid and not form.edited_meanwhile(version):
        old_name = campaign.name
        sent = submissions.claim(db.session, form)
        try:
            services.update_campaign(
                db.session, campaign, name=form.name.data, target_pence=form.target.pence,
                opens_on=form.opens_on.data, deadline=form.deadline.data,
                donate_url=form.donate_url.data or "",
                thank_you_text=form.thank_you_text.data or "", by=current_user,
            )
        except services.FundError as err:
            db.session.rollback()
            _show_error(form, err)
        else:
            url = sent.leads_to(url_for(".campaign", campaign_id=campaign.id))
            db.session.commit()
            if campaign.name != old_name:
                flash(f"Renamed “{old_name}” to “{campaign.name}” and saved.", "success")
            else:
                flash(f"Saved {campaign.name}.", "success")
            return redirect(url)
    status = 422 if request.method == "POST" else 200
    return render_template("fund/staff/campaign_form.html", form=form,
                           campaign=campaign), status


@bp.route("/<int:campaign_id>/close", methods=["POST"])
@access("staff", fresh=True)
def close(campaign_id: int):
    campaign = _campaign_or_404(campaign_id)
    form = ConfirmForm()
    if form.validate_on_submit() and not form.confirm.data:
        flash(not_confirmed("Close this campaign"), "error")
    elif form.validate_on_submit():
        try:
            services.close_campaign(db.session, campaign, by=current_user)
        except services.FundError as err:
            db.session.rollback()
            flash(err.message, "error")
        else:
            db.session.commit()
            flash(f"Closed {campaign.name} at {money(campaign.raised_pence)}. It takes no "
                  "more entries.", "success")
    return redirect(url_for(".campaign", campaign_id=campaign.id))


@bp.route("/<int:campaign_id>/delete", methods=["POST"])
@access("staff", fresh=True)
def delete(campaign_id: int):
    """A campaign made by mistake (see ``services.delete_campaign``)."""
    campaign = _campaign_or_404(campaign_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return redirect(url_for(".campaign", campaign_id=campaign.id))
    if not form.confirm.data:
        flash(not_confirmed("Delete this campaign"), "error")
        return redirect(url_for(".campaign", campaign_id=campaign.id))
    name = campaign.name
    try:
        services.delete_campaign(db.session, campaign, _today(), by=current_user)
    except services.FundError as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(url_for(".campaign", campaign_id=campaign.id))
    db.session.commit()
    flash(f"Deleted {name}.", "success")
    return redirect(url_for(".index"))


@bp.route("/<int:campaign_id>/reopen", methods=["POST"])
@access("staff", fresh=True)
def reopen(campaign_id: int):
    campaign = _campaign_or_404(campaign_id)
    if EmptyForm().validate_on_submit():
        try:
            services.reopen_campaign(db.session, campaign, by=current_user)
        except services.FundError as err:
            db.session.rollback()
            flash(err.message, "error")
        else:
            db.session.commit()
            flash(f"Reopened {campaign.name}.", "success")
    return redirect(url_for(".campaign", campaign_id=campaign.id))


# ---------------------------------------------------------------------------------------------
# Money in: one gift, a day's post, set total, corrections


def _entry_page(template: str, campaign: Campaign, form, status: int = 200, **extra):
    return render_template(template, campaign=campaign, fund=services.figures_of(campaign),
                           now=now_utc(), form=form, **extra), status


@bp.route("/<int:campaign_id>/gifts/new", methods=["GET", "POST"])
@access("staff", fresh=True)
def add_gift(campaign_id: int):
    campaign = _campaign_or_404(campaign_id)
    form = GiftForm()
    unchecked = None  # the name "Gift like this" started from isn't thanked in public
    if request.method == "GET":
        form.received_on.data = _default_day(campaign)
        form.source.data = "post"
        like = _entry_from_args(campaign)
        if like is not None and not like.is_correction:  # "Gift like this": same donor, source
            form.source.data = like.source
            form.donor_name.data = like.donor_name
            form.donor_town.data = like.donor_town
            # a name typed online and not (yet) shown is not ticked for print by a copy
            form.may_thank.data = like.thanked
            if like.may_thank and not like.thanked:
                unchecked = like.thanks_check
    if form.validate_on_submit():
        sent = submissions.claim(db.session, form)
        try:
            services.add_entry(
                db.session, campaign, form.amount.pence, received_on=form.received_on.data,
                source=form.source.data, by=current_user, via="staff",
                donor_name=form.donor_name.data, donor_town=form.donor_town.data,
                may_thank=form.may_thank.data,
            )
        except services.FundError as err:
            db.session.rollback()
            _show_error(form, err)
        else:
            url = sent.leads_to(url_for(".add_gift", campaign_id=campaign.id))
            db.session.commit()
            flash(f"Added {money(form.amount.pence)}. {campaign.name} now stands at "
                  f"{money(campaign.raised_pence)}.", "success")
            return redirect(url)
    return _entry_page("fund/staff/gift.html", campaign, form,
                       422 if request.method == "POST" else 200, unchecked=unchecked)


@bp.route("/<int:campaign_id>/batch", methods=["GET", "POST"])
@access("staff", fresh=True)
def batch(campaign_id: int):
    """A day's post: several amounts in one form, saved all together or not at all."""
    campaign = _campaign_or_404(campaign_id)
    form = BatchForm()
    if request.method == "GET":
        rows = request.args.get("rows", type=int) or BATCH_ROWS
        rows = min(max(rows, 1), BATCH_ROWS_MAX)
        while len(form.lines.entries) < rows:
            form.lines.append_entry()
        while len(form.lines.entries) > rows:
            form.lines.pop_entry()
        form.received_on.data = _default_day(campaign)
    action = request.form.get("action")
    if request.method == "POST" and action == "more":
        # every typed line comes back as it was, with empty lines after it; nothing is checked
        # or saved (so no errors yet: the lines are still being typed)
        first_new = len(form.lines.entries)
        for _ in range(min(BATCH_MORE, BATCH_ROWS_MAX - first_new)):
            form.lines.append_entry()
        return _batch_page(campaign, form)
    if request.method == "POST" and action == "check":
        # the running total to compare with the paying-in slip; nothing is saved
        ok = form.validate()
        _batch_line_errors(form)
        return _batch_page(campaign, form, 200 if ok else 422, checked=batch_total(form))
    if form.validate_on_submit():
        lines = [
            services.BatchLine(
                amount_pence=line.form.amount.pence, source=form.source.data,
                donor_name=line.form.donor_name.data, donor_town=line.form.donor_town.data,
                may_thank=line.form.may_thank.data,
            )
            for line in form.lines.entries if not line.form.is_blank
        ]
        numbers = [line_number(line) for line in form.lines.entries if not line.form.is_blank]
        sent = submissions.claim(db.session, form)
        try:
            entries = services.add_batch(db.session, campaign, lines,
                                         received_on=form.received_on.data, by=current_user)
        except services.BatchError as err:
            db.session.rollback()
            row = [line for line in form.lines.entries
                   if line_number(line) == numbers[err.line - 1]][0].form
            field_name = FIELD_MAP.get(err.field or "", err.field)
            target = getattr(row, field_name, None) if field_name else None
            if target is None:
                target = getattr(form, field_name, None) if field_name else None
            if target is not None and hasattr(target, "errors"):
                target.errors = [*target.errors, err.error.message]
            form.form_errors.append(f"Line {numbers[err.line - 1]}: {err.error.message} "
                                    "Nothing was saved.")
        except services.FundError as err:
            db.session.rollback()
            _show_error(form, err)
        else:
            url = sent.leads_to(url_for(".campaign", campaign_id=campaign.id))
            db.session.commit()
            total = sum(e.amount_pence for e in entries)
            flash(f"Added {len(entries)} gift{'s' if len(entries) != 1 else ''} totalling "
                  f"{money(total)}. {campaign.name} now stands at "
                  f"{money(campaign.raised_pence)}.", "success")
            return redirect(url)
    elif request.method == "POST":
        _batch_line_errors(form, " Nothing was saved.")
    return _batch_page(campaign, form, 422 if request.method == "POST" else 200)


def _batch_page(campaign: Campaign, form: BatchForm, status: int = 200, **extra):
    return _entry_page("fund/staff/batch.html", campaign, form, status, max_rows=BATCH_ROWS_MAX,
                       more_rows=BATCH_MORE, **extra)


def _batch_line_errors(form: BatchForm, after: str = "") -> None:
    bad = [line_number(line) for line in form.lines.entries if line.form.errors]
    if bad:
        form.form_errors.append(
            "Check line" + ("s " if len(bad) > 1 else " ") + ", ".join(map(str, bad))
            + "." + after)


@dataclass(frozen=True)
class BatchTotal:
    """What "Check total" shows: the lines with a good amount, and what they add up to."""

    lines: int
    total_pence: int
    #: lines whose amount could not be read (not counted)
    unreadable: int


def batch_total(form: BatchForm) -> BatchTotal:
    """The count and total of a validated batch form's lines with an amount."""
    amounts = [line.form.amount.pence for line in form.lines.entries
               if (line.form.amount.data or "").strip()]
    good = [a for a in amounts if isinstance(a, int) and not isinstance(a, bool)]
    return BatchTotal(lines=len(good), total_pence=sum(good), unreadable=len(amounts) - len(good))


@bp.route("/<int:campaign_id>/set-total", methods=["GET", "POST"])
@access("staff", fresh=True)
def set_total(campaign_id: int):
    """Set the running total to a known figure; refused if the fund changed since the form
    was loaded (the hidden total and count are the guard)."""
    campaign = _campaign_or_404(campaign_id)
    form = SetTotalForm()
    if request.method == "GET":
        form.received_on.data = _default_day(campaign)
        form.expected_pence.data = str(campaign.raised_pence)
        form.expected_count.data = str(campaign.entry_count)
    submitted = form.validate_on_submit()
    if submitted and form.expected() is None:
        form.expected_pence.data = str(campaign.raised_pence)
        form.expected_count.data = str(campaign.entry_count)
        form.form_errors.append("Nothing was saved: this form didn't say which total it was "
                                "loaded with. Check the total below and send it again.")
    elif submitted:
        expected_pence, expected_count = form.expected()
        try:
            entry = services.set_total(
                db.session, campaign, form.new_total.pence, expected_pence=expected_pence,
                expected_count=expected_count, received_on=form.received_on.data,
                reason=form.reason.data, by=current_user,
            )
        except services.TotalChanged as err:
            db.session.rollback()
            db.session.refresh(campaign)
            form.expected_pence.data = str(campaign.raised_pence)
            form.expected_count.data = str(campaign.entry_count)
            form.form_errors.append(
                f"Nothing was saved: someone changed the fund while you had this form open. "
                f"The total is now {money(err.current_pence, always_pence=True)}. Check the "
                "figure and send the form again if it's still right.")
            return _entry_page("fund/staff/set_total.html", campaign, form, 409)
        except services.FundError as err:
            db.session.rollback()
            _show_error(form, err)
        else:
            db.session.commit()
            flash(f"Total set to {money(campaign.raised_pence, always_pence=True)}: a correction "
                  f"of {money(entry.amount_pence, always_pence=True)} was recorded.", "success")
            return redirect(url_for(".campaign", campaign_id=campaign.id))
    return _entry_page("fund/staff/set_total.html", campaign, form,
                       422 if request.method == "POST" else 200)


@bp.route("/<int:campaign_id>/corrections/new", methods=["GET", "POST"])
@access("staff", fresh=True)
def add_correction(campaign_id: int):
    """A correction entry (either sign) with a required reason: the ledger is never edited."""
    campaign = _campaign_or_404(campaign_id)
    form = CorrectionForm()
    if request.method == "GET":
        form.received_on.data = _default_day(campaign)
        correcting = _entry_from_args(campaign)
    else:
        correcting = _campaign_entry(campaign, id_or_none(form.corrects.data))
    corrected = (services.corrections_of(db.session, [correcting.id]).get(correcting.id)
                 if correcting is not None else None)
    if request.method == "GET" and correcting is not None:
        # "Correct" on a ledger row: what is left of it to reverse, to edit (nothing, once
        # earlier corrections have reversed it all: the page says so)
        form.corrects.data = str(correcting.id)
        form.corrections_seen.data = services.corrections_version(corrected)
        left = correcting.amount_pence + (corrected.pence if corrected else 0)
        form.amount.data = money_input(-left) if left else ""
        form.source.data = correcting.source
    if form.validate_on_submit():
        sent = submissions.claim(db.session, form)
        try:
            services.add_correction(
                db.session, campaign, form.amount.pence, reason=form.reason.data,
                received_on=form.received_on.data, source=form.source.data, by=current_user,
                # a form sent without what it was drawn from is checked as drawn from none
                corrects=correcting, seen=(form.corrections_seen.data or "none")
                if correcting is not None else None,
            )
        except services.FundError as err:
            db.session.rollback()
            _show_error(form, err)
            if isinstance(err, services.CorrectedMeanwhile):  # drawn again as it is now
                corrected = services.corrections_of(db.session, [correcting.id]).get(
                    correcting.id)
                form.corrections_seen.data = services.corrections_version(corrected)
        else:
            url = sent.leads_to(url_for(".campaign", campaign_id=campaign.id))
            db.session.commit()
            flash(f"Correction of {money(form.amount.pence, always_pence=True)} recorded. "
                  f"{campaign.name} now stands at {money(campaign.raised_pence)}.", "success")
            return redirect(url)
    return _entry_page("fund/staff/correction.html", campaign, form,
                       422 if request.method == "POST" else 200, correcting=correcting,
                       corrected=corrected, source_labels=SOURCE_LABELS)



# ---------------------------------------------------------------------------------------------
# The ledger, CSV, the daily report, verification


def _ledger_filters() -> tuple[DayForm, str | None, dt.date | None]:
    form = DayForm(request.args)
    form.validate()
    source = form.source.data if form.source.data in SOURCE_LABELS else None
    day = form.day.data if not form.day.errors else None
    return form, source, day


@bp.route("/<int:campaign_id>/ledger")
@access("staff")
def ledger(campaign_id: int):
    """Every entry, newest first, with who entered it; filter by source and day."""
    campaign = _campaign_or_404(campaign_id)
    filters, source, day = _ledger_filters()
    stmt = services.ledger_statement(campaign.id, source=source, day=day)
    page = db.paginate(stmt.options(selectinload(Entry.entered_by)), page=current_page(),
                       per_page=LEDGER_PAGE, error_out=False)
    matching = stmt.order_by(None).subquery()
    total, count = db.session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(matching.c.amount_pence), 0), sa.func.count())
        .select_from(matching)
    ).one()
    args = {k: v for k, v in (("source", source), ("day", day and day.isoformat())) if v}
    return render_template(
        "fund/staff/ledger.html", campaign=campaign, page=page, filters=filters,
        filter_total=int(total), filter_count=int(count), args=args,
        source_labels=SOURCE_LABELS, action_form=EmptyForm(),
    )


@bp.route("/entries/<int:entry_id>")
@access("staff")
def ledger_entry(entry_id: int):
    """One ledger line: the page of its campaign's ledger that holds it, at the line."""
    entry = db.get_or_404(Entry, entry_id)
    newer = db.session.scalar(
        sa.select(sa.func.count()).select_from(Entry)
        .where(Entry.campaign_id == entry.campaign_id, Entry.id > entry.id)) or 0
    page = newer // LEDGER_PAGE + 1
    return redirect(url_for(".ledger", campaign_id=entry.campaign_id,
                            **({"page": page} if page > 1 else {}), _anchor=f"entry-{entry.id}"))


@bp.route("/<int:campaign_id>/ledger.csv")
@access("staff")
def ledger_csv(campaign_id: int):
    """The ledger as CSV (same filters); text cells that could be formulas are neutralised."""
    campaign = _campaign_or_404(campaign_id)
    _filters, source, day = _ledger_filters()
    stmt = services.ledger_statement(campaign.id, source=source, day=day).options(
        selectinload(Entry.entered_by))
    header = ["id", "received_on", "amount", "amount_pence", "source", "donor_name",
              "donor_town", "may_thank", "correction_reason", "entered_by", "via",
              "entered_at_utc", "name_check"]

    def rows():
        for entry in db.session.scalars(stmt.execution_options(yield_per=1000)):
            yield [
                entry.id, entry.received_on.isoformat(),
                pounds(entry.amount_pence),  # a number, a correction's minus included
                entry.amount_pence, entry.source, entry.donor_name, entry.donor_town,
                entry.may_thank, entry.reason,
                entry.entered_by.email if entry.entered_by else None, entry.via,
                entry.created_at.isoformat(), entry.thanks_check,
            ]

    return csv_response(f"fund-{campaign.slug}-ledger.csv", header, rows())


@bp.route("/<int:campaign_id>/report")
@access("staff")
def report(campaign_id: int):
    """The fund paragraph for the printed paper, for a chosen day (default yesterday)."""
    campaign = _campaign_or_404(campaign_id)
    form = DayForm(request.args)
    form.validate()
    day = form.day.data if form.day.data and not form.day.errors else None
    if day is None:
        day = _today() - dt.timedelta(days=1)
    text = services.daily_report(db.session, campaign, day)
    return render_template("fund/staff/report.html", campaign=campaign, form=form, day=day,
                           printed_on=day + dt.timedelta(days=1), text=text)


@bp.route("/verify")
@access("staff")
def verify():
    """Recompute every campaign's total from its ledger and show any difference."""
    checked, differences = services.verify_totals(db.session)
    return render_template("fund/staff/verify.html", checked=checked, differences=differences)


@bp.route("/embed")
@access("staff")
def embed():
    """The snippets to put the fund on an article page, at the sizes in ``embed.SIZES``,
    each with a preview (when this site may frame its own widget)."""
    origins = current_app.config.get("FUND_WIDGET_ORIGINS")
    own_origin = current_app.config["BASE_URL"].rstrip("/")
    return render_template(
        "fund/staff/embed.html", sizes=embed_sizes.SIZES,
        snippets={s.width: embed_sizes.widget_snippet(s.width) for s in embed_sizes.SIZES},
        default_width=embed_sizes.DEFAULT_WIDTH, badge=embed_sizes.badge_snippet(),
        preview=origins is None or own_origin in origins,
        current=services.current_campaign(db.session, _today()))


def staff_links() -> list[tuple[str, str]]:
    return [("Fighting fund", "fund_staff.index"), ("Verify fund totals", "fund_staff.verify")]


def staff_today(session) -> dict:
    """The "staff_today" hook: gifts entered today (London) and their total, and the fund."""
    start = london_midnight(_today())
    count, total = session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(Entry.amount_pence), 0))
        .where(Entry.created_at >= start, Entry.reason.is_(None))
    ).one()
    return {"template": "fund/staff/_today.html", "order": 20, "gifts_today": int(count),
            "total_today_pence": int(total),
            "names_waiting": services.count_names_to_check(session),
            "current": services.current_campaign(session, _today())}
