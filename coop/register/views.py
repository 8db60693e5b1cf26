"""The member's side: share certificates (page and PDF) and updating their postal address."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    url_for,
)
from flask_login import current_user, login_fresh

from coop.access import access
from coop.extensions import db
from coop.forms import redraws_on_stale_token
from coop.register import certificates, forms, services
from coop.register.models import ShareTransaction

bp = Blueprint("register", __name__)


def _certificate(transaction_id: int) -> ShareTransaction:
    """The allotment, if the reader is staff or the member it belongs to.

    :raise 404: for anyone else, so certificate numbers reveal nothing.
    """
    line = services.certificate(db.session, transaction_id)
    if line is None:
        abort(404)
    member = services.member_for_user(db.session, current_user)
    if member is not None and member.id == line.member_id:
        return line
    if not current_user.is_staff:
        abort(404)
    if not login_fresh():
        # another member's, like every staff page: not from a remember-me cookie (review)
        abort(current_app.login_manager.needs_refresh())
    return line


@bp.route("/certificates/<int:transaction_id>")
@access("member")
def certificate(transaction_id: int):
    """A printable share certificate (the print stylesheet hides everything else)."""
    line = _certificate(transaction_id)
    member = line.member
    wording = certificates.wording(line, member, certificates.society(current_app.config))
    if current_user.is_staff:
        back = (url_for("register_staff.member", number=member.number),
                f"Member {member.number_text}")
    else:
        back = url_for("accounts.account") + "#membership-heading", "Your account"
    return render_template("register/certificate.html", line=line, member=member,
                           wording=wording, back_url=back[0], back_label=back[1])


@bp.route("/certificates/<int:transaction_id>.pdf")
@access("member")
def certificate_pdf(transaction_id: int):
    line = _certificate(transaction_id)
    pdf = certificates.render_pdf(line, line.member, certificates.society(current_app.config))
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="share-certificate-'
                               f'{line.certificate_number}.pdf"',
        "Cache-Control": "private, no-store",
    })


@bp.route("/account/register/address", methods=["POST"])
@redraws_on_stale_token
@access("member")
def change_address():
    """A member updates their own postal address; staff see the history."""
    member = services.member_for_user(db.session, current_user)
    if member is None:
        abort(404)
    form = forms.MemberAddressForm()
    if form.validate_on_submit():
        try:
            change = services.change_address(db.session, member, form.address.data,
                                             by=current_user, source="member")
        except services.RegisterError as err:
            db.session.rollback()
            form.address.errors = [*form.address.errors, err.message]
        else:
            db.session.commit()
            flash("Your postal address is updated." if change
                  else "That is already your address: nothing changed.", "success")
            return redirect(url_for("accounts.account") + "#membership-heading")
    # Shown again on the account page, with what was typed and the message at the field
    # (the account_sections hook picks the form up from g).
    from coop.accounts.views import account_page

    g.register_address_form = form
    return account_page(422)
