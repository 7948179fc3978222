"""What the sample host's demo data is made of: countries, catalogues, account standings.

The data and small helpers ``pos.demo_data``'s generator draws from: each country's phone and
tax formats, cities, business names and product catalogue; how an account stands (current,
overdue, deleted); and the text, money and date helpers the generator shares.
"""

# Place and street names are written as their countries write them (dotless i and all).
# ruff: noqa: RUF001

from __future__ import annotations

import enum
import hashlib
import random
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from pos.models import (
    BusinessType,
    DevicePlatform,
)

CENT = Decimal("0.01")


# --- Countries and catalogues --------------------------------------------------------------------


@dataclass(frozen=True)
class CountryProfile:
    locales: tuple[str, ...]
    currency: str
    # Units of the local currency per US dollar, and the step prices are rounded to.
    per_dollar: Decimal
    price_step: Decimal
    vat_rate: Decimal
    plan_prices: dict[str, Decimal]
    company_suffix: str
    cities: tuple[str, ...]
    streets: tuple[str, ...]
    phone: Callable[[random.Random], str]
    tax_id: Callable[[random.Random], str]
    ip_prefixes: tuple[str, ...]


def digits(rng: random.Random, count: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(count))


def phone(rng: random.Random, country_code: str, operators: tuple[str, ...]) -> str:
    """Return a mobile number written the local way: ``+998 90 123 45 67``."""
    operator = rng.choice(operators)
    return f"{country_code} {operator} {digits(rng, 3)} {digits(rng, 2)} {digits(rng, 2)}"


COUNTRIES: dict[str, CountryProfile] = {
    "UZ": CountryProfile(
        locales=("uz_UZ", "ru_RU"),
        currency="UZS",
        per_dollar=Decimal(12_700),
        price_step=Decimal(500),
        vat_rate=Decimal("0.12"),
        plan_prices={
            "start": Decimal(199_000),
            "business": Decimal(399_000),
            "premium": Decimal(799_000),
        },
        company_suffix="MChJ",
        cities=("Toshkent", "Samarqand", "Buxoro", "Andijon", "Namangan", "Farg'ona", "Nukus"),
        streets=("Amir Temur", "Navoiy", "Mustaqillik", "Bobur", "Shota Rustaveli", "Oybek"),
        phone=lambda r: phone(r, "+998", ("90", "91", "93", "94", "97", "99")),
        tax_id=lambda r: r.choice("23") + digits(r, 8),
        ip_prefixes=("84.54.", "213.230.", "185.139.", "195.158."),
    ),
    "AZ": CountryProfile(
        locales=("az_AZ",),
        currency="AZN",
        per_dollar=Decimal("1.70"),
        price_step=Decimal("0.10"),
        vat_rate=Decimal("0.18"),
        plan_prices={"start": Decimal(39), "business": Decimal(79), "premium": Decimal(149)},
        company_suffix="MMC",
        cities=("Bakı", "Gəncə", "Sumqayıt", "Lənkəran", "Şəki", "Mingəçevir"),
        streets=("Nizami", "Füzuli", "Azadlıq prospekti", "Bülbül", "Rəşid Behbudov"),
        phone=lambda r: phone(r, "+994", ("50", "51", "55", "70", "77")),
        tax_id=lambda r: str(r.randrange(1, 10)) + digits(r, 9),
        ip_prefixes=("85.132.", "94.20.", "109.205.", "5.191."),
    ),
    "PK": CountryProfile(
        locales=("en_PK",),
        currency="PKR",
        per_dollar=Decimal(280),
        price_step=Decimal(10),
        vat_rate=Decimal("0.16"),
        plan_prices={
            "start": Decimal(4_500),
            "business": Decimal(9_000),
            "premium": Decimal(18_000),
        },
        company_suffix="(Pvt) Ltd",
        cities=("Karachi", "Lahore", "Islamabad", "Rawalpindi", "Faisalabad", "Multan", "Peshawar"),
        streets=("Shahrah-e-Faisal", "Mall Road", "Jinnah Avenue", "GT Road", "Canal Road"),
        phone=lambda r: f"+92 3{digits(r, 2)} {digits(r, 7)}",
        tax_id=lambda r: f"{digits(r, 7)}-{digits(r, 1)}",
        ip_prefixes=("39.32.", "119.152.", "182.185.", "111.119."),
    ),
}
FALLBACK_COUNTRY = "UZ"

