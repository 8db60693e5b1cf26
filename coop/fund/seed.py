"""Demo fighting fund from seeds/fund.toml: this month's campaign and three past ones."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from coop.formatting import money
from coop.fund import services
from coop.money import parse_pence

#: the shape of a campaign's takings by day: slow middle, a rush before the deadline
_PATTERN = (3, 2, 2, 1, 2, 3, 1, 2, 2, 1, 2, 3, 2, 1, 2,
            2, 3, 2, 2, 3, 2, 3, 3, 4, 3, 4, 5, 5, 6, 7)
_DONORS = (
    ("K. Ahmed", "Bradford"), ("L. Fraser", "Dundee"), ("B. Hughes", "Wrexham"),
    ("S. Nowak", "Northampton"), ("G. Lloyd", "Aberystwyth"), ("F. O'Brien", "Belfast"),
)
CAMPAIGN_DAYS = 30


def _campaign(session: Session, slug: str, target: int, opens_on: dt.date, deadline: dt.date,
              donate_url: str, thanks: str = ""):
    return services.create_campaign(
        session, name=services.free_name(session, opens_on, deadline), slug=slug,
        target_pence=target, opens_on=opens_on, deadline=deadline, donate_url=donate_url,
        thank_you_text=thanks,
    )


def _past_entries(session: Session, campaign, raised: int) -> None:
    """Spread ``raised`` over the campaign's days, to the penny, two entries a day."""
    weights = sum(_PATTERN)
    remaining = raised
    for day_index, weight in enumerate(_PATTERN):
        day = campaign.opens_on + dt.timedelta(days=day_index)
        if day_index == len(_PATTERN) - 1:
            day_total = remaining
        else:
            day_total = raised * weight // weights // 100 * 100  # whole pounds
        remaining -= day_total
        post = day_total * 2 // 5 // 100 * 100
        online = day_total - post
        if post:
            name, town = _DONORS[day_index % len(_DONORS)] if day_index % 4 == 0 else (None, None)
            services.add_entry(session, campaign, post, received_on=day, source="post",
                               via="seed", donor_name=name, donor_town=town,
                               may_thank=name is not None)
        if online:
            services.add_entry(session, campaign, online, received_on=day, source="online",
                               via="seed")


def load(session: Session, data: dict, today: dt.date) -> str:
    if not data:
        return ""
    current = data["current"]
    donate_url = data.get("donate_url", "")
    if services.get_campaign(session, current["slug"]) is not None:
        return "Fighting fund demo already loaded."

    opens_on = today - dt.timedelta(days=current["opens_days_before"])
    deadline = today + dt.timedelta(days=current["deadline_days_after"])
    campaign = _campaign(session, current["slug"], parse_pence(current["target"]), opens_on,
                         deadline, donate_url, current.get("thank_you_text", ""))
    for item in current.get("entries", []):
        services.add_entry(
            session, campaign, parse_pence(item["amount"]),
            received_on=opens_on + dt.timedelta(days=item["day"]), source=item["source"],
            via="seed", donor_name=item.get("donor_name"), donor_town=item.get("donor_town"),
            may_thank=item.get("may_thank", False),
            name_to_check=item.get("name_to_check", False),
        )
    expected = parse_pence(current["raised"])
    if campaign.raised_pence != expected:
        raise ValueError(f"seeds/fund.toml: the entries add up to {money(campaign.raised_pence)}"
                         f", not {money(expected)}")

    next_deadline = opens_on - dt.timedelta(days=1)
    for past in data.get("past", []):
        past_deadline = next_deadline
        past_opens = past_deadline - dt.timedelta(days=CAMPAIGN_DAYS - 1)
        next_deadline = past_opens - dt.timedelta(days=1)
        if services.get_campaign(session, past["slug"]) is not None:
            continue
        old = _campaign(session, past["slug"], parse_pence(past["target"]), past_opens,
                        past_deadline, donate_url)
        _past_entries(session, old, parse_pence(past["raised"]))
    session.flush()
    return (f"Fighting fund demo: {campaign.name}, {money(campaign.raised_pence)} of "
            f"{money(campaign.target_pence)}, plus {len(data.get('past', []))} past campaigns.")
