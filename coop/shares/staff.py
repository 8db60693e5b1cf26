"""The staff inbox: find, work, export and erase share and supporter enquiries."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from coop.access import access
from coop.csvexport import csv_response
from coop.extensions import db
from coop.formatting import LONDON, money_input
from coop.forms import EmptyForm
from coop.limits import current_page
from coop.shares import services
from coop.shares.forms import EraseForm, InboxFilterForm, NoteForm, StatusForm
from coop.shares.mail import send_acknowledgement
from coop.shares.models import Enquiry

bp = Blueprint("shares_staff", __name__, url_prefix="/staff/enquiries")

PER_PAGE = 25


def _filters() -> tuple[InboxFilterForm, services.InboxFilter]:
    form = InboxFilterForm(request.args)
    form.validate()

    def clean(field):
        return None if field.errors else field.data

    filters = services.InboxFilter(
        kind=clean(form.kind) or "",
        status=clean(form.status) or "",
        date_from=clean(form.date_from),
        date_to=clean(form.date_to),
        q=(clean(form.q) or "").strip(),
        email_failed=bool(form.email_failed.data),
    )
    return form, filters


def _filter_args(filters: services.InboxFilter) -> dict:
    args = {
        "kind": filters.kind, "status": filters.status, "q": filters.q,
        "date_from": filters.date_from.isoformat() if filters.date_from else "",
        "date_to": filters.date_to.isoformat() if filters.date_to else "",
        "email_failed": "y" if filters.email_failed else "",
    }
    return {k: v for k, v in args.items() if v}


@bp.route("")
@access("staff")
def inbox():
    """Every enquiry, newest first, filtered by kind, status, dates and a search."""
    form, filters = _filters()
    page = db.paginate(services.inbox_statement(filters), page=current_page(), per_page=PER_PAGE,
                       error_out=False)
    return render_template("shares/staff/inbox.html", form=form, page=page,
                           filter_args=_filter_args(filters))


@bp.route("/export.csv")
@access("staff", fresh=True)
def export():
    """The filtered list as CSV; cells that could start a formula are neutralised."""
    _form, filters = _filters()
    enquiries = db.session.scalars(services.inbox_statement(filters))
    header = ["Reference", "Kind", "Status", "Received", "Amount (£)", "Frequency",
              "Payment method", "Existing holder", "Member number", "Name", "Email", "Phone",
              "Address", "Postcode", "Country", "Newsletter opt-in", "Email failed", "Erased"]

    def rows():
        for e in enquiries:
            yield [
                e.reference, e.kind, e.status,
                e.created_at.astimezone(LONDON).strftime("%Y-%m-%d %H:%M"),
                money_input(e.amount_pence), e.frequency_label, e.payment_label,
                e.existing_holder, e.member_number, e.name, e.email, e.phone, e.address,
                e.postcode, e.country_name if e.country else "", e.newsletter_opt_in,
                e.email_failed, e.is_erased,
            ]

    return csv_response("enquiries.csv", header, rows())


def _get(enquiry_id: int) -> Enquiry:
    enquiry = db.session.get(Enquiry, enquiry_id)
    if enquiry is None:
        abort(404)
    return enquiry


def _detail(enquiry: Enquiry, *, status_form=None, note_form=None, erase_form=None,
            code: int = 200):
    if status_form is None:
        status_form = StatusForm(formdata=None)
        if enquiry.next_statuses:
            status_form.status.data = enquiry.next_statuses[0].value
    status_form.status.choices = [
        choice for choice in status_form.status.choices
        if choice.value in {s.value for s in enquiry.next_statuses}
    ]
    return render_template(
        "shares/staff/detail.html", enquiry=enquiry, status_form=status_form,
        note_form=note_form or NoteForm(formdata=None),
        erase_form=erase_form or EraseForm(formdata=None), action_form=EmptyForm(),
    ), code


@bp.route("/<int:enquiry_id>")
@access("staff")
def detail(enquiry_id: int):
    return _detail(_get(enquiry_id))


@bp.route("/<int:enquiry_id>/status", methods=["POST"])
@access("staff")
def change_status(enquiry_id: int):
    enquiry = _get(enquiry_id)
    form = StatusForm()
    if form.validate_on_submit():
        try:
            services.change_status(db.session, enquiry, form.status.data, by=current_user)
        except services.InvalidTransition as err:
            db.session.rollback()
            form.status.errors = [str(err)]
        else:
            db.session.commit()
            flash(f"{enquiry.reference} is now {enquiry.status}.", "success")
            return redirect(url_for("shares_staff.detail", enquiry_id=enquiry.id))
    return _detail(enquiry, status_form=form, code=422)


@bp.route("/<int:enquiry_id>/notes", methods=["POST"])
@access("staff")
def add_note(enquiry_id: int):
    enquiry = _get(enquiry_id)
    form = NoteForm()
    if form.validate_on_submit():
        try:
            services.add_note(db.session, enquiry, form.body.data, by=current_user)
        except services.EnquiryError as err:
            db.session.rollback()
            form.body.errors = [str(err)]
        else:
            db.session.commit()
            flash("Note added.", "success")
            return redirect(url_for("shares_staff.detail", enquiry_id=enquiry.id) + "#notes")
    return _detail(enquiry, note_form=form, code=422)


@bp.route("/<int:enquiry_id>/resend", methods=["POST"])
@access("staff")
def resend(enquiry_id: int):
    """Send the acknowledgement again, e.g. after the mail server was down."""
    enquiry = _get(enquiry_id)
    if not EmptyForm().validate_on_submit():
        return redirect(url_for("shares_staff.detail", enquiry_id=enquiry.id))
    if enquiry.is_erased:
        flash("This enquiry has been erased: there is no address to send to.", "error")
    elif send_acknowledgement(db.session, enquiry):
        flash(f"The acknowledgement was sent to {enquiry.email}.", "success")
    else:
        flash("The acknowledgement could not be sent. The mail server may be down; "
              "try again later.", "error")
    db.session.commit()
    return redirect(url_for("shares_staff.detail", enquiry_id=enquiry.id))


@bp.route("/<int:enquiry_id>/erase", methods=["POST"])
@access("staff", fresh=True)
def erase(enquiry_id: int):
    """Remove the person's data, keeping an anonymous record for the society's statistics."""
    enquiry = _get(enquiry_id)
    form = EraseForm()
    if not form.validate_on_submit():
        return _detail(enquiry, erase_form=form, code=422)
    if services.erase(db.session, enquiry, by=current_user):
        db.session.commit()
        flash(f"The personal data on {enquiry.reference} has been erased.", "success")
    else:
        flash(f"{enquiry.reference} was already erased.", "info")
    return redirect(url_for("shares_staff.detail", enquiry_id=enquiry.id))
