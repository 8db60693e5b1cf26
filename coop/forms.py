"""Form pieces every feature shares: the base forms, and the rules every form gets from them.

Every form in ``coop`` derives from :class:`CoopForm` (posted, with CSRF) or :class:`PlainForm`
(GET filters and sub-forms). Their ``Meta`` gives each field, as it is bound:

- a one-line text field (a ``StringField`` that is not a text area, password, hidden field or
  button: names, titles, subjects, emails, links, amounts, search boxes) the
  :class:`SingleLine` check: no line breaks, tabs or other control characters, which would
  otherwise reach email headers, calendar lines and CSV rows;
- a date or date-and-time field the :class:`DateInRange` check (``coop.limits``);
- for a plain WTForms input (text, email, checkbox, radio, submit…), the same widget drawing
  its attributes with :func:`html_attrs` (see :data:`OWN_WIDGETS`).

So a new field is covered without anyone remembering to; ``tests/test_forms.py`` checks that
every form class in the app derives from one of the two.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import secrets
from dataclasses import dataclass
from functools import cache, lru_cache, wraps

from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms import Form, widgets
from wtforms.fields import (
    BooleanField,
    ButtonField,
    DateField,
    DateTimeField,
    DateTimeLocalField,
    HiddenField,
    PasswordField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import Choice, SelectChoice, SelectField, SelectFieldBase
from wtforms.meta import DefaultMeta
from wtforms.validators import StopValidation

from coop import limits
from coop.formatting import blank_invisible


class SingleLine:
    """Refuses control characters (line feed, carriage return, tab, NUL, escape…) in a
    one-line field, with a message next to it; later checks on the field don't run. The
    invisible text-direction controls are dropped first (``limits.DIRECTION_CONTROLS``)."""

    def __init__(self, message: str = limits.SINGLE_LINE_MESSAGE):
        self.message = message

    def __call__(self, form, field):
        if not isinstance(field.data, str):
            return
        field.data = limits.without_direction_controls(field.data)
        if limits.has_control_characters(field.data) and not _kept(form, field):
            raise StopValidation(self.message)


def _kept(form, field) -> bool:
    """The value is the one already stored, given back unchanged (``form.kept``, a dict of
    field name → stored value, set by an edit form's view): a rule made after it was stored
    doesn't stop staff correcting the record's other fields."""
    kept = getattr(form, "kept", None)
    return bool(kept) and field.name in kept and kept[field.name] == field.data


class DateInRange:
    """Refuses a date (or date and time) outside ``coop.limits``' range."""

    def __init__(self, message: str | None = None):
        self.message = message or f"Enter a date {limits.DATE_RANGE_TEXT}."

    def __call__(self, form, field):
        if isinstance(field.data, dt.date) and not limits.date_in_range(field.data):
            raise StopValidation(self.message)


class MailableAddress:
    """Refuses an address with accents or other non-ASCII letters before the @ ("zoë@…"):
    our mail goes out without SMTPUTF8, so such an address can't be written on a message and
    never receives one. Said next to the field, where a new address is given (sign-ups,
    registrations, enquiries, a change of email); an accented domain is fine: mail writes it
    in its IDNA form (coop.mail.wire_address)."""

    message = ("Our email can't reach an address with accents or other special letters before "
               "the @: please give one with plain letters there (like zoe@example.org).")

    #: RFC 5321's limit for the part before the @; email_validator no longer checks it
    LOCAL_MAX = 64

    def __call__(self, form, field):
        local, at, _domain = (field.data or "").rpartition("@")
        if not at or _kept(form, field):
            return
        if not local.isascii():
            raise StopValidation(self.message)
        if len(local) > self.LOCAL_MAX:
            # QA: a pasted address cut short by the box's maxlength was taken, and mailed
            raise StopValidation(f"The part before the @ can be at most {self.LOCAL_MAX} "
                                 "characters: check the address.")


MAILABLE_ADDRESS = MailableAddress()


class OwnDateRules:
    """Marks a date field whose service checks it by its own rules and words, in place of
    the shared range (the register's dates: not in the future, not before the society was
    founded in 1945, so well before the shared range's 2000): :func:`shared_checks` leaves
    the shared check out, and the service's message appears next to the field."""

    field_flags = {"own_date_rules": True}

    def __call__(self, form, field):
        return None


SINGLE_LINE = SingleLine()
DATE_IN_RANGE = DateInRange()
OWN_DATE_RULES = OwnDateRules()
_MULTI_LINE = (TextAreaField, PasswordField, HiddenField, ButtonField)
_DATES = (DateField, DateTimeField, DateTimeLocalField)


def shared_checks(field) -> list:
    """The checks :class:`CoopMeta` puts in front of this field's own validators."""
    if isinstance(field, StringField) and not isinstance(field, _MULTI_LINE):
        return [SINGLE_LINE]
    if (isinstance(field, _DATES) and not isinstance(field, TimeField)
            and not field.flags.own_date_rules):
        return [DATE_IN_RANGE]
    return []


@lru_cache(maxsize=512)
def _attr_name(key: str) -> str:
    name = key.rstrip("_")
    if name.startswith(("data_", "aria_")):
        name = name.replace("_", "-")
    return str(escape(name))


def html_attrs(**attrs) -> Markup:
    """``class_="wide", data_x_y=1, required=True`` → ``class="wide" data-x-y="1" required``.

    Its output must be exactly that of ``wtforms.widgets.html_params`` (a test compares them):
    keys in sorted order; a trailing ``_`` dropped; ``_`` → ``-`` in ``data_``/``aria_`` keys;
    ``True`` a bare attribute, ``False`` left out; every value escaped, ``"`` written
    ``&quot;`` even in a ``Markup`` value. WTForms builds each attribute with
    ``Markup.format``, which made up 40% of the share enquiry page's time; plain string
    work does the same in a fraction of it."""
    parts = []
    for key in sorted(attrs):
        value = attrs[key]
        if value is True:
            parts.append(_attr_name(key))
        elif value is not False:
            text = str(escape(value)).replace('"', "&quot;")  # a Markup value keeps its quotes
            parts.append(f'{_attr_name(key)}="{text}"')
    return Markup(" ".join(parts))  # noqa: S704  # nosec B704 - every key and value escaped


def _own(widget_class: type) -> widgets.Input:
    """An instance of ``widget_class`` (a WTForms input) that writes its attributes with
    :func:`html_attrs`: ``Input`` looks them up as ``self.html_params``, a class attribute
    (not a documented hook: ``tests/test_forms.py`` compares our inputs' HTML with WTForms' so
    that a release changing it fails the tests)."""
    return type(widget_class.__name__, (widget_class,),
                {"__module__": __name__, "html_params": staticmethod(html_attrs)})()


def _with_flags(field, names, attrs: dict) -> dict:
    """``attrs`` plus those of ``names`` (``required``, ``maxlength``…) that the field's flags
    set and ``attrs`` doesn't: what WTForms' widgets add from the validators."""
    flags = field.flags
    present = dir(flags)
    for name in names:
        if name in present and name not in attrs:
            attrs[name] = getattr(flags, name)
    return attrs


class TextArea(widgets.TextArea):
    """WTForms' ``TextArea`` (its ``__call__`` uses the module's attribute builder, so
    overriding ``html_params`` isn't enough), with :func:`html_attrs`: the same HTML, which
    a test checks."""

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", field.id)
        attrs = html_attrs(name=field.name, **_with_flags(field, self.validation_attrs, kwargs))
        return Markup(f"<textarea {attrs}>\r\n{escape(field._value())}</textarea>")  # noqa: S704  # nosec B704


#: WTForms' stock inputs, each mapped to the same widget drawing its attributes with
#: :func:`html_attrs`; :class:`CoopMeta` puts them on each field it binds. The HTML is the same.
OWN_WIDGETS: dict[type, widgets.Input | TextArea] = {
    cls: _own(cls) for cls in (
        widgets.TextInput, widgets.EmailInput, widgets.TelInput, widgets.URLInput,
        widgets.SearchInput, widgets.PasswordInput, widgets.HiddenInput,
        widgets.CheckboxInput, widgets.RadioInput, widgets.SubmitInput,
        widgets.NumberInput, widgets.DateInput, widgets.DateTimeLocalInput, widgets.TimeInput,
    )
} | {widgets.TextArea: TextArea()}


def own_widget(widget):
    """``widget``'s counterpart in :data:`OWN_WIDGETS`, or ``widget`` itself when it has none
    or was set up differently (``NumberInput(step="any")`` keeps WTForms' drawing)."""
    own = OWN_WIDGETS.get(type(widget))
    if own is None or vars(widget) != vars(own):
        return widget
    return own


def strip(value):
    """A filter: text without the spaces around it (pasted addresses often bring some)."""
    return value.strip() if isinstance(value, str) else value


@cache
def _default_format(field_class) -> object:
    """The ``format`` a field class uses when given none (None for fields without one); read
    once per class (every field of every form is bound on every request)."""
    parameter = inspect.signature(field_class.__init__).parameters.get("format")
    return None if parameter is None else parameter.default


class HouseWording:
    """WTForms' own messages in the site's words, through WTForms' translations hook (QA:
    "Field cannot be longer than 500 characters." beside fields that said "Keep it to 500
    characters."). Anything not listed is WTForms' own."""

    PLURALS = {
        "Field cannot be longer than %(max)d character.":
            ("Keep it to %(max)d character.", "Keep it to %(max)d characters."),
        "Field must be at least %(min)d character long.":
            ("Enter at least %(min)d character.", "Enter at least %(min)d characters."),
    }

    SINGULARS = {
        # a choice the page didn't offer (a tampered or out-of-date form, a bad filter link)
        "Not a valid choice.": "Choose one of the options given.",
    }

    def gettext(self, string: str) -> str:
        return self.SINGULARS.get(string, string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        ours = self.PLURALS.get(singular)
        if ours is None:
            return singular if n == 1 else plural
        return ours[0] if n == 1 else ours[1]


class CoopMeta(DefaultMeta):
    def get_translations(self, form):
        return HOUSE_WORDING

    def bind_field(self, form, unbound_field, options):
        # day-first dates are read too (a browser without a date picker shows a text box)
        if "format" not in unbound_field.kwargs:
            default = _default_format(unbound_field.field_class)
            if default == "%Y-%m-%d":  # a DateField (not a MonthField: "%Y-%m")
                options = {**options, "format": DATE_FORMATS}
            elif issubclass(unbound_field.field_class, DateTimeLocalField):
                options = {**options, "format": DATETIME_FORMATS}
        field = super().bind_field(form, unbound_field, options)
        if isinstance(field, StringField) and not isinstance(field, (PasswordField,
                                                                     HiddenField)):
            field.filters = (blank_invisible, *field.filters)
        checks = shared_checks(field)
        if checks:
            field.validators = [*checks, *field.validators]
        field.widget = own_widget(field.widget)
        if isinstance(field, SelectFieldBase):  # radio buttons and check-box lists
            field.option_widget = own_widget(field.option_widget)
        return field


HOUSE_WORDING = HouseWording()

#: WTForms' words when what was typed can't be read as a number or a date (meant for
#: developers), and what people are told instead
UNREADABLE = {
    "Not a valid integer value.": "Enter a whole number, like 12.",
    "Not a valid decimal value.": "Enter a number, like 12.50.",
    "Not a valid float value.": "Enter a number, like 12.5.",
    "Not a valid date value.": "Enter a real date, like 31/12/2026.",
    "Not a valid datetime value.": "Enter a date and time, like 31/12/2026 19:00.",
    "Not a valid time value.": "Enter a time on the 24-hour clock, like 19:00.",
}
#: what a date field reads: what a browser's date box sends, and a date typed day first
DATE_FORMATS = ["%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y"]
#: WTForms' own (the first is how a value is written back), then day first
DATETIME_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M",
                    "%d/%m/%Y %H:%M"]


class ReadableErrors:
    """Text that can't be read as the field's kind gets one plain message: WTForms gave its
    own developer wording, then each validator's complaint about the missing value too
    ("Not a valid integer value.Enter a number from 1 to 100,000.")."""

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            # no errors left: an optional field left empty (its parse error was cleared)
            if not field.process_errors or not field.errors or not isinstance(field.errors, list):
                continue
            first = str(field.process_errors[0])
            if any(str(value).strip() for value in field.raw_data or ()):
                field.errors = [UNREADABLE.get(first, first)]
            else:  # nothing typed: the field's own "Enter the …" says it best
                field.errors = [e for e in field.errors if e not in field.process_errors] or [
                    UNREADABLE.get(first, first)]
        return valid


class CoopForm(ReadableErrors, FlaskForm):
    """A posted form (CSRF from Flask-WTF) with the shared checks."""

    class Meta(CoopMeta):
        pass


class PlainForm(ReadableErrors, Form):
    """A form without CSRF (``?day=`` filters, the lines of a batch) with the shared checks."""

    Meta = CoopMeta


class EmptyForm(CoopForm):
    """Gives POST-only buttons (log out, deactivate, cancel) their CSRF token."""


class SentOnce:
    """For a form that records something: a random key drawn with the form and sent back with
    it (the template draws ``form.submission()``), so the form sent twice records once
    (:func:`coop.submissions.claim`). Kept as posted when the form comes back with errors, so
    its next sending is still the same form's."""

    submission = HiddenField(default=lambda: secrets.token_urlsafe(16))

    @property
    def submission_key(self) -> str | None:
        """The posted key, when it is one this site could have drawn (else None: the form is
        saved without one, never refused for it)."""
        from coop.submissions import KEY

        key = self.submission.data
        return key if isinstance(key, str) and KEY.fullmatch(key) else None


def show_error(form, err: Exception, *, field: str | None = None) -> None:
    """A service's refusal where it belongs: beside the field it names (``err.field``, or
    ``field`` for a name of this form's own), else above the form. The message is
    ``err.message`` when the error has one, else ``str(err)``."""
    name = field if field is not None else getattr(err, "field", None)
    target = getattr(form, name, None) if name else None
    message = getattr(err, "message", None) or str(err)
    if target is not None and hasattr(target, "errors"):
        target.errors = [*target.errors, message]
    else:
        form.form_errors.append(message)


EDITED_MEANWHILE = ("Someone else saved changes to this while you had it open, so yours were "
                    "not saved. What you typed is below: check it against the saved version "
                    "(open it in another tab), then send it again to save yours over theirs.")


class GuardsEdits:
    """For a form that edits a saved thing two people may have open at once: the version it
    was drawn from goes with it (``seen``), and :meth:`edited_meanwhile` refuses a sending
    drawn from an older one, which would quietly undo the other person's changes."""

    seen = HiddenField()

    @staticmethod
    def version_of(obj, *names: str) -> str:
        """A short fingerprint of ``obj``'s ``names`` (the values this form edits)."""
        values = repr([getattr(obj, name) for name in names]).encode()
        return hashlib.sha256(values).hexdigest()[:32]

    def edited_meanwhile(self, version: str) -> bool:
        """True (with :data:`EDITED_MEANWHILE` on the form, and the form now drawn from
        ``version``, so sending it again saves it) when it was drawn from another version."""
        if self.seen.data and self.seen.data != version:
            self.seen.data = version
            self.form_errors.append(EDITED_MEANWHILE)
            return True
        self.seen.data = version
        return False


class SentOnceButton(SentOnce, EmptyForm):
    """A one-click button that records something; its form draws the key with
    ``csrf_field(form)`` (the fund's "Create next month's campaign")."""


CSRF_MESSAGE = ("This form was open too long, or came from another site: check it and send it "
                "again.")


def redraws_on_stale_token(view):
    """A form view whose form is drawn again, as typed, when its CSRF token is refused.

    Flask-WTF's site-wide check (``CSRFProtect``) answers a stale token with the 400 page, and
    what was typed is lost: a long enquiry written while logging in in another tab (which
    starts a new session, and so a new token), or an event description. On a view marked with
    this, a post that shows it came from this site (:func:`coop.security.from_this_site`) and
    whose token is refused goes on to the view instead, whose form checks the token itself
    (``FlaskForm``), refuses it and draws itself again with the input and
    :data:`CSRF_MESSAGE` (and a fresh token). Such a post counts against no rate limit
    (``coop.extensions``), since it can't save anything.

    Nothing else is relaxed: a post from another site or from a client that doesn't say where
    it came from, and one whose token is good (in the form or a header) but fails the
    library's other checks (the referrer over HTTPS), get the 400 page as before, so another
    site can't fill in a form for a reader to send.

    Only for views that change nothing unless their ``CoopForm`` validates
    (``tests/test_stale_token.py`` posts each with a stale token and finds nothing saved).
    Put it under ``@bp.route``, above ``@access``.
    """
    from flask import current_app, g, request
    from flask_wtf.csrf import CSRFError, ValidationError, validate_csrf

    from coop.extensions import STALE_FORM_FLAG, csrf
    from coop.security import from_this_site

    def token_is_good(token: str | None) -> bool:
        try:
            validate_csrf(token)
        except ValidationError:
            return False
        return True

    @wraps(view)
    def wrapped(*args, **kwargs):
        config = current_app.config
        if not (config["WTF_CSRF_ENABLED"] and config["WTF_CSRF_CHECK_DEFAULT"]):
            return view(*args, **kwargs)  # as CSRFProtect itself would
        try:
            csrf.protect()
        except CSRFError:
            sent = [request.form.get(config["WTF_CSRF_FIELD_NAME"]),
                    *(request.headers.get(name) for name in config["WTF_CSRF_HEADERS"])]
            if not from_this_site() or any(token_is_good(t) for t in sent if t):
                raise
            # the token itself: the view's form refuses it and keeps the input
            setattr(g, STALE_FORM_FLAG, True)
        return view(*args, **kwargs)

    csrf.exempt(wrapped)  # checked above instead
    wrapped.redraws_on_stale_token = True
    return wrapped


@dataclass(frozen=True)
class ErrorItem:
    """One line of the error summary: ``anchor`` is the id of the field it links to (None
    for a problem with the whole form, or with a field nobody can focus)."""

    label: str
    message: str
    anchor: str | None


def _anchor(field) -> str | None:
    if field.type in ("HiddenField", "CSRFTokenField"):
        return None
    if field.type in ("RadioField", "MultiCheckboxField"):
        return f"{field.id}-0"  # the first option: the group itself has no element with its id
    return field.id


def _field_items(field, label: str):
    if field.type == "FieldList":
        entries = field.entries
        for message in (e for e in field.errors if isinstance(e, str)):
            first = entries[0] if entries else None
            target = (next(iter(first.form), None) if first is not None
                      and first.type == "FormField" else first)
            yield ErrorItem(label, message, _anchor(target) if target is not None else None)
        for number, entry in enumerate(entries, start=1):
            yield from _field_items(entry, f"Line {number}")
        return
    if field.type == "FormField":
        for sub in field.form:
            yield from _field_items(sub, f"{label}, {sub.label.text}")
        return
    if field.type == "CSRFTokenField":
        if field.errors:  # Flask-WTF's wording is for developers
            yield ErrorItem("", CSRF_MESSAGE, None)
        return
    for message in field.errors:
        yield ErrorItem(label, message, _anchor(field))


def error_items(form, order: list[str] | tuple[str, ...] | None = None) -> list[ErrorItem]:
    """The problems of ``form`` in the order its fields appear on the page: problems with the
    whole form first, then each field's, in ``order`` (field names, for a page that lays the
    fields out other than the class declares them) or the form's own field order. The
    honeypot (a field called ``website``) is left out: people never see it."""
    items = [ErrorItem("", message, None) for message in getattr(form, "form_errors", [])]
    names = list(order) if order is not None else [f.short_name for f in form]
    names += [f.short_name for f in form if f.short_name not in names]  # any left out, last
    for name in names:
        field = form[name]
        if name == "website" or field.type == "SubmitField":
            continue
        items.extend(_field_items(field, field.label.text))
    return items


class ConfirmForm(CoopForm):
    """The form of a danger button (``danger_button`` in ``_macros.html``): an irreversible
    action happens only with the box beside the button ticked. The browser asks for the tick
    (``required``); a POST without it is refused by the view with :func:`not_confirmed`."""

    confirm = BooleanField("I understand this can't be undone")


def not_confirmed(action: str) -> str:
    """What a refused danger button says."""
    return (f"Nothing was done: “{action}” can’t be undone, so it needs the box beside the "
            "button ticked first.")


@lru_cache(maxsize=4096)
def _option_html(value, label, selected: bool) -> str:
    """One ``<option>``, as WTForms' ``Select`` draws it."""
    return str(widgets.Select.render_option(Choice(value, label, selected, {})))


@lru_cache(maxsize=16)
def _fixed_choices(choices: tuple[tuple[str, str], ...]) -> tuple[list[Choice], dict, list]:
    """The options, none selected; where each value is among them; and each one's HTML."""
    options = [Choice(value, label, False, {}) for value, label in choices]
    where: dict[str, list[int]] = {}
    for i, (value, _label) in enumerate(choices):
        where.setdefault(value, []).append(i)
    return options, where, [_option_html(value, label, False) for value, label in choices]


class FixedSelect(widgets.Select):
    """Draws a :class:`FixedSelectField`: the ``<select>`` tag with :func:`html_attrs`, then
    :meth:`FixedSelectField.options_html`. The same HTML as WTForms' ``Select`` (a test
    compares them), without building and escaping each country's attributes on every page.
    One choice only, from the field's ``pairs`` (setting ``field.choices`` later would not
    change what is drawn)."""

    def __call__(self, field, **kwargs):
        if self.multiple:
            raise TypeError("FixedSelect draws a single choice")
        kwargs.setdefault("id", field.id)
        attrs = html_attrs(name=field.name, **_with_flags(field, self.validation_attrs, kwargs))
        return Markup(f"<select {attrs}>{field.options_html()}</select>")  # noqa: S704  # nosec B704


class FixedSelectField(SelectField):
    """A ``SelectField`` over a long list fixed when the app starts (the countries), given as
    ``pairs``, a function returning the same tuple of ``(value, label)`` strings every time:
    its options are made once and only the chosen one is marked on each use; drawn by
    :class:`FixedSelect`. No groups; values are strings."""

    widget = FixedSelect()

    def __init__(self, label=None, validators=None, *, pairs, **kwargs):
        super().__init__(label, validators,
                         choices=lambda: [SelectChoice(v, name) for v, name in pairs()],
                         **kwargs)
        self.pairs = pairs
        self.type = "SelectField"  # what it is to templates (render_field's select rules)

    def _chosen(self, where: dict) -> list[int]:
        return where.get(self.data, []) if isinstance(self.data, str) else []

    def iter_choices(self):
        options, where, _html = _fixed_choices(self.pairs())
        chosen = self._chosen(where)
        if not chosen:
            return options
        options = list(options)
        for i in chosen:
            options[i] = options[i]._replace(selected=True)
        return options

    def options_html(self) -> str:
        """Every option's HTML, the chosen one marked, joined from the pieces made once."""
        pairs = self.pairs()
        _options, where, html = _fixed_choices(pairs)
        chosen = self._chosen(where)
        if chosen:
            html = list(html)
            for i in chosen:
                html[i] = _option_html(*pairs[i], True)
        return "".join(html)

    def has_groups(self):
        return False
