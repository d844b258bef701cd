"""The Sorce simulator's location table: real cities, with ids that never change.

Sorce only accepts locations picked from its search suggestions; the simulator's suggestions
come from this table. Ids read ``loc_<country>_<region>_<city>`` (ISO 3166 codes, lower case),
so two cities of the same name in different regions (Portland, Oregon and Portland, Maine)
stay apart.
"""

from __future__ import annotations

from typing import TypedDict


class Location(TypedDict):
    """A location exactly as Sorce shows it in a job and in search results."""

    locationId: str
    displayName: str
    city: str
    stateProvince: str
    country: str


DEFAULT_COUNTRY = "United States"

MAX_SUGGESTIONS = 10
"""Search answers at most this many suggestions, like a type-ahead box."""

# (country code, region code, city, region name, country name)
_CITIES: tuple[tuple[str, str, str, str, str], ...] = (
    ("us", "ny", "New York", "New York", "United States"),
    ("us", "ca", "San Francisco", "California", "United States"),
    ("us", "ca", "San Jose", "California", "United States"),
    ("us", "ca", "San Diego", "California", "United States"),
    ("us", "ca", "Los Angeles", "California", "United States"),
    ("us", "il", "Chicago", "Illinois", "United States"),
    ("us", "tx", "Austin", "Texas", "United States"),
    ("us", "wa", "Seattle", "Washington", "United States"),
    ("us", "ma", "Boston", "Massachusetts", "United States"),
    ("us", "co", "Denver", "Colorado", "United States"),
    ("us", "ga", "Atlanta", "Georgia", "United States"),
    ("us", "or", "Portland", "Oregon", "United States"),
    ("us", "me", "Portland", "Maine", "United States"),
    ("ca", "on", "Toronto", "Ontario", "Canada"),
    ("ca", "bc", "Vancouver", "British Columbia", "Canada"),
    ("ca", "qc", "Montreal", "Quebec", "Canada"),
    ("ca", "ab", "Calgary", "Alberta", "Canada"),
    ("gb", "eng", "London", "England", "United Kingdom"),
    ("gb", "eng", "Manchester", "England", "United Kingdom"),
    ("gb", "eng", "Bristol", "England", "United Kingdom"),
    ("gb", "sct", "Edinburgh", "Scotland", "United Kingdom"),
    ("de", "be", "Berlin", "Berlin", "Germany"),
    ("de", "by", "Munich", "Bavaria", "Germany"),
    ("de", "hh", "Hamburg", "Hamburg", "Germany"),
    ("de", "he", "Frankfurt am Main", "Hesse", "Germany"),
    ("fr", "idf", "Paris", "Île-de-France", "France"),
    ("fr", "ara", "Lyon", "Auvergne-Rhône-Alpes", "France"),
    ("fr", "occ", "Toulouse", "Occitanie", "France"),
    ("nl", "nh", "Amsterdam", "North Holland", "Netherlands"),
    ("nl", "zh", "Rotterdam", "South Holland", "Netherlands"),
    ("es", "md", "Madrid", "Community of Madrid", "Spain"),
    ("es", "ct", "Barcelona", "Catalonia", "Spain"),
    ("pt", "11", "Lisbon", "Lisbon District", "Portugal"),
    ("pt", "13", "Porto", "Porto District", "Portugal"),
    ("ie", "l", "Dublin", "Leinster", "Ireland"),
    ("ie", "m", "Cork", "Munster", "Ireland"),
    ("in", "ka", "Bengaluru", "Karnataka", "India"),
    ("in", "mh", "Mumbai", "Maharashtra", "India"),
    ("in", "tg", "Hyderabad", "Telangana", "India"),
    ("in", "dl", "New Delhi", "Delhi", "India"),
    ("au", "nsw", "Sydney", "New South Wales", "Australia"),
    ("au", "vic", "Melbourne", "Victoria", "Australia"),
    ("au", "qld", "Brisbane", "Queensland", "Australia"),
)


def _slug(city: str) -> str:
    return "_".join(city.lower().split())


def _location(country_code: str, region_code: str, city: str, region: str, country: str) -> Location:
    return Location(
        locationId=f"loc_{country_code}_{region_code}_{_slug(city)}",
        displayName=f"{city}, {region}, {country}",
        city=city,
        stateProvince=region,
        country=country,
    )


LOCATIONS: dict[str, Location] = {loc["locationId"]: loc for loc in (_location(*row) for row in _CITIES)}
"""Every known location by id, in table order."""


def search(query: str, country: str) -> list[Location]:
    """Cities of `country` whose name contains `query` (any case): prefix matches first, then
    the others, each group in table order; an empty query lists the country's cities."""
    needle = query.strip().casefold()
    wanted = (country.strip() or DEFAULT_COUNTRY).casefold()
    in_country = [loc for loc in LOCATIONS.values() if loc["country"].casefold() == wanted]
    prefix = [loc for loc in in_country if loc["city"].casefold().startswith(needle)]
    inside = [loc for loc in in_country if needle in loc["city"].casefold() and loc not in prefix]
    return [Location(**loc) for loc in (prefix + inside)[:MAX_SUGGESTIONS]]
