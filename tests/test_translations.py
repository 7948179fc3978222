# The test data is written in the five languages, so letters that look like Latin ones are meant.
# ruff: noqa: RUF001
"""The translation catalogues are complete and correct, and pages and emails speak them.

The catalogues are read with Babel, so these tests need no GNU gettext; the pages need the
compiled ``.mo`` files that ``make messages`` (run by ``make test``) builds.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po
from django.conf import settings
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.utils import formats, timezone, translation

from config.locale import LanguageMiddleware, language_fallback_activate, organization_language
from policies.models import Organization, PolicyVersion, RequestType
from policies.services import policy_version_publish
from requests_app.emails import build_message
from requests_app.intake import SubjectDetails, request_submit
from requests_app.models import SubjectRequest
from tests.factories import OrganizationFactory, PolicyVersionFactory, RequestTypeRuleFactory

LOCALE_DIR = Path(settings.BASE_DIR) / "locale"
# Plural forms per catalogue: Russian has one, few and many; the others one and other.
NPLURALS = {"ru": 3, "uz": 2, "uz_Cyrl": 2, "az": 2, "ur": 2}
CATALOGUES = sorted(NPLURALS)
# A printf-style conversion: %(name)s, %d, %% ...
PLACEHOLDER = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?"
    r"(?P<type>[diouxXeEfFgGcrsa%])"
)
NATIVE_NAMES = {
    "en": "English",
    "ru": "Русский",
    "uz": "Oʻzbekcha",
    "uz-cyrl": "Ўзбекча",
    "az": "Azərbaycanca",
    "ur": "اردو",
}


def _catalogue(name: str) -> Catalog:
    with (LOCALE_DIR / name / "LC_MESSAGES" / "django.po").open("rb") as po_file:
        return read_po(po_file, locale=name)


def _messages(catalogue: Catalog) -> list[Message]:
    return [message for message in catalogue if message.id]


def _label(message: Message) -> str:
    return f"{message.context + ' | ' if message.context else ''}{_ids(message)[0]!r}"


def _placeholders(text: str) -> Counter[tuple[str | None, str]]:
    return Counter((match["name"], match["type"]) for match in PLACEHOLDER.finditer(text))


def _forms(message: Message) -> list[str]:
    if isinstance(message.string, tuple | list):
        return [form or "" for form in message.string]
    return [message.string or ""]


def _ids(message: Message) -> list[str]:
    """Return the original's singular and, for a plural message, its plural."""
    return list(message.id) if isinstance(message.id, tuple | list) else [message.id]


# --- the catalogues -------------------------------------------------------------------------


def test_every_language_but_english_has_a_catalogue() -> None:
    expected = {translation.to_locale(code) for code, _name in settings.LANGUAGES} - {"en"}
    assert expected == set(CATALOGUES)
    for name in CATALOGUES:
        assert (LOCALE_DIR / name / "LC_MESSAGES" / "django.po").is_file(), name


@pytest.mark.parametrize("name", CATALOGUES)
def test_the_catalogue_states_its_plural_forms(name: str) -> None:
    with (LOCALE_DIR / name / "LC_MESSAGES" / "django.po").open(encoding="utf-8") as po_file:
        header = po_file.read().split("\n\n", 1)[0]
    # A header line may be wrapped over several quoted lines.
    match = re.search(r"Plural-Forms: nplurals=(\d+); plural=([^;]+);", header.replace('"\n"', ""))
    assert match, f"{name}: no Plural-Forms header"
    assert int(match[1]) == NPLURALS[name]
    assert _catalogue(name).num_plurals == NPLURALS[name]


@pytest.mark.parametrize("name", CATALOGUES)
def test_every_entry_is_translated_and_none_is_fuzzy(name: str) -> None:
    catalogue = _catalogue(name)
    assert not catalogue.fuzzy, f"{name}: the header is marked fuzzy"
    problems = []
    for message in _messages(catalogue):
        forms = _forms(message)
        if message.fuzzy:
            problems.append(f"fuzzy: {_label(message)}")
        if not all(form.strip() for form in forms):
            problems.append(f"untranslated: {_label(message)}")
        if message.pluralizable and len(forms) != catalogue.num_plurals:
            problems.append(
                f"{len(forms)} plural forms, not {catalogue.num_plurals}: {_label(message)}"
            )
    assert not problems, f"{name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", CATALOGUES)
