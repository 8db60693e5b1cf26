"""Staff pages for the register: search, a member's page, admit, allot, withdraw, transfer,
cease, address changes, account links and the CSV export."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from coop import submissions
from coop.access import access
from coop.accounts.services import get_by_email
from coop.csvexport import csv_response
from coop.extensions import db
from coop.formatting import money_input
from coop.forms import EmptyForm, GuardsEdits, SentOnce, show_error
from coop.limits import current_page
from coop.register import forms, services
from coop.register.models import Member
from coop.timeutil import london_today

bp = Blueprint("register_staff", __name__, url_prefix="/staff/register")

PER_PAGE = 50


def _member(number: int) -> Member:
    member = services.get_by_number(db.session, number)
    if member is None:
        abort(404)
    return member


@bp.route("")
@access("staff")
def index():
    """The register: search by name, email or number, current or ceased, 50 to a page."""
    form = forms.SearchForm(request.args)
    totals = services.totals(db.session)
    if not form.validate():  # a search that can't be read lists nobody rather than everyone
        return render_template("register/staff/index.html", form=form, page=None, args={},
                               totals=totals), 422
    q = (form.q.data or "").strip()
    status = form.status.data
    page = db.paginate(services.search_statement(q, status), page=current_page(),
                       per_page=PER_PAGE, error_out=False)
    args = {k: v for k, v in (("q", q), ("status", status)) if v}
    return render_template("register/staff/index.html", form=form, page=page, args=args,
                           totals=totals)


@bp.route("/export.csv")
@access("staff", fresh=True)
def export():
    """The whole register with the columns s.30 of the 2014 Act requires (every member,
    current and ceased); cells that could start a formula are neutralised."""
    header = ["Membership number", "Name", "Postal address", "Email", "Shares held",
              "Amount paid (£)", "Date admitted", "Date ceased"]

    def rows():
        for m in services.register_rows(db.session, "all"):
            yield [m.number, m.name, m.address.replace("\n", ", "), m.email, m.shares_held,
                   money_input(m.paid_pence), m.admitted_on.isoformat(),
                   m.ceased_on.isoformat() if m.ceased_on else ""]

    return csv_response("register-of-members.csv", header, rows())


@bp.route("/verify")
@access("staff")
def verify():
    problems = services.verify_register(db.session)
    return render_template("register/staff/verify.html", problems=problems)


@bp.route("/admit", methods=["GET", "POST"])
@access("staff")
def admit():
    """Admit a member directly (an application by post); enquiries are admitted from the
    enquiry's own page."""
    form = forms.AdmitForm()
    if request.method == "GET":
        form.on.data = london_today()
    if form.is_submitted():
        submissions.check(db.session, form)  # sent again: not a question about the email
    same_email = (services.find_member_by_email(db.session, form.email.data)
                  if form.is_submitted() and form.email.data else None)
    if same_email is not None and not form.different_person.data:
        form.validate()
        form.email.errors = [*form.email.errors, (
            f"Member {same_email.number_text}, {same_email.name}, has this email. If it is "
            "the same person, use “Allot shares” on their page; if not, tick the box below.")]
    elif form.validate_on_submit():
        sent = submissions.claim(db.session, form)
        try:
            line = services.admit(db.session, name=form.name.data, email=form.email.data,
                                  address=form.address.data, shares=form.shares.data,
                                  on=form.on.data, by=current_user, note=form.note.data or "",
                                  invite=form.invite.data)
        except services.RegisterError as err:
            db.session.rollback()
            show_error(form, err)
        else:
            member = line.member
            url = sent.leads_to(url_for("register_staff.member", number=member.number))
            db.session.commit()
            flash(f"{member.name} is member {member.number_text}, holding "
                  f"{member.shares_held:,} shares.", "success")
            return redirect(url)
    return render_template("register/staff/admit.html", form=form, same_email=same_email), (
        422 if form.is_submitted() else 200)


@bp.route("/<int:number>")
@access("staff")
def member(number: int):
    m = _member(number)
    account = None
    if m.user_id is None:
        candidate = get_by_email(db.session, m.email)
        if candidate is not None and services.member_for_user(db.session, candidate) is None:
            account = candidate
    return render_template(
        "register/staff/member.html", member=m, ledger=services.ledger(db.session, m),
        addresses=services.address_history(db.session, m), account=account,
        link_form=EmptyForm(),
    )


#: action -> (form class, heading, button endpoint)
ACTIONS = {
    "allot": (forms.AllotForm, "Allot shares"),
    "withdraw": (forms.WithdrawForm, "Withdraw shares"),
    "transfer": (forms.TransferForm, "Transfer shares to another member"),
    "cease": (forms.CeaseForm, "Cease membership"),
    "address": (forms.AddressForm, "Change the postal address"),
    "details": (forms.DetailsForm, "Correct the name or email"),
}


def _action_page(action: str, m: Member, form, code: int = 200):
    return render_template("register/staff/action.html", member=m, form=form, action=action,
                           heading=ACTIONS[action][1],
                           endpoint=f"register_staff.{action}"), code