# (name, category, price in US dollars, sold by the litre)
CATALOGUES: dict[str, tuple[tuple[str, str, str, bool], ...]] = {
    BusinessType.RESTAURANT: (
        ("Plov", "Main dishes", "4.50", False),
        ("Lagman", "Main dishes", "4.00", False),
        ("Shashlik (lamb)", "Grill", "5.50", False),
        ("Dolma", "Main dishes", "4.80", False),
        ("Qutab", "Starters", "1.50", False),
        ("Samsa", "Starters", "1.20", False),
        ("Shakarob salad", "Salads", "1.80", False),
        ("Tandoor bread", "Bakery", "0.40", False),
        ("Green tea (pot)", "Drinks", "1.00", False),
        ("Ayran", "Drinks", "0.90", False),
        ("Lemonade", "Drinks", "2.00", False),
        ("Baklava", "Desserts", "2.20", False),
    ),
    BusinessType.CAFE: (
        ("Espresso", "Coffee", "1.50", False),
        ("Cappuccino", "Coffee", "2.50", False),
        ("Latte", "Coffee", "2.80", False),
        ("Black tea", "Tea", "1.00", False),
        ("Croissant", "Bakery", "1.60", False),
        ("Cheesecake", "Desserts", "3.00", False),
        ("Club sandwich", "Food", "4.00", False),
        ("Fresh orange juice", "Drinks", "2.50", False),
    ),
    BusinessType.RETAIL: (
        ("USB-C cable", "Electronics", "4.00", False),
        ("Phone case", "Electronics", "6.00", False),
        ("Notebook A5", "Stationery", "1.50", False),
        ("Ballpoint pens (10)", "Stationery", "2.00", False),
        ("T-shirt", "Clothing", "9.00", False),
        ("Umbrella", "Accessories", "8.00", False),
        ("Power bank", "Electronics", "18.00", False),
        ("Backpack", "Accessories", "22.00", False),
    ),
    BusinessType.GROCERY: (
        ("Bread", "Bakery", "0.40", False),
        ("Milk 1 l", "Dairy", "0.90", False),
        ("Eggs (10)", "Dairy", "1.40", False),
        ("Rice 1 kg", "Groceries", "1.30", False),
        ("Sunflower oil 1 l", "Groceries", "1.80", False),
        ("Sugar 1 kg", "Groceries", "0.90", False),
        ("Tomatoes 1 kg", "Produce", "1.10", False),
        ("Apples 1 kg", "Produce", "1.20", False),
        ("Mineral water 1.5 l", "Drinks", "0.50", False),
        ("Black tea 250 g", "Groceries", "2.40", False),
    ),
    BusinessType.PHARMACY: (
        ("Paracetamol 500 mg", "Pain relief", "1.20", False),
        ("Ibuprofen 200 mg", "Pain relief", "2.10", False),
        ("Vitamin C", "Vitamins", "3.50", False),
        ("Bandages", "First aid", "1.00", False),
        ("Hand sanitiser", "Hygiene", "1.80", False),
        ("Cough syrup", "Cold and flu", "3.20", False),
        ("Thermometer", "Devices", "6.50", False),
    ),
    BusinessType.FUEL_STATION: (
        ("Petrol (Super)", "Fuel", "0.95", True),
        ("Hi-Octane", "Fuel", "1.10", True),
        ("Diesel", "Fuel", "1.00", True),
        ("Engine oil 1 l", "Lubricants", "6.00", False),
        ("Car wash", "Services", "3.50", False),
        ("Mineral water 0.5 l", "Shop", "0.30", False),
        ("Energy drink", "Shop", "1.20", False),
        ("Tyre pressure check", "Services", "0.50", False),
    ),
}

# Not the translated labels: the same seed must give the same names in every language.
COMPANY_WORDS: dict[str, str] = {
    BusinessType.RESTAURANT: "Restaurant",
    BusinessType.CAFE: "Coffee",
    BusinessType.RETAIL: "Store",
    BusinessType.GROCERY: "Market",
    BusinessType.PHARMACY: "Pharmacy",
    BusinessType.FUEL_STATION: "Petroleum",
}

