"""The admin's API tokens: list, create (the token is shown once) and revoke."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from coop import submissions
from coop.access import access
from coop.api import services
from coop.api.forms import NewTokenForm
from coop.api.models import ApiToken
from coop.extensions import db
from coop.forms import ConfirmForm, not_confirmed

bp = Blueprint("api_admin", __name__, url_prefix="/admin/api-tokens")


def _list_page(form: NewTokenForm, status: int = 200):
    return render_template(
        "api/tokens.html", tokens=services.list_tokens(db.session), form=form,
    ), status


@bp.route("")
@access("admin")
def tokens():
    return _list_page(NewTokenForm(formdata=None))


@bp.route("", methods=["POST"])
@access("admin", fresh=True)
def create():
    """Create a token and show it once, on this response: it is never stored or flashed.

    Reloading that page sends the form again: it is recognised (``SentOnce``), and leads to
    the list, where the token is, rather than to "a token with this name already exists"
    (QA)."""
    form = NewTokenForm()
    if form.validate_on_submit():
        sent = submissions.claim(db.session, form)
        try:
            token, secret = services.create_token(db.session, form.name.data, by=current_user)
            sent.leads_to(url_for("api_admin.tokens"))
            db.session.commit()
        except services.ApiError as err:
            db.session.rollback()
            form.name.errors = [str(err)]
        except IntegrityError:  # the same name, created by someone else at the same moment
            db.session.rollback()
            form.name.errors = ["A token with this name already exists."]
        else:
            response = render_template("api/token_created.html", token=token, secret=secret)
            return response, 200, {"Cache-Control": "no-store"}
    return _list_page(form, 422)


@bp.route("/<int:token_id>/revoke", methods=["POST"])
@access("admin", fresh=True)
def revoke(token_id: int):
    token = db.get_or_404(ApiToken, token_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash("That form had expired; nothing was changed. Please try again.", "error")
        return redirect(url_for("api_admin.tokens"))
    if not form.confirm.data:
        flash(not_confirmed(f"Revoke the token ‘{token.name}’"), "error")  # QA: “…“…””
        return redirect(url_for("api_admin.tokens"))
    if services.revoke_token(db.session, token, by=current_user):
        db.session.commit()
        flash(f"Revoked the token \u201c{token.name}\u201d: it no longer works.", "success")
    else:
        flash(f"The token \u201c{token.name}\u201d was already revoked.", "info")
    return redirect(url_for("api_admin.tokens"))
