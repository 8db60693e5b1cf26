"""The staff inbox: find, work, export and erase share and supporter enquiries."""

from __future__ import annotations

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from wtforms import SelectChoice

from coop import submissions
from coop.access import access
from coop.csvexport import csv_response
from coop.extensions import db
from coop.formatting import LONDON, joined, money, money_input, url_if
from coop.forms import EmptyForm, redraws_on_stale_token, show_error
from coop.limits import current_page
from coop.mail import MailError
from coop.register import services as register
from coop.shares import mail, services
from coop.shares.forms import (
    AdmitForm,
    ContactForm,
    EraseForm,
    InboxFilterForm,
    NoteForm,
    PaymentForm,
    ReopenForm,
    StatusForm,
)
from coop.shares.mail import send_acknowledgement
from coop.shares.models import Enquiry, Kind, PaidMethod, Status
from coop.timeutil import london_today

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
    if form.errors:  # a filter that can't be read lists nothing rather than everything
        return render_template("shares/staff/inbox.html", form=form, page=None,
                               filter_args={}), 422
    page = db.paginate(services.inbox_statement(filters), page=current_page(), per_page=PER_PAGE,
                       error_out=False)
    return render_template("shares/staff/inbox.html", form=form, page=page,
                           filter_args=_filter_args(filters))


@bp.route("/export.csv")
@access("staff", fresh=True)
def export():
    """The filtered list as CSV; cells that could start a formula are neutralised."""
    form, filters = _filters()
    if form.errors:  # the list page says what's wrong with the filter
        return redirect(url_for("shares_staff.inbox", **{
            field.name: request.args[field.name] for field in form
            if field.name in request.args}))
    enquiries = db.session.scalars(services.inbox_statement(filters))
    header = ["Reference", "Kind", "Status", "Received", "Amount (£)", "Frequency",
              "Payment method", "Existing holder", "Member number", "Name", "Email", "Phone",
              "Address", "Postcode", "Country", "Newsletter opt-in", "Email failed", "Erased",
              "Paid (£)", "Paid on", "Paid by", "Membership number"]

    def rows():
        for e in enquiries:
            yield [
                e.reference, e.kind_enum.label, e.status_enum.label,  # as the pages say them
                e.created_at.astimezone(LONDON).strftime("%Y-%m-%d %H:%M"),
                money_input(e.amount_pence), e.frequency_label, e.payment_label,
                e.existing_holder, e.member_number, e.name, e.email, e.phone, e.address,
                e.postcode, e.country_name if e.country else "", e.newsletter_opt_in,
                e.email_failed, e.is_erased,
                money_input(e.paid_pence), e.paid_on.isoformat() if e.paid_on else "",
                e.paid_method_label,
                f"{e.membership_number:06d}" if e.membership_number else "",
            ]

    return csv_response("enquiries.csv", header, rows())


def _get(enquiry_id: int) -> Enquiry:
    enquiry = db.session.get(Enquiry, enquiry_id)
    if enquiry is None:
        abort(404)
    return enquiry


def _status_form(enquiry: Enquiry, form: StatusForm | None = None) -> StatusForm | None:
    """Only the valid next steps that need no more than a reason, the natural one first;
    preselected only when it doesn't close the enquiry."""
    steps = [s for s in enquiry.next_statuses
             if s not in (Status.PAYMENT_RECEIVED, Status.ADMITTED)]
    if not steps:
        return None
    if form is None:
        form = StatusForm(formdata=None, prefix="status")
        form.seen.data = StatusForm.version_of(enquiry, "status")
        if not steps[0].closes and steps[0] == enquiry.next_statuses[0]:
            form.status.data = steps[0].value
    form.status.choices = [SelectChoice(s.value, _STEP_LABELS.get(s, s.label)) for s in steps]
    return form


_STEP_LABELS = {
    Status.CONTACTED: "Contacted: we have been in touch",
    Status.COMPLETED: "Completed: the gift is set up (closes it)",
    Status.DECLINED: "Declined by the society (closes it)",
    Status.WITHDRAWN: "Withdrawn by the reader (closes it)",
}