def test_translations_keep_the_placeholders_of_the_original(name: str) -> None:
    problems = []
    for message in _messages(_catalogue(name)):
        # Any plural form may stand for many numbers (Russian "one" is 1, 21, 31...), so
        # every form keeps all the placeholders of the original.
        expected: Counter[tuple[str | None, str]] = Counter()
        for original in _ids(message):
            expected |= _placeholders(original)
        if not expected and "python-format" not in message.flags:
            continue
        for form in _forms(message):
            if _placeholders(form) != expected:
                problems.append(f"{_label(message)}: {form!r}")
    assert not problems, f"{name}:\n" + "\n".join(problems)


def test_every_catalogue_has_the_same_messages() -> None:
    def keys(name: str) -> set[tuple[str | None, str]]:
        return {(message.context, _label(message)) for message in _messages(_catalogue(name))}

    reference = keys("ru")
    for name in CATALOGUES:
        assert keys(name) == reference, name


def test_uzbek_cyrillic_is_written_in_cyrillic() -> None:
    # Placeholders, markup, codes and product names stay Latin; the words around them must not.
    technical = re.compile(
        r"`[^`]*`|'[^']*'|<[^>]*>|\S*[._/]\S*|--[\w-]+|\bmake run\b|\b[A-Z]{2,}\w*"
    )
    allowed = {"Faker", "Android", "Windows", "Telegram", "slug", "true", "false", "user", "agent"}
    allowed |= {"alpha", "OpenDSR", "https", "base", "callback", "Bearer", "Authorization", "raw"}
    allowed |= {"iOS", "seed"}
    problems = []
    for message in _messages(_catalogue("uz_Cyrl")):
        for form in _forms(message):
            text = technical.sub(" ", PLACEHOLDER.sub(" ", form))
            words = set(re.findall(r"[A-Za-zʻʼ]{3,}", text)) - allowed
            if words:
                problems.append(f"{_label(message)}: {sorted(words)}")
    assert not problems, "\n".join(problems)


# --- pages speak the language ---------------------------------------------------------------


