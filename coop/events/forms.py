"""Forms for staff (events, series, messages) and for registering."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from coop.events import models as m
from coop.events.services import (
    MAX_SERIES_COUNT,
    RESERVED_SLUGS,
    SLUG_RE,
    DateOutOfRange,
    EventDetails,
    Repeat,
    TimeError,
    check_series_dates,
    london_to_utc,
    parse_tags,
)
from coop.formatting import london_datetime
from coop.forms import MAILABLE_ADDRESS, CoopForm, GuardsEdits, SentOnce, strip
from coop.timeutil import now_utc, to_london


class LondonDateField(DateField):
    """A date (``31/12/2026`` or the browser's ``2026-12-31``); a date that doesn't exist (31
    February) gets the site's one message for that (``coop.forms.UNREADABLE``)."""


class ClockField(TimeField):
    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("Enter a time on the 24-hour clock, like 19:00.") from None


def http_url(form, field):
    """Only absolute http(s) links: no javascript:, no relative paths."""
    value = (field.data or "").strip()
    field.data = value
    if not value:
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in value:
        raise ValidationError("Enter a full web address starting with https:// or http://.")


def slug_format(form, field):
    value = (field.data or "").strip().lower()
    field.data = value
    if value and value in RESERVED_SLUGS:
        raise ValidationError(f"“{value}” is one of the site's own addresses (like "
                              "/events/past): choose another.")
    if value and not SLUG_RE.match(value):
        raise ValidationError(
            "Use lower-case letters, digits and single hyphens, like science-for-the-future."
        )


STATUS_CHOICES = [SelectChoice(m.Status.DRAFT.value, "Draft (only staff see it)"),
                  SelectChoice(m.Status.PUBLISHED.value, "Published"),
                  SelectChoice(m.Status.CANCELLED.value, "Cancelled (stays listed, marked)")]
VISIBILITY_CHOICES = [SelectChoice(m.Visibility.PUBLIC.value, "Everyone"),
                      SelectChoice(m.Visibility.MEMBERS.value, "Logged-in members only")]
REPEAT_CHOICES = [SelectChoice(Repeat.WEEKLY.value, "Every week"),
                  SelectChoice(Repeat.FORTNIGHTLY.value, "Every two weeks"),
                  SelectChoice(Repeat.MONTHLY.value,
                               "Every month, on the same weekday (e.g. the 2nd Wednesday)")]


class DetailsMixin:
    """The fields every event (and every session of a new series) has."""

    summary = StringField("Summary", description="One or two sentences for listings.",
                          validators=[Length(max=m.SUMMARY_LENGTH)])
    description = TextAreaField("Description",
                                description="Markdown: **bold**, *italic*, [links](https://…).",
                                validators=[Length(max=m.DESCRIPTION_LENGTH)])
    online = BooleanField("Online event")
    joining_url = StringField("Joining link", description="The meeting link, for online events.",
                              validators=[Length(max=m.URL_LENGTH), http_url])
    joining_url_public = BooleanField(
        "Show the joining link to everyone (otherwise only to people with a place)")
    venue = StringField("Venue", validators=[Length(max=m.VENUE_LENGTH)])
    address = StringField("Address", validators=[Length(max=m.ADDRESS_LENGTH)])
    details_url = StringField("Details link", description="Where to read more, if anywhere.",
                              validators=[Length(max=m.URL_LENGTH), http_url])
    presenters = StringField("Presented by", validators=[Length(max=m.PRESENTERS_LENGTH)])
    partner = StringField("In collaboration with", validators=[Length(max=m.PARTNER_LENGTH)])
    tags = StringField("Tags", description="Separated by commas, e.g. science, history.",
                       validators=[Length(max=400)])
    capacity = IntegerField(
        "Capacity", description="Places available; leave empty for no limit.",
        validators=[Optional(), NumberRange(1, m.MAX_CAPACITY,
                                            f"Enter a number from 1 to {m.MAX_CAPACITY:,}.")])
    visibility = SelectField("Who can see it", choices=VISIBILITY_CHOICES,
                             default=m.Visibility.PUBLIC.value)
    status = SelectField("Status", choices=STATUS_CHOICES, default=m.Status.DRAFT.value)

    def validate_tags(self, field):
        if not isinstance(field.data, str):
            field.data = ""
        for tag in field.data.split(","):
            if len(tag.strip()) > m.TAG_LENGTH:
                raise ValidationError(f"Keep each tag to {m.TAG_LENGTH} characters.")

    def details(self, title: str) -> EventDetails:
        return EventDetails(
            title=title.strip(),
            summary=(self.summary.data or "").strip(),
            description=self.description.data or "",
            online=bool(self.online.data),
            joining_url=self.joining_url.data or "",
            joining_url_public=bool(self.joining_url_public.data),
            venue=(self.venue.data or "").strip(),
            address=(self.address.data or "").strip(),
            details_url=self.details_url.data or "",
            presenters=(self.presenters.data or "").strip(),
            partner=(self.partner.data or "").strip(),
            tags=parse_tags(self.tags.data or ""),
            capacity=self.capacity.data,
            visibility=self.visibility.data,
            status=self.status.data,
        )


class EventForm(SentOnce, GuardsEdits, DetailsMixin, CoopForm):
    title = StringField("Title", validators=[DataRequired("Enter a title."),
                                             Length(max=m.TITLE_LENGTH)])
    slug = StringField("Web address", description="Leave empty to make one from the title.",
                       validators=[Length(max=m.SLUG_LENGTH), slug_format])
    start_date = LondonDateField("Date", validators=[InputRequired("Enter the date.")])
    start_time = ClockField("Starts at (London time)",
                            validators=[InputRequired("Enter the start time.")])
    end_time = ClockField("Ends at (London time)",
                          validators=[InputRequired("Enter the end time.")])
    end_date = LondonDateField("End date", description="Only if it ends on a later day.",
                               validators=[Optional()])
    submit = SubmitField("Save event", id="event-submit")

    #: set by validate(): the aware UTC start and end
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    #: set by the edit view: the event's start and end before this edit (None: a new event)
    was_starting: dt.datetime | None = None
    was_ending: dt.datetime | None = None

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if self.start_date.data is None or self.start_time.data is None \
                or self.end_time.data is None or self.start_date.errors or self.end_date.errors:
            # a date refused for itself (out of range) says so once (QA: "1 Jan 1, 19:00 has
            # passed" beside "The date can't be before …")
            return False
        try:
            self.starts_at = _kept(self.start_date.data, self.start_time.data,
                                   self.was_starting)
        except TimeError as err:
            self.start_time.errors = [*self.start_time.errors, str(err)]
            return False
        end_day = self.end_date.data or self.start_date.data
        try:
            self.ends_at = _kept(end_day, self.end_time.data, self.was_ending)
        except TimeError as err:
            self.end_time.errors = [*self.end_time.errors, str(err)]
            return False
        if self.ends_at <= self.starts_at:
            self.end_time.errors = [*self.end_time.errors,
                                    "The end must be after the start."]
            return False
        now = now_utc()
        if self.starts_at < now and (self.was_starting is None or self.was_starting >= now):
            # a slip of the year or month would hide it among past events and close its
            # registrations; an event that has begun may still have its times corrected
            which = "A new event" if self.was_starting is None else "An event still to come"
            self.start_date.errors = [*self.start_date.errors, _passed(self.starts_at, which)]
            return False
        return ok

    def load(self, event: m.Event) -> None:
        start, end = to_london(event.starts_at), to_london(event.ends_at)
        self.start_date.data, self.start_time.data = start.date(), start.time()
        self.end_time.data = end.time()
        self.end_date.data = end.date() if end.date() != start.date() else None
        self.tags.data = ", ".join(event.tag_names)


class SeriesForm(SentOnce, DetailsMixin, CoopForm):
    title = StringField("Series title", validators=[DataRequired("Enter a title."),
                                                    Length(max=m.TITLE_LENGTH)])
    slug = StringField("Web address", description="Leave empty to make one from the title.",
                       validators=[Length(max=m.SLUG_LENGTH), slug_format])
    first_date = LondonDateField("First date", validators=[InputRequired("Enter the first date.")])
    start_time = ClockField("Starts at (London time)",
                            validators=[InputRequired("Enter the start time.")])
    duration = IntegerField(
        "Length in minutes",
        validators=[InputRequired("Enter how long each session lasts."),
                    NumberRange(5, 24 * 60, "Enter a length from 5 to 1,440 minutes.")],
        default=90)
    repeat = SelectField("Repeat", choices=REPEAT_CHOICES, default=Repeat.WEEKLY.value)
    count = IntegerField(
        "Number of sessions",
        validators=[InputRequired("Enter how many sessions."),
                    NumberRange(1, MAX_SERIES_COUNT,
                                f"Enter a number of sessions from 1 to {MAX_SERIES_COUNT}.")],
        default=3)
    submit = SubmitField("Create series", id="series-submit")

    def validate(self, extra_validators=None) -> bool:
        from coop.events.services import series_dates

        ok = super().validate(extra_validators)
        if not ok:
            return False
        dates = series_dates(self.first_date.data, self.repeat.data, self.count.data)
        try:
            check_series_dates(dates)
        except DateOutOfRange as err:
            self.first_date.errors = [*self.first_date.errors, str(err)]
            return False
        for day in dates:
            try:
                london_to_utc(day, self.start_time.data)
            except TimeError as err:
                self.start_time.errors = [*self.start_time.errors, str(err)]
                return False
        first = london_to_utc(dates[0], self.start_time.data)
        if first < now_utc():
            self.first_date.errors = [*self.first_date.errors,
                                      _passed(first, "A new series")]
            return False
        return True


def _kept(day: dt.date, time: dt.time, stored: dt.datetime | None) -> dt.datetime:
    """The instant of a London date and time typed in an event form: the ``stored`` one when
    the form gives it back unchanged (a time in the autumn's repeated hour stays the one it
    was, and editing only the summary needs no new time), else :func:`london_to_utc`."""
    if stored is not None:
        local = to_london(stored)
        if (local.date(), local.time().replace(second=0, microsecond=0)) == (
                day, time.replace(second=0, microsecond=0, tzinfo=None)):
            return stored
    return london_to_utc(day, time)


def _passed(start: dt.datetime, which: str) -> str:
    return (f"{london_datetime(start)} has passed: check the date and the year. {which} "
            "can only start at a time still to come.")


class SeriesEditForm(GuardsEdits, CoopForm):
    """A series' own title, summary and description; drawn from them as they were, so two
    staff don't quietly overwrite each other's description (QA)."""

    EDITS = ("title", "summary", "description")
    title = StringField("Series title", validators=[DataRequired("Enter a title."),
                                                    Length(max=m.TITLE_LENGTH)])
    summary = StringField("Summary", validators=[Length(max=m.SUMMARY_LENGTH)])
    description = TextAreaField("Description", description="Markdown.",
                                validators=[Length(max=m.DESCRIPTION_LENGTH)])
    submit = SubmitField("Save series", id="series-submit")


class RegistrationForm(SentOnce, CoopForm):
    """A reader registers; sent twice (a double click, Back and send), it registers once and
    emails once (QA: the second sending emailed "You're already registered… Someone,
    hopefully you, asked…", alarming the reader who had just registered)."""

    name = StringField("Your name", id="registration-name", filters=[strip],
                       validators=[DataRequired("Enter your name."), Length(max=m.NAME_LENGTH)])
    email = EmailField("Your email", id="registration-email", filters=[strip], validators=[
        DataRequired("Enter your email address."),
        Email("Enter a valid email address, like name@example.org.",
              check_deliverability=False),
        Length(max=m.EMAIL_LENGTH), MAILABLE_ADDRESS])
    submit = SubmitField("Register", id="registration-submit")


class BookingForm(SentOnce, CoopForm):
    """Staff put someone on the list: a booking by phone, by post or at the door."""

    name = StringField("Their name", id="booking-name", filters=[strip],
                       validators=[DataRequired("Enter their name."), Length(max=m.NAME_LENGTH)])
    email = EmailField("Their email", id="booking-email", filters=[strip], validators=[
        DataRequired("Enter their email address: it is how they get the details and "
                     "their link to cancel."),
        Email("Enter a valid email address, like name@example.org.",
              check_deliverability=False),
        Length(max=m.EMAIL_LENGTH), MAILABLE_ADDRESS])
    submit = SubmitField("Add them", id="booking-submit")


class MemberRegistrationForm(SentOnce, CoopForm):
    """A logged-in member registers with their account's name and email."""

    submit = SubmitField("Register", id="registration-submit")


class MessageForm(SentOnce, CoopForm):
    audience = RadioField("Send it to", default=m.AUDIENCE_PLACES, choices=[
        SelectChoice(value, label) for value, label in m.AUDIENCES.items()],
        validators=[InputRequired("Choose who gets it.")])
    subject = StringField("Subject", validators=[DataRequired("Enter a subject."),
                                                 Length(max=m.SUBJECT_LENGTH)])
    body = TextAreaField("Message", validators=[DataRequired("Write the message."),
                                                Length(max=m.MESSAGE_LENGTH)],
                         description="Plain text, sent as you write it. Each person is "
                                     "greeted by name first (“Hello Ann,”), unless your "
                                     "message starts with a greeting of its own.")
    submit = SubmitField("Send the message", id="message-submit")