def _payment_open(enquiry: Enquiry) -> bool:
    """Whether a payment can be recorded, or the recorded one corrected (not yet admitted)."""
    return (Status.PAYMENT_RECEIVED in enquiry.next_statuses
            or (enquiry.status_enum == Status.PAYMENT_RECEIVED and not enquiry.is_erased))


def _payment_form(enquiry: Enquiry, form: PaymentForm | None = None) -> PaymentForm | None:
    if not _payment_open(enquiry):
        return None
    if form is None:
        form = PaymentForm(formdata=None, prefix="payment")
        if enquiry.status_enum == Status.PAYMENT_RECEIVED:  # correcting: what was recorded
            form.recorded.data = services.payment_key(enquiry)
            form.amount.data = money_input(enquiry.paid_pence)
            form.received_on.data = enquiry.paid_on
            form.method.data = enquiry.paid_method
            form.submit.label.text = "Correct the payment"
            return form
        form.amount.data = money_input(enquiry.amount_pence)
        form.received_on.data = london_today()
        if enquiry.payment_method in {m.value for m in PaidMethod}:
            form.method.data = enquiry.payment_method
    elif enquiry.status_enum == Status.PAYMENT_RECEIVED:
        form.submit.label.text = "Correct the payment"
    return form


def _detail(enquiry: Enquiry, *, status_form=None, payment_form=None, reopen_form=None,
            note_form=None, erase_form=None, code: int = 200):
    return render_template(
        "shares/staff/detail.html", enquiry=enquiry,
        status_form=_status_form(enquiry, status_form),
        payment_form=_payment_form(enquiry, payment_form),
        reopen_form=(reopen_form or ReopenForm(formdata=None, prefix="reopen"))
        if enquiry.can_reopen else None,
        note_form=note_form or NoteForm(formdata=None),
        erase_form=erase_form or EraseForm(formdata=None), action_form=EmptyForm(),
        certificate_url=_certificate_url(enquiry),
    ), code


def _certificate_url(enquiry: Enquiry) -> str | None:
    if enquiry.allotment_id is None:
        return None
    return url_if("register.certificate", transaction_id=enquiry.allotment_id)


@bp.route("/<int:enquiry_id>")
@access("staff")
def detail(enquiry_id: int):
    return _detail(_get(enquiry_id))


@bp.route("/<int:enquiry_id>/status", methods=["POST"])
@access("staff")
def change_status(enquiry_id: int):
    """Contacted, completed, declined or withdrawn; a closing step needs the confirm box."""
    enquiry = _get(enquiry_id)
    form = _status_form(enquiry, StatusForm(prefix="status"))
    if form is None:
        flash("This enquiry has no next step here: it is closed.", "error")
        return redirect(url_for("shares_staff.detail", enquiry_id=enquiry.id))
    # QA: staff B, with the page open at "new", declined an enquiry staff A had moved to
    # "contacted" meanwhile, and wasn't told
    if form.validate_on_submit() and not form.edited_meanwhile(
            StatusForm.version_of(enquiry, "status")):
        try:
            services.change_status(db.session, enquiry, form.status.data,
                                   reason=form.reason.data, by=current_user)
        except services.EnquiryError as err:
            db.session.rollback()
            show_error(form, err)
        else:
            db.session.commit()
            flash(f"{enquiry.reference} is now {enquiry.status_enum.label.lower()}.", "success")
            return redirect(url_for("shares_staff.detail", enquiry_id=enquiry.id))
    return _detail(enquiry, status_form=form, code=422)


