"""Every form in the app gets the shared checks (coop/forms.py): no control characters in a
one-line field, no date outside coop.limits' range, with a message next to the field."""

from __future__ import annotations

import pytest
import wtforms
from werkzeug.datastructures import MultiDict
from wtforms.fields import FieldList, FormField

from coop.forms import CoopForm, PlainForm, shared_checks, strip
from coop.limits import SINGLE_LINE_MESSAGE


def all_form_classes(app) -> list[type]:
    """Every form class defined in the app's own modules (create_app imports them all)."""
    found, todo = set(), [wtforms.Form]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    return sorted((c for c in found if c.__module__.startswith("coop.")),
                  key=lambda c: f"{c.__module__}.{c.__qualname__}")


def leaves(form):
    """The form's fields, with the fields inside FieldList and FormField."""
    for field in form:
        if isinstance(field, FieldList):
            for entry in field.entries:
                yield from (leaves(entry.form) if isinstance(entry, FormField) else [entry])
        elif isinstance(field, FormField):
            yield from leaves(field.form)
        else:
            yield field


def test_every_form_derives_from_the_shared_bases(app):
    classes = all_form_classes(app)
    assert len(classes) > 25
    strays = [f"{c.__module__}.{c.__qualname__}" for c in classes
              if not issubclass(c, (CoopForm, PlainForm))]
    assert not strays, "derive these from coop.forms.CoopForm or PlainForm: " + ", ".join(strays)


def _build(cls, data: MultiDict):
    if issubclass(cls, PlainForm):
        return cls(data)
    return cls(formdata=data, meta={"csrf": False})


def test_every_one_line_field_refuses_control_characters_and_every_date_far_dates(app):
    checked_text = checked_dates = 0
    failures = []
    for cls in all_form_classes(app):
        with app.test_request_context("/", method="POST"):
            blank = _build(cls, MultiDict())
            fields = list(leaves(blank))
            data = MultiDict()
            for field in fields:
                checks = shared_checks(field)
                if checks and "DateInRange" in type(checks[0]).__name__:
                    data[field.name] = "9999-12-31T12:00" if "Time" in type(field).__name__ \
                        else "9999-12-31"
                elif checks:
                    data[field.name] = "one\r\ntwo\x00"
            form = _build(cls, data)
            form.validate()
            for field in leaves(form):
                checks = shared_checks(field)
                if not checks:
                    continue
                if "DateInRange" in type(checks[0]).__name__:
                    checked_dates += 1
                    ok = any("between 1 January 2000 and 31 December 2100" in e
                             for e in field.errors)
                else:
                    checked_text += 1
                    ok = SINGLE_LINE_MESSAGE in field.errors
                if not ok:
                    failures.append(f"{cls.__module__}.{cls.__qualname__}.{field.name}: "
                                    f"{field.errors}")
    assert not failures, "\n".join(failures)
    assert checked_text > 40 and checked_dates >= 10, (checked_text, checked_dates)


def test_text_areas_passwords_and_plain_text_are_left_alone(app):
    from coop.events.forms import MessageForm, RegistrationForm

    with app.test_request_context("/", method="POST"):
        form = MessageForm(formdata=MultiDict({"audience": "places", "subject": "Tonight's talk",
                                               "body": "Line one\r\nLine two\tindented"}),
                           meta={"csrf": False})
        assert form.validate(), form.errors
        form = RegistrationForm(formdata=MultiDict({"name": "Zoë 😀 O'Brien-Smith",
                                                    "email": "zoe@example.org"}),
                                meta={"csrf": False})
        assert form.validate(), form.errors