def _run(action: str, number: int, apply):
    """GET shows the form; POST validates, calls ``apply(member, form)``, commits once and
    redirects to the member's page, or shows the form again with the message at its field."""
    m = _member(number)
    form = ACTIONS[action][0]()
    if action == "details":  # stored before today's rules: given back unchanged, still fine
        form.kept = {"name": m.name, "email": m.email}
    # the address, name and email a member may change meanwhile (their account page, a
    # confirmed change of email): a page drawn before that is refused, with what was typed
    version = form.version_of(m, *form.EDITS) if isinstance(form, GuardsEdits) else None
    if request.method == "GET":
        if version is not None:
            form.seen.data = version
        if hasattr(form, "on"):
            form.on.data = london_today()
        if action == "cease":
            form.expected_shares.data = str(m.shares_held)
        if action == "address":
            form.address.data = m.address
        if action == "details":
            form.name.data, form.email.data = m.name, m.email
        if m.ceased_on is not None and action not in ("address", "details"):
            form.form_errors.append(f"Member {m.number_text} ceased on {m.ceased_on:%-d %B %Y}: "
                                    "their holding can't change.")
        return _action_page(action, m, form)
    valid = form.validate_on_submit()
    if valid and version is not None and form.edited_meanwhile(version):
        return _action_page(action, m, form, 422)
    if valid:
        # a change to the holding sent twice (a double click, Back and send) is made once
        sent = submissions.claim(db.session, form) if isinstance(form, SentOnce) else None
        try:
            message = apply(m, form)
        except services.RegisterError as err:
            db.session.rollback()
            m = _member(number)
            show_error(form, err)
            if isinstance(err, services.HoldingChanged):
                # drawn again for the holding as it is now, to be checked and ticked again
                form.expected_shares.data = str(m.shares_held)
                form.confirm.data = False
        else:
            url = url_for("register_staff.member", number=m.number)
            if sent is not None:
                sent.leads_to(url)
            db.session.commit()
            flash(message, "success")
            return redirect(url)
    return _action_page(action, m, form, 422)


def _shares(n: int) -> str:
    return f"{n:,} share{'s' if n != 1 else ''}"


@bp.route("/<int:number>/allot", methods=["GET", "POST"])
@access("staff")
def allot(number: int):
    def apply(m, form):
        line = services.allot(db.session, m, form.shares.data, on=form.on.data, by=current_user,
                              note=form.note.data or "")
        return (f"Allotted {_shares(line.shares)} to member {m.number_text}; they now hold "
                f"{m.shares_held:,}. Certificate {line.certificate_number} is ready.")

    return _run("allot", number, apply)


@bp.route("/<int:number>/withdraw", methods=["GET", "POST"])
@access("staff")
def withdraw(number: int):
    def apply(m, form):
        line = services.withdraw(db.session, m, form.shares.data, on=form.on.data,
                                 by=current_user, note=form.note.data or "")
        return (f"Withdrew {_shares(-line.shares)} from member {m.number_text}; they now hold "
                f"{m.shares_held:,}.")

    return _run("withdraw", number, apply)


@bp.route("/<int:number>/transfer", methods=["GET", "POST"])
@access("staff")
def transfer(number: int):
    def apply(m, form):
        target = services.get_by_number(db.session, form.to_number.data)
        if target is None:
            raise services.NoSuchMember(
                f"No member has the number “{form.to_number.data.strip()[:20]}”.",
                field="to_number")
        out, _in = services.transfer(db.session, m, target, form.shares.data, on=form.on.data,
                                     by=current_user, note=form.note.data or "",
                                     cease_source=form.cease_source.data)
        ceased = (f" Member {m.number_text}'s membership has ceased."
                  if form.cease_source.data else "")
        return (f"Transferred {_shares(-out.shares)} from member {m.number_text} to member "
                f"{target.number_text}.{ceased} Member {target.number_text}'s certificate "
                f"{_in.certificate_number} is ready.")

    return _run("transfer", number, apply)


@bp.route("/<int:number>/cease", methods=["GET", "POST"])
@access("staff")
def cease(number: int):
    def apply(m, form):
        expected = services.parse_holding(form.expected_shares.data)
        line = services.cease(db.session, m, on=form.on.data, by=current_user,
                              expected_shares=expected, note=form.note.data or "")
        withdrawn = f" and {_shares(-line.shares)} withdrawn" if line else ""
        return f"Member {m.number_text}'s membership has ceased{withdrawn}."

    return _run("cease", number, apply)


@bp.route("/<int:number>/address", methods=["GET", "POST"])
@access("staff")
def address(number: int):
    def apply(m, form):
        change = services.change_address(db.session, m, form.address.data, by=current_user,
                                         source="staff")
        return "Address changed." if change else "That is already the address: nothing changed."

    return _run("address", number, apply)


@bp.route("/<int:number>/details", methods=["GET", "POST"])
@access("staff")
def details(number: int):
    def apply(m, form):
        changed = services.correct_details(db.session, m, name=form.name.data,
                                           email=form.email.data, reason=form.reason.data,
                                           by=current_user)
        return ("Name and email corrected." if changed
                else "Those are already the name and email: nothing changed.")

    return _run("details", number, apply)


@bp.route("/<int:number>/link-account", methods=["POST"])
@access("staff")
def link_account(number: int):
    """Link the member to the account with the same email (shown on the member's page)."""
    m = _member(number)
    form = EmptyForm()
    user = get_by_email(db.session, m.email)
    if not form.validate_on_submit() or user is None:
        flash("There is no account with this member's email to link.", "error")
        return redirect(url_for("register_staff.member", number=m.number))
    try:
        services.link_account(db.session, m, user, by=current_user)
    except services.RegisterError as err:
        db.session.rollback()
        flash(err.message, "error")
    else:
        db.session.commit()
        flash(f"Member {m.number_text} is linked to the account {user.email}.", "success")
    return redirect(url_for("register_staff.member", number=m.number))