@bp.route("/<int:enquiry_id>/payment", methods=["POST"])
@access("staff")
def record_payment(enquiry_id: int):
    """Payment received: amount, date and method."""
    enquiry = _get(enquiry_id)
    correcting = (request.form.get("payment-recorded")
                  if enquiry.status_enum == Status.PAYMENT_RECEIVED else None)
    if not _payment_open(enquiry) or (enquiry.status_enum == Status.PAYMENT_RECEIVED
                                      and correcting != services.payment_key(enquiry)):
        # sent twice (a double click, or Back and send again): the page has no payment form
        # now to put the error next to, so it says so at the top
        flash(f"A payment can't be recorded on {enquiry.reference} now: it is "
              f"“{enquiry.status_enum.label}”"
              + (f", with {money(enquiry.paid_pence)} recorded" if enquiry.paid_pence else "")
              + ".", "error")
        return redirect(url_for("shares_staff.detail", enquiry_id=enquiry.id))
    form = PaymentForm(prefix="payment")
    most = current_app.config["SHARES_MAX_POUNDS" if enquiry.kind == Kind.SHARES
                              else "SUPPORT_MAX_POUNDS"] * 100
    # read as the enquiry takes it (QA: "like 12 or 12.50" for shares, which are whole
    # pounds, and "at most £10,000,000" where £100,000 is the most)
    form.amount.whole_pounds = enquiry.kind == Kind.SHARES
    form.amount.max_pence = most
    if form.validate_on_submit():
        try:
            services.record_payment(
                db.session, enquiry, amount_pence=form.amount.pence,
                received_on=form.received_on.data, method=form.method.data, by=current_user,
                correcting=correcting, max_pence=most)
        except services.ChangedMeanwhile as err:
            db.session.rollback()
            if not _payment_open(enquiry):  # admitted meanwhile: the form isn't drawn now
                flash(str(err), "error")
                return redirect(url_for("shares_staff.detail", enquiry_id=enquiry.id))
            show_error(form, err)
        except services.EnquiryError as err:
            db.session.rollback()
            show_error(form, err)
        else:
            db.session.commit()
            flash(f"Payment of {money(enquiry.paid_pence)} recorded on {enquiry.reference}.",
                  "success")  # a correction too: the history says what it was before
            return redirect(url_for("shares_staff.detail", enquiry_id=enquiry.id))
    return _detail(enquiry, payment_form=form, code=422)


@bp.route("/<int:enquiry_id>/reopen", methods=["POST"])
@access("staff")
def reopen(enquiry_id: int):
    """A closed enquiry back to the step it was closed from, with the reason."""
    enquiry = _get(enquiry_id)
    if not enquiry.can_reopen:
        flash("This enquiry can't be reopened.", "error")
        return redirect(url_for("shares_staff.detail", enquiry_id=enquiry.id))
    form = ReopenForm(prefix="reopen")
    if form.validate_on_submit():
        try:
            services.reopen(db.session, enquiry, reason=form.reason.data, by=current_user)
        except services.EnquiryError as err:
            db.session.rollback()
            show_error(form, err)
        else:
            db.session.commit()
            flash(f"{enquiry.reference} is open again: "
                  f"{enquiry.status_enum.label.lower()}.", "success")
            return redirect(url_for("shares_staff.detail", enquiry_id=enquiry.id))
    return _detail(enquiry, reopen_form=form, code=422)


def _match_choices(enquiry: Enquiry, member) -> list[SelectChoice]:
    if member is None:
        return []
    held = f"{member.shares_held:,} share{'' if member.shares_held == 1 else 's'}"
    return [
        SelectChoice("existing", f"The same person: add the shares to member "
                                 f"{member.number_text}, {member.name} ({held} now)"),
        SelectChoice("new", "A different person: admit as a new member with a new number"),
    ]