def test_a_fixed_select_field_renders_and_validates_like_a_select_field():
    from wtforms import SelectChoice, SelectField

    from coop.forms import FixedSelectField

    pairs = (("", "Choose…"), ("GB", "United Kingdom"), ("FR", "France"),
             ("x", 'Tom & "Jerry" <b>'), ("FR", "France again"))
    required = [wtforms.validators.DataRequired()]

    class Plain(PlainForm):
        pick = SelectField("Pick", required, choices=[SelectChoice(v, label) for v, label in pairs],
                           default="GB", render_kw={"autocomplete": "country"})

    class Fixed(PlainForm):
        pick = FixedSelectField("Pick", required, pairs=lambda: pairs, default="GB",
                                render_kw={"autocomplete": "country"})

    for data in ({}, {"pick": "FR"}, {"pick": "x"}, {"pick": "nope"}, {"pick": ""}):
        for _ in range(2):  # the second time from the pieces made the first time
            plain, fixed = Plain(MultiDict(data)), Fixed(MultiDict(data))
            assert str(fixed.pick()) == str(plain.pick())
            assert (str(fixed.pick(required=False, class_="wide", aria_invalid="true"))
                    == str(plain.pick(required=False, class_="wide", aria_invalid="true")))
        assert fixed.validate() == plain.validate()
        assert fixed.pick.errors == plain.pick.errors
        assert fixed.pick.type == "SelectField"
    assert Fixed(MultiDict({"pick": "nope"})).validate() is False
    assert str(Fixed(MultiDict({"pick": "FR"})).pick()).count('selected value="FR"') == 2
    # the options made once are not changed by choosing one
    assert 'selected' not in str(Fixed(MultiDict({"pick": "nope"})).pick())


def test_html_attrs_writes_what_wtforms_html_params_writes():
    """Our attribute writer must match WTForms' byte for byte, on the awkward inputs too."""
    from markupsafe import Markup
    from wtforms.widgets import html_params

    from coop.forms import html_attrs

    cases = [
        {},
        {"value": 'say "hi" & <b>bye</b>', "id": "a'b"},
        {"value": Markup('<i class="x">&amp;</i>'), "title": Markup("it's")},
        {"maxlength": 12, "rows": 4, "step": 0.5, "value": None, "tabindex": -1},
        {"required": True, "disabled": False, "checked": True, "readonly": False},
        {"class_": "button", "for_": "f", "id": False, "data_x_y": "1", "aria_describedby": "a b",
         "aria-invalid": "true", "data_": "d", "type": "text"},
        {"<k>": "v", "a&b": "w", 'q"': "x"},
    ]
    for attrs in cases:
        assert html_attrs(**attrs) == html_params(**attrs), attrs
        assert isinstance(html_attrs(**attrs), Markup)


def test_stock_inputs_draw_the_same_html_with_our_attribute_writer():
    """CoopMeta swaps WTForms' stock inputs for ours (html_attrs); a field set up with its own
    widget keeps it, and every kind renders what plain WTForms renders."""
    from wtforms import Form, widgets
    from wtforms.fields import (
        BooleanField,
        EmailField,
        HiddenField,
        IntegerField,
        RadioField,
        SubmitField,
    )

    from coop.forms import OWN_WIDGETS, html_attrs

    fields = {
        "name": wtforms.StringField("Name", render_kw={"maxlength": 5, "class_": "x"}),
        "email": EmailField("Email", validators=[wtforms.validators.DataRequired()]),
        "tick": BooleanField("Tick", default=True),
        "secret": HiddenField(default='a"b'),
        "note": wtforms.TextAreaField("Note", [wtforms.validators.Length(max=9)],
                                      default='<b>"hi"</b>\n&', render_kw={"rows": 4}),
        "pick": RadioField("Pick", choices=[wtforms.SelectChoice("a", "A & B"),
                                            wtforms.SelectChoice("b", '"B"')], default="b"),
        "count": IntegerField("Count", widget=widgets.NumberInput(step=2)),
        "go": SubmitField('Go "now"'),
    }
    ours = type("Ours", (PlainForm,), dict(fields))(MultiDict({"name": "<x>"}))
    theirs = type("Theirs", (Form,), dict(fields))(MultiDict({"name": "<x>"}))
    assert ours.name.widget is OWN_WIDGETS[widgets.TextInput]
    assert ours.name.widget.html_params is html_attrs
    assert ours.note.widget is OWN_WIDGETS[widgets.TextArea]
    assert ours.pick.option_widget is OWN_WIDGETS[widgets.RadioInput]
    assert isinstance(ours.count.widget, widgets.NumberInput)
    assert ours.count.widget.html_params is not html_attrs
    for name in fields:
        for kwargs in ({}, {"class_": "wide", "aria_describedby": "h e", "required": True}):
            assert str(ours[name](**kwargs)) == str(theirs[name](**kwargs)), name
    assert [str(o()) for o in ours.pick] == [str(o()) for o in theirs.pick]


