"""Staff pages for online payments: Stripe events that wait for staff (unplaced, amounts that
don't match, failures) with retry, assign and dismiss; the latest events and payments."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms import SelectChoice

from coop.access import access
from coop.extensions import db
from coop.forms import EmptyForm
from coop.fund.models import Campaign
from coop.payments import gateway, services
from coop.payments.forms import AssignForm, DismissForm
from coop.payments.models import Checkout, Payment, WebhookEvent
from coop.timeutil import london_today

bp = Blueprint("payments_staff", __name__, url_prefix="/staff/payments")


@bp.route("")
@access("staff")
def index():
    """Events waiting for staff first, then the latest events and payments."""
    payments = db.session.scalars(
        sa.select(Payment).order_by(Payment.id.desc()).limit(30)).all()
    ids = {p.checkout_id for p in payments if p.checkout_id}
    checkouts = {c.id: c for c in db.session.scalars(
        sa.select(Checkout).where(Checkout.id.in_(ids)))} if ids else {}
    return render_template(
        "payments/staff/index.html", waiting=services.open_events(db.session),
        recent=services.recent_events(db.session, 30), payments=payments,
        configured=gateway.configured(), event_types=services.EVENT_TYPES,
        links={p.id: payment_link(p) for p in payments}, checkouts=checkouts)


def _event_or_404(event_id: int) -> WebhookEvent:
    return db.get_or_404(WebhookEvent, event_id)


def _assign_form(stored: WebhookEvent) -> AssignForm:
    form = AssignForm(prefix="assign")
    campaigns = db.session.scalars(
        sa.select(Campaign).where(Campaign.closed_at.is_(None))
        .order_by(Campaign.opens_on.desc())).all()
    form.campaign.choices = [SelectChoice(0, "Choose a campaign")] + [
        SelectChoice(c.id, f"{c.name} ({c.opens_on:%-d %b} – {c.deadline:%-d %b %Y})")
        for c in campaigns]
    if form.received_on.data is None and not form.is_submitted():
        form.received_on.data = london_today(stored.received_at)
    return form


@bp.route("/events/<int:event_id>", methods=["GET", "POST"])
@access("staff")
def event(event_id: int):
    """One event: what it said, what became of it, and (while it waits) assign it to a
    campaign on a day, retry it as it is, or dismiss it with a reason.

    :raise 404: no such event.
    """
    stored = _event_or_404(event_id)
    form = _assign_form(stored)
    dismiss = DismissForm(prefix="dismiss")
    status = 200
    if request.method == "POST" and form.validate_on_submit():
        campaign = db.session.get(Campaign, form.campaign.data)
        if campaign is None:
            form.campaign.errors = [*form.campaign.errors, "Choose a campaign."]
            status = 422
        else:
            try:
                outcome = services.retry_event(
                    db.session, stored, by=current_user,
                    placement=services.Placement(campaign, form.received_on.data, current_user))
            except services.PaymentError as err:
                db.session.rollback()
                dealt_with = _dealt_with(event_id, err)
                if dealt_with is not None:
                    return dealt_with
                form.form_errors.append(err.message)
                status = 422
            else:
                if outcome.status == "processed":
                    db.session.commit()
                    flash(outcome.detail, "success")
                    return redirect(url_for("payments_staff.index"))
                db.session.rollback()
                stored = _event_or_404(event_id)
                if outcome.field == "received_on":  # beside the day (QA: only at the top)
                    form.received_on.errors = [*form.received_on.errors, outcome.detail]
                else:
                    form.form_errors.append(outcome.detail)
                status = 422
    elif request.method == "POST":
        status = 422
    return render_template("payments/staff/event.html", event=stored, form=form,
                           dismiss=dismiss, retry=EmptyForm(prefix="retry"),
                           payload=_pretty(stored.payload)), status


@bp.route("/events/<int:event_id>/retry", methods=["POST"])
@access("staff")
def retry(event_id: int):
    """Act on a kept event again, as Stripe sent it.

    :raise 404: no such event.
    """
    stored = _event_or_404(event_id)
    if not EmptyForm(prefix="retry").validate_on_submit():
        flash("The form expired; please try again.", "error")
        return redirect(url_for("payments_staff.event", event_id=stored.id))
    try:
        outcome = services.retry_event(db.session, stored, by=current_user)
    except services.PaymentError as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(url_for("payments_staff.event", event_id=stored.id))
    db.session.commit()
    flash(f"Tried again: {outcome.detail}", "success" if outcome.status == "processed"
          else "error")
    return redirect(url_for("payments_staff.event", event_id=stored.id))


@bp.route("/events/<int:event_id>/dismiss", methods=["POST"])
@access("staff")
def dismiss(event_id: int):
    """Mark a kept event as needing nothing, with the reason.

    :raise 404: no such event.
    """
    stored = _event_or_404(event_id)
    form = DismissForm(prefix="dismiss")
    if form.validate_on_submit():
        try:
            services.dismiss_event(db.session, stored, reason=form.reason.data, by=current_user)
        except services.PaymentError as err:
            db.session.rollback()
            dealt_with = _dealt_with(event_id, err)
            if dealt_with is not None:
                return dealt_with
            form.reason.errors = [*form.reason.errors, err.message]
        else:
            db.session.commit()
            flash("Dismissed.", "success")
            return redirect(url_for("payments_staff.index"))
    return render_template("payments/staff/event.html", event=stored, form=_assign_form(stored),
                           dismiss=form, retry=EmptyForm(prefix="retry"),
                           payload=_pretty(stored.payload)), 422


def _dealt_with(event_id: int, err: services.PaymentError):
    """Someone else dealt with the event while this page was open: its forms are gone from
    the page, so the answer is the page as it is now with the reason said at the top (QA: a
    422 with the message on a form no longer drawn); None while the event still waits."""
    stored = _event_or_404(event_id)
    if stored.is_open:
        return None
    flash(f"{err.message} Its status now: {stored.status_label}.", "info")
    return redirect(url_for("payments_staff.event", event_id=stored.id))


def _pretty(payload: str) -> str:
    import json

    try:
        return json.dumps(json.loads(payload), indent=2, sort_keys=True)[:20_000]
    except ValueError:
        return payload[:20_000]


def payment_link(payment: Payment) -> str | None:
    """The payment in Stripe's dashboard: the payment intent, else the invoice, else the
    charge or dispute."""
    live = payment.livemode
    if payment.kind == "dispute":
        return gateway.dashboard_url("disputes", payment.stripe_ref, livemode=live)
    if payment.payment_intent_id:
        return gateway.dashboard_url("payments", payment.payment_intent_id, livemode=live)
    if payment.invoice_id:
        return gateway.dashboard_url("invoices", payment.invoice_id, livemode=live)
    return gateway.dashboard_url("payments", payment.charge_id, livemode=live)


def entry_links(_session, entries) -> dict[int, tuple[str, str]]:
    """The "entry_links" hook: each ledger entry made from Stripe → (label, dashboard URL)."""
    ids = [e.id for e in entries if e.via == services.VIA]
    found = services.payment_for_entries(db.session, ids)
    return {entry_id: ("View in Stripe", url) for entry_id, p in found.items()
            if (url := payment_link(p))}


def staff_links() -> list[tuple[str, str]]:
    return [("Online payments (Stripe)", "payments_staff.index")]

