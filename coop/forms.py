"""Form pieces every feature shares: the base forms, and the rules every form gets from them.

Every form in ``coop`` derives from :class:`CoopForm` (posted, with CSRF) or :class:`PlainForm`
(GET filters and sub-forms). Their ``Meta`` gives each field, as it is bound:

- a one-line text field (a ``StringField`` that is not a text area, password, hidden field or
  button: names, titles, subjects, emails, links, amounts, search boxes) the
  :class:`SingleLine` check: no line breaks, tabs or other control characters, which would
  otherwise reach email headers, calendar lines and CSV rows;
- a date or date-and-time field the :class:`DateInRange` check (``coop.limits``).

So a new field is covered without anyone remembering to; ``tests/test_forms.py`` checks that
every form class in the app derives from one of the two.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import Form, widgets
from wtforms.fields import (
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
from wtforms.fields.choices import Choice, SelectChoice, SelectField
from wtforms.meta import DefaultMeta
from wtforms.validators import StopValidation

from coop import limits


class SingleLine:
    """Refuses control characters (line feed, carriage return, tab, NUL, escape…) in a
    one-line field, with a message next to it; later checks on the field don't run."""

    def __init__(self, message: str = limits.SINGLE_LINE_MESSAGE):
        self.message = message

    def __call__(self, form, field):
        if isinstance(field.data, str) and limits.has_control_characters(field.data):
            raise StopValidation(self.message)


class DateInRange:
    """Refuses a date (or date and time) outside ``coop.limits``' range."""

    def __init__(self, message: str | None = None):
        self.message = message or f"Enter a date {limits.DATE_RANGE_TEXT}."

    def __call__(self, form, field):
        if isinstance(field.data, dt.date) and not limits.date_in_range(field.data):
            raise StopValidation(self.message)


SINGLE_LINE = SingleLine()
DATE_IN_RANGE = DateInRange()
_MULTI_LINE = (TextAreaField, PasswordField, HiddenField, ButtonField)
_DATES = (DateField, DateTimeField, DateTimeLocalField)


def shared_checks(field) -> list:
    """The checks :class:`CoopMeta` puts in front of this field's own validators."""
    if isinstance(field, StringField) and not isinstance(field, _MULTI_LINE):
        return [SINGLE_LINE]
    if isinstance(field, _DATES) and not isinstance(field, TimeField):
        return [DATE_IN_RANGE]
    return []


class CoopMeta(DefaultMeta):
    def bind_field(self, form, unbound_field, options):
        field = super().bind_field(form, unbound_field, options)
        checks = shared_checks(field)
        if checks:
            field.validators = [*checks, *field.validators]
        return field


class CoopForm(FlaskForm):
    """A posted form (CSRF from Flask-WTF) with the shared checks."""

    class Meta(CoopMeta):
        pass


class PlainForm(Form):
    """A form without CSRF (``?day=`` filters, the lines of a batch) with the shared checks."""

    Meta = CoopMeta


class EmptyForm(CoopForm):
    """Gives POST-only buttons (log out, deactivate, cancel) their CSRF token."""


@lru_cache(maxsize=4096)
def _option_html(value, label, selected: bool) -> Markup:
    return widgets.Select.render_option(Choice(value, label, selected, {}))


class LongSelect(widgets.Select):
    """WTForms' ``Select``, each option's HTML remembered (by value, label and whether it is
    selected): a long fixed list such as the countries then costs a look-up per option rather
    than building and escaping its attributes on every page. The HTML is WTForms' own."""

    @classmethod
    def render_option(cls, choice, **kwargs):
        if kwargs or choice.render_kw:
            return super().render_option(choice, **kwargs)
        try:
            return _option_html(choice.value, choice.label, bool(choice.selected))
        except TypeError:  # a value that can't be a key
            return super().render_option(choice)


@lru_cache(maxsize=16)
def _fixed_choices(choices: tuple[tuple[str, str], ...]) -> tuple[list[Choice], dict]:
    """The options, none selected, and where each value is among them."""
    options = [Choice(value, label, False, {}) for value, label in choices]
    where: dict[str, list[int]] = {}
    for i, (value, _label) in enumerate(choices):
        where.setdefault(value, []).append(i)
    return options, where


class FixedSelectField(SelectField):
    """A ``SelectField`` over a long list fixed when the app starts (the countries), given as
    ``pairs``, a function returning the same tuple of ``(value, label)`` strings every time:
    its options are made once and only the chosen one is marked on each use; drawn by
    :class:`LongSelect`. No groups; values are strings."""

    widget = LongSelect()

    def __init__(self, label=None, validators=None, *, pairs, **kwargs):
        super().__init__(label, validators,
                         choices=lambda: [SelectChoice(v, name) for v, name in pairs()],
                         **kwargs)
        self.pairs = pairs
        self.type = "SelectField"  # what it is to templates (render_field's select rules)

    def iter_choices(self):
        options, where = _fixed_choices(self.pairs())
        chosen = where.get(self.data, ()) if isinstance(self.data, str) else ()
        if not chosen:
            return options
        options = list(options)
        for i in chosen:
            options[i] = options[i]._replace(selected=True)
        return options

    def has_groups(self):
        return False