@pytest.fixture(autouse=True)
def _plain_http(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture(autouse=True)
def _language_restored() -> Iterator[None]:
    # The test client serves requests in this thread and the locale middleware leaves each
    # request's language active; later tests must not inherit it.
    with translation.override(translation.get_language()):
        yield


def _organization(**kwargs: Any) -> Organization:
    organization: Organization = OrganizationFactory.create(**kwargs)
    return organization


def _published(organization: Organization) -> PolicyVersion:
    version: PolicyVersion = PolicyVersionFactory.create(policy__organization=organization)
    RequestTypeRuleFactory.create(version=version, request_type=RequestType.ACCESS)
    return policy_version_publish(version=version, at=timezone.now() - timedelta(days=30))


def _html_tag(html: str) -> str:
    match = re.search(r"<html[^>]*>", html)
    assert match
    return match[0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("accept", "text"),
    [
        ("ru", "Политики конфиденциальности"),
        ("uz", "Maxfiylik siyosatlari"),
        ("az", "Məxfilik siyasətləri"),
        ("ur", "رازداری کی پالیسیاں"),
        ("ru-RU,ru;q=0.9,en;q=0.5", "Политики конфиденциальности"),
        ("de", "Privacy policies"),
    ],
)
def test_the_browser_language_picks_the_page_language(
    client: Client, accept: str, text: str
) -> None:
    html = client.get("/privacy/", HTTP_ACCEPT_LANGUAGE=accept).content.decode()

    assert f"<h1>{text}</h1>" in html


@pytest.mark.django_db
def test_urdu_pages_read_right_to_left_and_the_others_left_to_right(client: Client) -> None:
    urdu = _html_tag(client.get("/privacy/", HTTP_ACCEPT_LANGUAGE="ur").content.decode())
    azerbaijani = _html_tag(client.get("/privacy/", HTTP_ACCEPT_LANGUAGE="az").content.decode())

    assert 'lang="ur"' in urdu
    assert 'dir="rtl"' in urdu
    assert 'lang="az"' in azerbaijani
    assert 'dir="ltr"' in azerbaijani


@pytest.mark.django_db
def test_every_page_offers_a_switcher_with_each_language_in_its_own_name(client: Client) -> None:
    html = client.get("/privacy/").content.decode()

    form = re.search(r'<form class="language-switcher" method="get">.*?</form>', html, re.S)
    assert form, "no language switcher"
    assert '<select id="language-switcher-select" name="lang"' in form[0]
    for code, name in NATIVE_NAMES.items():
        assert re.search(rf'<option value="{code}" lang="{code}"[^>]*>{name}</option>', form[0])
    assert re.search(r'<option value="en"[^>]* selected>', form[0])
    assert "<button" in form[0]
    # No CSRF token: pages that must look the same for every visitor stay byte-for-byte equal.
    assert client.get("/privacy/").content.decode() == html


@pytest.mark.django_db
def test_the_switcher_keeps_the_pages_other_parameters(client: Client) -> None:
    organization = _organization()
    _published(organization)

    html = client.get(f"/privacy/{organization.slug}/request/?type=access").content.decode()

    form = re.search(r'<form class="language-switcher".*?</form>', html, re.S)
    assert form
    assert '<input type="hidden" name="type" value="access">' in form[0]


@pytest.mark.django_db
def test_the_switcher_choice_is_remembered_over_the_browser_language(client: Client) -> None:
    response = client.get("/privacy/?lang=uz", HTTP_ACCEPT_LANGUAGE="ru")

    assert response.status_code == 302
    assert response["Location"] == "/privacy/"
    html = client.get("/privacy/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "<h1>Maxfiylik siyosatlari</h1>" in html
    assert re.search(r'<option value="uz"[^>]* selected>', html)


@pytest.mark.django_db
def test_djangos_set_language_view_sets_the_same_choice(client: Client) -> None:
    response = client.post("/i18n/setlang/", {"language": "az", "next": "/privacy/"})

    assert response.status_code == 302
    html = client.get("/privacy/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "<h1>Məxfilik siyasətləri</h1>" in html


@pytest.mark.django_db
def test_a_lang_link_is_remembered_and_the_address_loses_it(client: Client) -> None:
    organization = _organization()
    _published(organization)
    url = f"/privacy/{organization.slug}/request/"

    response = client.get(f"{url}?type=access&lang=az", HTTP_ACCEPT_LANGUAGE="ru")

    assert response.status_code == 302
    assert response["Location"] == f"{url}?type=access"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "az"
    html = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "Sorğumu göndər" in html


@pytest.mark.django_db
def test_a_lang_link_beats_an_earlier_choice(client: Client) -> None:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"

    response = client.get("/privacy/?lang=ur", follow=True)

    assert "<h1>رازداری کی پالیسیاں</h1>" in response.content.decode()


@pytest.mark.django_db
def test_an_unknown_lang_is_dropped_and_changes_nothing(client: Client) -> None:
    response = client.get("/privacy/?lang=xx")

    assert response.status_code == 302
    assert response["Location"] == "/privacy/"
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


def test_a_lang_link_never_redirects_off_the_site() -> None:
    request = RequestFactory().get("/?lang=ru")
    request.path = "//evil.example/"

    response = LanguageMiddleware(lambda _request: HttpResponse())(request)

    assert response.status_code == 302
    assert response["Location"] == "/%2Fevil.example/"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("accept", "cookie", "expected"),
    [
        ("", None, "məxfilik siyasəti"),  # nothing chosen: the organisation's default
        ("de", None, "məxfilik siyasəti"),  # a language we do not have: the same
        ("ru", None, "Политика конфиденциальности"),  # the browser's language
        ("ru", "en", "Privacy policy of"),  # the switcher's choice
    ],
)
def test_organisation_pages_fall_back_to_the_organisations_language(
    client: Client, accept: str, cookie: str | None, expected: str
) -> None:
    organization = _organization(languages=["az", "en"], default_language="az")
    _published(organization)
    if cookie:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = cookie

    html = client.get(f"/privacy/{organization.slug}/", HTTP_ACCEPT_LANGUAGE=accept).content
    assert expected in html.decode()


@pytest.mark.django_db
def test_an_uzbek_browser_reads_a_cyrillic_organisation_in_cyrillic(client: Client) -> None:
    organization = _organization(languages=["uz-cyrl", "ru"], default_language="uz-cyrl")
    _published(organization)
    url = f"/privacy/{organization.slug}/"

    cyrillic = client.get(url, HTTP_ACCEPT_LANGUAGE="uz").content.decode()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "uz"
    latin = client.get(url, HTTP_ACCEPT_LANGUAGE="uz").content.decode()

    assert 'lang="uz-cyrl"' in _html_tag(cyrillic)
    assert "Ҳуқуқларингиз" in cyrillic
    assert 'lang="uz"' in _html_tag(latin)
    assert "Huquqlaringiz" in latin


def test_the_organisation_rule_for_uzbek_script() -> None:
    def language(browser: str | None, default: str, languages: list[str]) -> str | None:
        return organization_language(browser=browser, default_language=default, languages=languages)

    assert language(None, "ur", ["en", "ur"]) == "ur"
    assert language(None, "xx", ["xx"]) is None
    assert language("uz", "uz", ["uz", "uz-cyrl"]) is None
    assert language("uz", "ru", ["ru", "uz-cyrl"]) == "uz-cyrl"
    assert language("uz", "uz-cyrl", ["uz", "uz-cyrl"]) == "uz-cyrl"
    assert language("ru", "uz-cyrl", ["uz-cyrl"]) is None


@pytest.mark.parametrize(
    ("cookie", "accept", "expected"),
    [(None, "", "ur"), (None, "de", "ur"), (None, "ru", "en"), ("az", "", "en")],
)
def test_a_page_without_an_organisation_can_fall_back_to_the_requests_language(
    cookie: str | None, accept: str, expected: str
) -> None:
    request = RequestFactory().get("/privacy/requests/status/x/", HTTP_ACCEPT_LANGUAGE=accept)
    if cookie:
        request.COOKIES[settings.LANGUAGE_COOKIE_NAME] = cookie
    with translation.override("en"):
        language_fallback_activate(request, "ur")
        assert translation.get_language() == expected


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("ru", "5 июня 2026 г."),
        ("uz", "5-iyun, 2026-yil"),
        ("uz-cyrl", "5-июнь, 2026-йил"),
        ("az", "5 iyun 2026"),
        ("ur", "5 جون 2026"),
    ],
)
def test_dates_are_written_the_local_way(language: str, expected: str) -> None:
    with translation.override(language):
        assert formats.date_format(date(2026, 6, 5), "DATE_FORMAT") == expected


