"""Staff pages for notices: list, create, edit, end, delete an upcoming one."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from coop import submissions
from coop.access import access
from coop.db import now_utc
from coop.extensions import db
from coop.forms import ConfirmForm, EmptyForm, not_confirmed, redraws_on_stale_token
from coop.notices import services
from coop.notices.forms import NoticeForm
from coop.notices.models import Notice

bp = Blueprint("notices_staff", __name__, url_prefix="/staff/notices")


def _notice_or_404(notice_id: int) -> Notice:
    return db.get_or_404(Notice, notice_id)


@bp.route("")
@access("staff")
def index():
    return render_template("notices/staff/index.html", lists=services.for_staff(db.session),
                           empty_form=EmptyForm())


@bp.route("/new", methods=["GET", "POST"])
@redraws_on_stale_token
@access("staff")
def new():
    form = NoticeForm()
    if request.method == "GET":
        start = services.utc_to_london(now_utc()).replace(second=0, microsecond=0)
        form.starts_at.data = start
        form.ends_at.data = start + dt.timedelta(days=7)
    if form.validate_on_submit():
        sent = submissions.claim(db.session, form)
        try:
            services.create(db.session, form.notice_data(), by=current_user)
        except services.NoticeError as err:
            db.session.rollback()
            form.form_errors.append(str(err))
        else:
            url = sent.leads_to(url_for("notices_staff.index"))
            db.session.commit()
            flash("The notice has been saved.", "success")
            _warn_if_over(form)
            return redirect(url)
    status = 422 if request.method == "POST" else 200
    return render_template("notices/staff/form.html", form=form, notice=None), status


def _warn_if_over(form: NoticeForm) -> None:
    """Saved, but ending before now: nobody will see it (a date typed a year out, say)."""
    ends_at = form.notice_data().ends_at
    if ends_at is not None and ends_at <= now_utc():
        flash("It has already ended, so nobody sees it: check the end date if it should "
              "show.", "error")


@bp.route("/<int:notice_id>/edit", methods=["GET", "POST"])
@redraws_on_stale_token
@access("staff")
def edit(notice_id: int):
    notice = _notice_or_404(notice_id)
    form = NoticeForm()
    version = form.version_of(notice, "text", "level", "link_url", "link_text", "starts_at",
                              "ends_at")
    if request.method == "GET":
        form.seen.data = version
        form.text.data = notice.text
        form.level.data = notice.level
        form.link_url.data = notice.link_url
        form.link_text.data = notice.link_text
        form.starts_at.data = services.utc_to_london(notice.starts_at)
        form.ends_at.data = services.utc_to_london(notice.ends_at) if notice.ends_at else None
    valid = form.validate_on_submit()
    if valid:
        submissions.check(db.session, form)  # sent again (a double click): not a clash
    if valid and not form.edited_meanwhile(version):
        sent = submissions.claim(db.session, form)
        try:
            changed = services.update(db.session, notice, form.notice_data(), by=current_user)
        except services.NoticeError as err:
            db.session.rollback()
            form.form_errors.append(str(err))
        else:
            sent.leads_to(url_for("notices_staff.index"))
            db.session.commit()
            flash("The notice has been saved." if changed else "Nothing changed.", "success")
            _warn_if_over(form)
            return redirect(url_for("notices_staff.index"))
    status = 422 if request.method == "POST" else 200
    return render_template("notices/staff/form.html", form=form, notice=notice), status


@bp.route("/<int:notice_id>/end", methods=["POST"])
@access("staff")
def end(notice_id: int):
    notice = _notice_or_404(notice_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        services.end(db.session, notice, by=current_user)
    except services.NoticeError as err:
        db.session.rollback()
        flash(str(err), "error")
    else:
        db.session.commit()
        flash("The notice has ended.", "success")
    return redirect(url_for("notices_staff.index"))


@bp.route("/<int:notice_id>/delete", methods=["POST"])
@access("staff")
def delete(notice_id: int):
    notice = _notice_or_404(notice_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    if not form.confirm.data:
        flash(not_confirmed("Delete the notice"), "error")
        return redirect(url_for("notices_staff.index"))
    try:
        services.delete(db.session, notice, by=current_user)
    except services.NoticeError as err:
        db.session.rollback()
        flash(str(err), "error")
    else:
        db.session.commit()
        flash("The notice has been deleted.", "success")
    return redirect(url_for("notices_staff.index"))