@bp.route("/<int:enquiry_id>/admit", methods=["GET", "POST"])
@access("staff")
def admit(enquiry_id: int):
    """The confirmation page of an admission: what goes into the register, an existing
    member with the same email to confirm or rule out, a tick; then the allotment.
    """
    enquiry = _get(enquiry_id)
    if enquiry.status_enum == Status.ADMITTED:
        flash("This enquiry has already been admitted: see the register.", "info")
        return redirect(url_for("shares_staff.detail", enquiry_id=enquiry.id))
    if enquiry.kind != Kind.SHARES or enquiry.status_enum != Status.PAYMENT_RECEIVED \
            or enquiry.is_erased:
        flash("Only a share enquiry whose payment has been received can be admitted.", "error")
        return redirect(url_for("shares_staff.detail", enquiry_id=enquiry.id))
    match = register.find_member_by_email(db.session, enquiry.email)
    form = AdmitForm(prefix="admit")
    form.match.choices = _match_choices(enquiry, match)
    if request.method == "GET":
        form.on.data = london_today()
        form.payment.data = services.payment_key(enquiry)
    elif form.validate_on_submit():
        if match is not None and form.match.data not in ("existing", "new"):
            form.match.errors = ["Say whether this is the same person as member "
                                 f"{match.number_text}."]
        else:
            member = match if (match is not None and form.match.data == "existing") else None
            try:
                allotment = services.admit(db.session, enquiry, on=form.on.data,
                                           by=current_user, member=member,
                                           new_address=bool(form.new_address.data),
                                           payment=form.payment.data or None)
            except (services.EnquiryError, register.RegisterError, MailError) as err:
                db.session.rollback()
                _show_register_error(form, err)
                if isinstance(err, services.ChangedMeanwhile):  # confirm what is shown now
                    form.payment.data = services.payment_key(enquiry)
            else:
                row = mail.enqueue(db.session, mail.admitted(enquiry, allotment))
                db.session.commit()
                sent = mail.delivery_state(db.session, row.id) != "failed"
                flash(f"{enquiry.name} is member {allotment.member.number_text}, with "
                      f"{allotment.member.shares_held:,} shares."
                      + ("" if sent else " The welcome email could not be sent yet; the "
                                         "outbox will try again."),
                      "success" if sent else "error")
                return redirect(url_for("shares_staff.detail", enquiry_id=enquiry.id))
    code = 422 if request.method == "POST" else 200
    moved = match is not None and _address_as_registered(enquiry) != match.address
    return render_template("shares/staff/admit.html", enquiry=enquiry, form=form,
                           match=match, moved=moved), code


def _address_as_registered(enquiry: Enquiry) -> str:
    """The enquiry's address as the register would keep it (spaces and Unicode made the
    register's way), to compare with a member's; as typed when the register would refuse it."""
    address = services.register_address(enquiry.address, enquiry.postcode, enquiry.country)
    try:
        return register.clean_address(address)
    except register.RegisterError:
        return address


def _show_register_error(form: AdmitForm, err: Exception) -> None:
    field = {"on": form.on, "effective_on": form.on, "date": form.on}.get(
        getattr(err, "field", None) or "")
    if field is not None:
        field.errors = [*field.errors, str(err)]
    else:
        form.form_errors.append(str(err))


@bp.route("/<int:enquiry_id>/notes", methods=["POST"])
@access("staff")
def add_note(enquiry_id: int):
    enquiry = _get(enquiry_id)
    form = NoteForm()
    if form.validate_on_submit():
        sent = submissions.claim(db.session, form)
        try:
            services.add_note(db.session, enquiry, form.body.data, by=current_user)
        except services.EnquiryError as err:
            db.session.rollback()
            form.body.errors = [str(err)]
        else:
            url = sent.leads_to(url_for("shares_staff.detail", enquiry_id=enquiry.id) + "#notes")
            db.session.commit()
            flash("Note added.", "success")
            return redirect(url)
    return _detail(enquiry, note_form=form, code=422)


