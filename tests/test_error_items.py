"""``coop.forms.error_items``: the error summary's lines, in page order, each with the id of the
element it links to."""

from __future__ import annotations

from wtforms import FieldList, FormField, RadioField, SelectChoice, StringField
from wtforms.validators import DataRequired, ValidationError

from coop.forms import CSRF_MESSAGE, CoopForm, PlainForm, error_items


class Line(PlainForm):
    amount = StringField("Amount", validators=[DataRequired("Enter an amount.")])


class Sample(PlainForm):
    name = StringField("Name", validators=[DataRequired("Enter your name.")])
    choice = RadioField("Choice", choices=[SelectChoice("a", "A"), SelectChoice("b", "B")],
                        validators=[DataRequired("Choose one.")])
    website = StringField("Leave this empty", validators=[DataRequired("bot")])
    lines = FieldList(FormField(Line), min_entries=2)

    def validate_lines(self, field):
        raise ValidationError("Enter at least one line.")


def _posted(app, form_class, data):
    from werkzeug.datastructures import MultiDict

    with app.test_request_context(method="POST", data=data):
        form = form_class(MultiDict(data))
        form.validate()
        return form


def test_items_in_field_order_with_their_anchors(app):
    form = _posted(app, Sample, {"lines-0-amount": "", "lines-1-amount": "5"})
    form.form_errors.append("The register refused it.")
    items = [(i.label, i.message, i.anchor) for i in error_items(form)]
    assert items == [
        ("", "The register refused it.", None),
        ("Name", "Enter your name.", "name"),
        ("Choice", "Choose one.", "choice-0"),  # the first option: the group has no such id
        ("Lines", "Enter at least one line.", "lines-0-amount"),
        ("Line 1, Amount", "Enter an amount.", "lines-0-amount"),
    ]  # the honeypot ("website") is left out


def test_a_laid_out_order_comes_first(app):
    form = _posted(app, Sample, {})
    assert [i.anchor for i in error_items(form, ["choice"])][:2] == ["choice-0", "name"]


def test_an_expired_form_is_said_plainly(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)

    class Posted(CoopForm):
        name = StringField("Name")

    with app.test_request_context(method="POST", data={"name": "Jo"}):
        form = Posted()
        assert not form.validate()
        [item] = error_items(form)
    assert (item.label, item.message, item.anchor) == ("", CSRF_MESSAGE, None)
