"""The admin's list of users: invitations, roles, deactivation, second-factor resets.

Every action needs a fresh login (the password typed in this browser session, not a session
restored from a remember-me cookie): see ``access(..., fresh=True)``."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from coop.access import access
from coop.accounts import services, twofactor
from coop.accounts.forms import NewUserForm, RoleForm
from coop.accounts.models import Role, User
from coop.extensions import db
from coop.forms import ConfirmForm, EmptyForm, not_confirmed
from coop.limits import current_page

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/users")
@access("admin")
def users():
    return _users_page(NewUserForm(formdata=None))


def _users_page(new_form: NewUserForm, status: int = 200):
    q = (request.args.get("q") or "").strip()[:100]
    stmt = sa.select(User).order_by(User.email)
    if q:  # "%" and "_" are searched for as themselves, not as wildcards
        stmt = stmt.where(sa.or_(User.email.icontains(q, autoescape=True),
                                 User.name.icontains(q, autoescape=True)))
    page = db.paginate(stmt, page=current_page(), per_page=50, error_out=False)
    role_forms = {}
    for user in page.items:
        form = RoleForm(formdata=None)
        form.role.data = user.role
        role_forms[user.id] = form
    return render_template(
        "admin/users.html", page=page, q=q, role_forms=role_forms, action_form=EmptyForm(),
        new_form=new_form,
    ), status


@bp.route("/users", methods=["POST"])
@access("admin", fresh=True)
def create_user():
    """Create the account with no password and email an invitation to choose one."""
    form = NewUserForm()
    if form.validate_on_submit():
        if services.get_by_email(db.session, form.email.data) is not None:
            form.email.errors = ["An account with that email already exists."]
            return _users_page(form, 422)
        try:
            user = services.invite_user(db.session, form.email.data, name=form.name.data or "",
                                        role=form.role.data, by=current_user)
        except services.AccountError as err:
            db.session.rollback()
            form.email.errors = [str(err)]
        else:
            db.session.commit()
            flash(f"Created {user.email} as {user.role} and sent them an invitation to choose "
                  "a password.", "success")
            return redirect(url_for("admin.users"))
    return _users_page(form, 422)


@bp.route("/users/<int:user_id>/invite", methods=["POST"])
@access("admin", fresh=True)
def resend_invitation(user_id: int):
    user = db.get_or_404(User, user_id)
    if not EmptyForm().validate_on_submit():
        return redirect(url_for("admin.users"))
    try:
        services.send_invitation(db.session, user, by=current_user)
    except services.AccountError as err:
        db.session.rollback()
        flash(str(err), "error")
    else:
        db.session.commit()
        flash(f"Sent a new invitation to {user.email}; the earlier link no longer works.",
              "success")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/two-factor/reset", methods=["POST"])
@access("admin", fresh=True)
def reset_two_factor(user_id: int):
    """Turn off someone's two-step verification (they lost their phone and their codes)."""
    user = db.get_or_404(User, user_id)
    form = ConfirmForm()
    if form.validate_on_submit() and not form.confirm.data:
        flash(not_confirmed(f"Reset two-step verification of {user.email}"), "error")
    elif form.validate_on_submit() and user.two_factor_enabled:
        twofactor.disable(db.session, user, by=current_user)
        db.session.commit()
        flash(f"Two-step verification is off for {user.email}; they have been told by email.",
              "success")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/role", methods=["POST"])
@access("admin", fresh=True)
def change_role(user_id: int):
    user = db.get_or_404(User, user_id)
    form = RoleForm()
    if not form.validate_on_submit():
        flash("Choose a role from the list.", "error")
        return redirect(url_for("admin.users"))
    try:
        changed = services.set_role(db.session, user, form.role.data, by=current_user)
    except services.AccountError as err:
        db.session.rollback()
        flash(str(err), "error")
    else:
        db.session.commit()
        role = Role(user.role).as_noun
        flash(f"{user.email} is now {role}." if changed else
              f"Nothing changed: {user.email} is {role} already.",
              "success" if changed else "info")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/deactivate", methods=["POST"])
@access("admin", fresh=True)
def deactivate(user_id: int):
    """Stop someone logging in (a confirm tick: they are logged out everywhere at once)."""
    user = db.get_or_404(User, user_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return redirect(url_for("admin.users"))
    if not form.confirm.data:
        flash(f"Nothing was done: tick the box beside “Deactivate” for {user.email} first "
              "(they would be logged out everywhere at once).", "error")
        return redirect(url_for("admin.users"))
    try:
        services.deactivate(db.session, user, by=current_user)
    except services.AccountError as err:
        db.session.rollback()
        flash(str(err), "error")
    else:
        db.session.commit()
        flash(f"{user.email} has been deactivated and logged out everywhere.", "success")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/reactivate", methods=["POST"])
@access("admin", fresh=True)
def reactivate(user_id: int):
    user = db.get_or_404(User, user_id)
    if EmptyForm().validate_on_submit():
        services.reactivate(db.session, user, by=current_user)
        db.session.commit()
        flash(f"{user.email} can log in again." if user.has_usable_password else
              f"{user.email} is active again. Their invitation link stopped working when they "
              "were deactivated: send a new one with “Re-send invitation”.", "success")
    return redirect(url_for("admin.users"))