@pytest.mark.parametrize("path, data, field", [
    ("/login/forgot", {}, "email"),
    ("/newsletter", {"consent": "y", "topics": ["events"]}, "email"),
])
def test_spaces_around_a_pasted_address_are_dropped_not_refused(client, path, data, field):
    response = client.post(path, data={field: "  Reader@Example.org \t", **data})
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:2000]


def test_every_email_field_drops_the_spaces_around_it(app):
    """Every form's email field, public, member's or staff's, has the strip filter."""
    found, missing = [], []
    for form in all_form_classes(app):
        for name in dir(form):
            unbound = getattr(form, name, None)
            if getattr(unbound, "field_class", None) is wtforms.EmailField:
                found.append(f"{form.__name__}.{name}")
                if strip not in unbound.kwargs.get("filters", []):
                    missing.append(found[-1])
    assert len(found) >= 6 and not missing, missing



class _Numbers(PlainForm):
    count = wtforms.IntegerField(validators=[
        wtforms.validators.Optional(), wtforms.validators.NumberRange(1, 10, "From 1 to 10.")])
    day = wtforms.DateField(validators=[wtforms.validators.InputRequired("Enter the day.")])
    when = wtforms.DateTimeLocalField(validators=[wtforms.validators.Optional()])


@pytest.mark.parametrize("count, message", [
    ("1.5", "Enter a whole number, like 12."), ("twelve", "Enter a whole number, like 12."),
    ("11", "From 1 to 10."),
])
def test_a_number_that_cant_be_read_gets_one_plain_message(app, count, message):
    form = _Numbers(MultiDict({"count": count, "day": "2026-12-06"}))
    assert not form.validate()
    assert form.count.errors == [message]  # not WTForms' words and the range's run together


@pytest.mark.parametrize("typed", ["2026-12-06", "06/12/2026", "06.12.2026", "06-12-2026"])
def test_a_date_reads_iso_or_day_first(app, typed):
    form = _Numbers(MultiDict({"day": typed, "when": "06/12/2026 19:30"}))
    assert form.validate(), form.errors
    assert form.day.data.isoformat() == "2026-12-06"
    assert form.when.data.isoformat() == "2026-12-06T19:30:00"


def test_a_date_that_cant_be_read_says_how_to_write_one(app):
    form = _Numbers(MultiDict({"day": "31/02/2026", "when": "soon"}))
    assert not form.validate()
    assert form.day.errors == ["Enter a real date, like 31/12/2026."]
    assert form.when.errors == ["Enter a date and time, like 31/12/2026 19:00."]


def test_an_optional_number_or_date_left_empty_has_no_error(app):
    form = _Numbers(MultiDict({"count": "", "day": "2026-12-06", "when": ""}))
    assert form.validate(), form.errors
    assert form.count.errors == [] and form.when.errors == []


def test_a_required_date_left_empty_asks_for_it(app):
    form = _Numbers(MultiDict({"day": ""}))
    assert not form.validate()
    assert form.day.errors == ["Enter the day."]


def test_a_month_field_keeps_its_own_format(app):
    class Months(PlainForm):
        month = wtforms.MonthField()

    form = Months(MultiDict({"month": "2026-12"}))
    assert form.validate(), form.errors
    assert form.month.data.isoformat() == "2026-12-01"


@pytest.mark.parametrize("address, message", [
    ("zoë@example.net", "Our email can't reach an address with accents"),
    # QA: a pasted address cut short by the box's maxlength was taken (email_validator no
    # longer checks RFC 5321's 64 characters before the @)
    ("x" * 65 + "@example.net", "The part before the @ can be at most 64 characters"),
])
@pytest.mark.parametrize("path, data, login_role", [
    ("/newsletter", {"email": "{}", "topics": ["events"], "consent": "y"}, None),
    ("/shares", None, None),
    ("/account/email", {"new_email": "{}", "email_password": "x"}, "member"),
    ("/admin/users", {"email": "{}", "role": "member"}, "admin"),
])
def test_an_address_with_accents_before_the_at_is_refused_where_one_is_given(
        app, make_user, path, data, login_role, address, message):
    """QA: "zoë@example.net" was taken and its email written as "=?utf-8?q?zo=C3=AB?=@…",
    which reaches nobody. Refused next to the field, what was typed kept."""
    import html

    from tests.conftest import PASSWORD, login
    from tests.shares.conftest import share_form

    client = app.test_client()
    if login_role:
        user = make_user(login_role)
        assert login(client, user.email).status_code == 302
        data = {**data, "email_password": PASSWORD} if "email_password" in data else data
    form = share_form(email=address) if data is None else {
        k: (v.format(address) if isinstance(v, str) else v) for k, v in data.items()}
    response = client.post(path, data=form)
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422, page[-2000:]
    assert message in page
    assert address in page