# --- emails speak the request's language ----------------------------------------------------


def _request(language: str) -> SubjectRequest:
    organization = _organization(name="Clopos")
    version = _published(organization)
    result = request_submit(
        organization=organization,
        version=version,
        rule=version.request_type_rules.get(request_type=RequestType.ACCESS),
        subject=SubjectDetails(email=f"{language}@example.com", name="Leyla Məmmədova"),
        language=language,
    )
    return result.request


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "subject", "body"),
    [
        ("ru", "Подтвердите ваш запрос", "откройте эту ссылку в течение 72 ч."),
        ("uz", "soʻrovingizni tasdiqlang", "havolani 72 soat ichida oching"),
        ("uz-cyrl", "сўровингизни тасдиқланг", "ҳаволани 72 соат ичида очинг"),
        ("az", "sorğunuzu təsdiqləyin", "keçidi 72 saat ərzində açın"),
        ("ur", "کی تصدیق کریں", "72 گھنٹوں کے اندر کھولیں"),
    ],
)
def test_the_confirmation_email_is_in_the_requests_language(
    settings: Any, language: str, subject: str, body: str
) -> None:
    settings.VERIFICATION_LINK_HOURS = 72
    request = _request(language)

    with translation.override("en"):  # whatever the worker's own language
        message = build_message(request=request, kind="verification", link="https://x.example/")

    assert subject in message.subject
    assert body in str(message.body)
    html = str(message.alternatives[0][0])
    assert f'lang="{language}"' in html
    assert f'dir="{"rtl" if language == "ur" else "ltr"}"' in html