# What each seed organisation's customers run, recognised by a word in the organisation's slug;
# any other organisation gets a mix of everything.
BUSINESS_TYPES_BY_ORGANIZATION: dict[str, tuple[str, ...]] = {
    "pumppos": (BusinessType.FUEL_STATION,),
    "clopos": (BusinessType.RESTAURANT, BusinessType.CAFE),
    "beshqozon": (BusinessType.RESTAURANT, BusinessType.CAFE),
    "zpos": (BusinessType.RETAIL, BusinessType.GROCERY, BusinessType.CAFE, BusinessType.PHARMACY),
    "smartpos": (BusinessType.RETAIL, BusinessType.GROCERY, BusinessType.PHARMACY),
}

USER_AGENTS: dict[str, tuple[str, ...]] = {
    DevicePlatform.ANDROID: (
        "Mozilla/5.0 (Linux; Android 13; SM-T225) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.6367.82 Safari/537.36",
        "Mozilla/5.0 (Linux; Android 11; Sunmi V2s) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/118.0.5993.111 Mobile Safari/537.36",
    ),
    DevicePlatform.IOS: (
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Mobile/15E148 Safari/604.1",
    ),
    DevicePlatform.WINDOWS: (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/125.0.0.0 Safari/537.36",
    ),
    DevicePlatform.WEB: (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Safari/605.1.15",
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0",
    ),
}
DEVICE_NAMES: dict[str, str] = {
    DevicePlatform.ANDROID: "POS terminal",
    DevicePlatform.IOS: "iPad at the counter",
    DevicePlatform.WINDOWS: "Back-office PC",
    DevicePlatform.WEB: "Owner's browser",
}
SUPPORT_TOPICS: tuple[tuple[str, str], ...] = (
    ("Receipt printer not printing", "Since this morning the receipt printer stays silent."),
    ("How do I add a new cashier?", "We hired a new cashier. Where do I create their login?"),
    ("Invoice question", "Our last invoice shows a different amount from our plan. Why?"),
    ("Export of sales for the accountant", "Our accountant needs last quarter's sales."),
    (
        "Price change did not sync",
        "I changed a price in the back office; the terminal shows the old one.",
    ),
    ("Upgrade to a bigger plan", "We are opening a second location. Which plan do we need?"),
)
CLOSURE_TOPIC = (
    "Please close our account",
    "We are closing the business; please delete our account.",
)


# --- Account standings ---------------------------------------------------------------------------


class Standing(enum.Enum):
    """Where an account stands with respect to the retention triggers."""

    CURRENT = "current"
    DELETED_LONG_AGO = "deleted_long_ago"  # deleted more than 30 days ago
    LICENCE_OVERDUE_LONG = "licence_overdue_long"  # overdue by more than 6 months
    DELETED_RECENTLY = "deleted_recently"  # deleted within the last 30 days
    LICENCE_OVERDUE_RECENTLY = "licence_overdue_recently"  # overdue by less than 6 months


FIRST_STANDINGS: tuple[Standing, ...] = (
    Standing.CURRENT,
    Standing.DELETED_LONG_AGO,
    Standing.LICENCE_OVERDUE_LONG,
    Standing.DELETED_RECENTLY,
    Standing.LICENCE_OVERDUE_RECENTLY,
)
# Past the first five, most merchants are in good standing.
LATER_WEIGHTS: tuple[int, ...] = (12, 2, 2, 2, 2)


def standing(index: int, rng: random.Random) -> Standing:
    if index < len(FIRST_STANDINGS):
        return FIRST_STANDINGS[index]
    return rng.choices(FIRST_STANDINGS, weights=LATER_WEIGHTS)[0]


# --- Text helpers --------------------------------------------------------------------------------

_CYRILLIC = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюяўқғҳ",
        (
            *("a", "b", "v", "g", "d", "e", "yo", "zh", "z", "i", "y", "k", "l", "m", "n", "o"),
            *("p", "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "-", "y", "-", "e"),
            *("yu", "ya", "o", "q", "g", "h"),
        ),
        strict=True,
    )
)


def ascii_slug(text: str) -> str:
    """Return ``text`` as lowercase ASCII letters and digits, for email addresses and domains."""
    text = text.lower().replace("ə", "e").replace("ı", "i")
    text = "".join(_CYRILLIC.get(ch, ch) for ch in text).replace("-", "")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", text)


def money(value: Decimal, step: Decimal) -> Decimal:
    """Round a price to the currency's customary step (500 sum, 10 rupees, 10 qapik)."""
    return ((value / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step).quantize(CENT)


def int_seed(*parts: object) -> int:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    if end <= start:
        return start
    return start + timedelta(seconds=rng.uniform(0, (end - start).total_seconds()))