def test_an_accented_domain_is_fine(make_app, smtp_server):
    """It is written in its ASCII (IDNA) form on the message and to the server, so the mail
    goes (review: it was written "zoe@=?utf-8?q?b=C3=BCcher?=.example")."""
    from tests.records import event

    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port)
    _event_id, slug = event(app)
    response = app.test_client().post(f"/events/{slug}/register",
                                      data={"name": "Zoe", "email": "zoe@bücher.example"})
    assert response.status_code == 302
    [message] = smtp_server.messages
    assert message["To"] == "zoe@xn--bcher-kva.example"
    response = app.test_client().post(f"/events/{slug}/register",
                                      data={"name": "Zoë", "email": "zoë@example.net"})
    assert response.status_code == 422


def test_wtforms_own_length_messages_are_in_the_sites_words(app):
    """QA: "Field cannot be longer than 500 characters." beside "Keep it to 500 characters."."""
    from wtforms.validators import Length

    class Search(PlainForm):
        q = wtforms.StringField("Search", validators=[Length(max=100)])
        one = wtforms.StringField("One", validators=[Length(max=1)])
        code = wtforms.StringField("Code", validators=[Length(min=3)])

    with app.test_request_context():
        form = Search(MultiDict({"q": "x" * 101, "one": "xy", "code": "x"}))
        assert not form.validate()
    assert form.q.errors == ["Keep it to 100 characters."]
    assert form.one.errors == ["Keep it to 1 character."]
    assert form.code.errors == ["Enter at least 3 characters."]


ZERO_WIDTH = "\u200b\u200b"


class _Invisible(PlainForm):
    name = wtforms.StringField(validators=[wtforms.validators.DataRequired("Enter a name.")])
    address = wtforms.TextAreaField(validators=[wtforms.validators.DataRequired("Enter it.")])
    secret = wtforms.PasswordField()


@pytest.mark.parametrize("typed", [ZERO_WIDTH, " \ufeff ", "\u2060", "\u3164", "\u200e\u200f"])
def test_a_field_holding_only_invisible_characters_is_empty(app, typed):
    """QA: two zero-width spaces passed every "required" check and were saved as a name, an
    address and a note (Python's split and strip don't see them)."""
    form = _Invisible(MultiDict({"name": typed, "address": f"{typed}\n{typed}",
                                 "secret": typed}))
    assert not form.validate()
    assert form.name.errors == ["Enter a name."] and form.address.errors == ["Enter it."]
    assert form.secret.data == typed  # a password is never changed


@pytest.mark.parametrize("typed", ["مهسا\u200cزاده", "Ann 👩\u200d👩\u200d👧", "Zoë\u00adEllis"])
def test_visible_text_keeps_its_joiners_and_marks(app, typed):
    form = _Invisible(MultiDict({"name": typed, "address": f"\u200b\n{typed}"}))
    assert form.validate(), form.errors
    # a line of Markdown holding only a zero-width space may be meant: kept (review)
    assert form.name.data == typed and form.address.data == f"\u200b\n{typed}"


def test_the_share_form_and_the_register_refuse_an_invisible_name_and_address(client, app):
    from coop.register import services
    from tests.records import snapshot
    from tests.shares.conftest import share_form

    before = snapshot(app)
    response = client.post("/shares", data=share_form(name=ZERO_WIDTH, address="\u200b"))
    assert response.status_code == 422
    assert snapshot(app) == before
    page = response.get_data(as_text=True)
    assert 'id="name-error"' in page and 'id="address-error"' in page
    assert services.clean_address("\u200b\nSW1A 1AA") == "SW1A 1AA"
    with pytest.raises(services.InvalidValue):
        services.clean_name(ZERO_WIDTH)