@bp.route("/<int:enquiry_id>/contact", methods=["GET", "POST"])
@redraws_on_stale_token
@access("staff")
def contact(enquiry_id: int):
    """Correct what the reader typed: a new email gets the acknowledgement again (what was
    still waiting to go to the old one is dropped)."""
    enquiry = _get(enquiry_id)
    back = url_for("shares_staff.detail", enquiry_id=enquiry.id)
    if enquiry.is_erased or enquiry.status_enum == Status.ADMITTED:
        flash("This enquiry has been erased: there are no details to correct."
              if enquiry.is_erased else
              "This enquiry is admitted: correct the member's details in the register.",
              "error")
        return redirect(back)
    # drawn from the enquiry; a post is read as sent (a field left out is missing, not kept)
    form = ContactForm(obj=enquiry if request.method == "GET" else None)
    version = form.version_of(enquiry, *form.EDITS)
    if request.method == "GET":
        form.seen.data = version
        return render_template("shares/staff/contact.html", enquiry=enquiry, form=form)
    if form.validate_on_submit() and not form.edited_meanwhile(version):
        details = services.Contact(name=form.name.data, email=form.email.data,
                                   phone=form.phone.data or "", address=form.address.data,
                                   postcode=form.postcode.data or "", country=form.country.data)
        try:
            corrected = services.correct_contact(db.session, enquiry, details,
                                                 reason=form.reason.data, by=current_user)
        except services.EnquiryError as err:
            db.session.rollback()
            enquiry = _get(enquiry_id)
            show_error(form, err)
        else:
            if not corrected.fields:
                flash("Those are already the details: nothing changed.", "info")
                return redirect(back)
            resend = corrected.email_changed and not enquiry.is_closed
            row_id = mail.queue_acknowledgement(db.session, enquiry) if resend else None
            db.session.commit()
            message = f"Corrected the {joined(corrected.fields)}."
            if resend and mail.record_acknowledgement(db.session, enquiry, row_id) == "failed":
                flash(message + f" The acknowledgement could not be sent to {enquiry.email} "
                                "yet; the outbox will try again.", "error")
                return redirect(back)
            if resend:
                message += f" The acknowledgement is on its way to {enquiry.email}."
            flash(message, "success")
            return redirect(back)
    return render_template("shares/staff/contact.html", enquiry=enquiry, form=form), 422


@bp.route("/<int:enquiry_id>/resend", methods=["POST"])
@access("staff")
def resend(enquiry_id: int):
    """The outbox's "try again" for this enquiry's acknowledgement (a fresh copy if the last
    one was delivered and the reader lost it), while the enquiry is open."""
    from coop import outbox

    enquiry = _get(enquiry_id)
    if not EmptyForm().validate_on_submit():
        return redirect(url_for("shares_staff.detail", enquiry_id=enquiry.id))
    waiting = [m for m in outbox.about(db.session, enquiry.reference)
               if m.kind == "shares.acknowledgement" and m.status != outbox.Status.SENT
               and m.to_address.lower() == enquiry.email.lower()]
    if enquiry.is_erased:
        flash("This enquiry has been erased: there is no address to send to.", "error")
    elif enquiry.is_closed:  # it says how to pay: wrong for one admitted, declined or withdrawn
        flash(f"This enquiry is {enquiry.status_enum.label.lower()}, so its acknowledgement "
              "(which says how to pay) isn't sent again.", "error")
    elif waiting:
        for message in waiting:
            outbox.retry(db.session, message)
        flash(f"The acknowledgement to {enquiry.email} will be tried again now.", "success")
    elif send_acknowledgement(db.session, enquiry):
        flash(f"A new copy of the acknowledgement is on its way to {enquiry.email}.", "success")
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


def staff_today(session) -> dict:
    """The "staff_today" hook: new enquiries, how many and the latest few."""
    waiting = sa.and_(Enquiry.status == Status.NEW.value, Enquiry.erased_at.is_(None))
    count = session.scalar(sa.select(sa.func.count()).select_from(Enquiry).where(waiting))
    latest = session.scalars(sa.select(Enquiry).where(waiting)
                             .order_by(Enquiry.created_at.desc(), Enquiry.id.desc()).limit(3)).all()
    return {"template": "shares/staff/_today.html", "order": 10, "new_count": int(count or 0),
            "latest": latest}
