"""Which language a page speaks: the URL or the switcher, then the browser, then the organisation.

Django's ``LocaleMiddleware`` already honours the language cookie (which the switcher sets
through Django's ``set_language`` view) and the browser's Accept-Language. ``LanguageMiddleware``,
placed right after it, adds what Django has no notion of:

* ``?lang=ru`` in a link: the choice is kept in the language cookie, like the switcher's, and the
  visitor is sent on to the same page without the parameter;
* on an organisation's pages (every URL with an ``org_slug``), the organisation's default language
  when neither the cookie nor the browser named one of ours; and the organisation's script for
  Uzbek: a browser that asks for "uz" gets Cyrillic ("uz-cyrl") from an organisation that writes
  Uzbek in Cyrillic. A visitor who picked Latin Uzbek in the switcher keeps it.

Pages reached through a secret link (the status page) have no organisation in their URL; their
view can call ``language_fallback_activate`` with the request's own language.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.encoding import iri_to_uri
from django.utils.http import escape_leading_slashes
from django.utils.translation import gettext_lazy, ngettext_lazy, pgettext_lazy
from django.utils.translation.trans_real import parse_accept_lang_header

from policies.models import Organization

LANGUAGE_QUERY_PARAMETER = "lang"
UZBEK_LATIN = "uz"
UZBEK_CYRILLIC = "uz-cyrl"

# Django's own strings that the public pages and emails show. Listed here so that every
# catalogue in locale/ carries them: Django has no Uzbek Cyrillic catalogue (it would fall back
# to its Latin one, mixing scripts on a page) and its Urdu one leaves some of them untranslated.
DJANGO_STRINGS = (
    gettext_lazy("This field is required."),
    gettext_lazy("Enter a valid email address."),
    gettext_lazy("Select a valid choice. %(value)s is not one of the available choices."),
    ngettext_lazy(
        "Ensure this value has at most %(limit_value)d character (it has %(show_value)d).",
        "Ensure this value has at most %(limit_value)d characters (it has %(show_value)d).",
        "limit_value",
    ),
    # The "E" date format (Russian, Uzbek, Azerbaijani) names the month in this form.
    pgettext_lazy("alt. month", "January"),
    pgettext_lazy("alt. month", "February"),
    pgettext_lazy("alt. month", "March"),
    pgettext_lazy("alt. month", "April"),
    pgettext_lazy("alt. month", "May"),
    pgettext_lazy("alt. month", "June"),
    pgettext_lazy("alt. month", "July"),
    pgettext_lazy("alt. month", "August"),
    pgettext_lazy("alt. month", "September"),
    pgettext_lazy("alt. month", "October"),
    pgettext_lazy("alt. month", "November"),
    pgettext_lazy("alt. month", "December"),
    # The "F" date format (Urdu, Uzbek Cyrillic years) names the month in this form.
    gettext_lazy("January"),
    gettext_lazy("February"),
    gettext_lazy("March"),
    gettext_lazy("April"),
    gettext_lazy("May"),
    gettext_lazy("June"),
    gettext_lazy("July"),
    gettext_lazy("August"),
    gettext_lazy("September"),
    gettext_lazy("October"),
    gettext_lazy("November"),
    gettext_lazy("December"),
)


def supported_language(code: str | None) -> str | None:
    """Return the language of ours that ``code`` asks for ("ru-RU" gives "ru"), or None."""
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code.lower())
    except LookupError:
        return None


def chosen_language(request: HttpRequest) -> str | None:
    """Return the language the visitor chose with the switcher or a ``?lang=`` link, if any."""
    return supported_language(request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME))


def browser_language(request: HttpRequest) -> str | None:
    """Return the first of our languages the browser's Accept-Language names, if any."""
    for code, _quality in parse_accept_lang_header(request.META.get("HTTP_ACCEPT_LANGUAGE", "")):
        if code == "*":
            break
        language = supported_language(code)
        if language:
            return language
    return None


def language_fallback_activate(request: HttpRequest, language: str) -> None:
    """Speak ``language`` on this page unless the visitor or their browser chose one of ours."""
    if chosen_language(request) or browser_language(request):
        return
    _activate(request, supported_language(language))


def organization_language(
    *, browser: str | None, default_language: str, languages: list[str]
) -> str | None:
    """Return the language an organisation's page speaks to a visitor whose browser asked for
    ``browser`` (None: none of ours) and who chose none; None keeps the browser's choice."""
    if browser is None:
        return supported_language(default_language)
    writes_cyrillic = UZBEK_CYRILLIC in languages and (
        UZBEK_LATIN not in languages or default_language == UZBEK_CYRILLIC
    )
    if browser == UZBEK_LATIN and (writes_cyrillic or default_language == UZBEK_CYRILLIC):
        return supported_language(UZBEK_CYRILLIC)
    return None


def _activate(request: HttpRequest, language: str | None) -> None:
    if language and language != translation.get_language():
        translation.activate(language)
        request.LANGUAGE_CODE = language


def _remember(response: HttpResponse, language: str) -> None:
    # The same cookie, with the same options, as Django's set_language view sets.
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


class LanguageMiddleware:
    """Add ``?lang=`` links and organisation defaults to Django's ``LocaleMiddleware``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if LANGUAGE_QUERY_PARAMETER in request.GET and request.method in ("GET", "HEAD"):
            return self._remember_and_redirect(request)
        response = self.get_response(request)
        # The page depends on the language cookie as well as on Accept-Language.
        patch_vary_headers(response, ("Cookie",))
        return response

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponse],
        view_args: tuple[object, ...],
        view_kwargs: dict[str, object],
    ) -> None:
        slug = view_kwargs.get("org_slug")
        if not isinstance(slug, str) or chosen_language(request):
            return
        browser = browser_language(request)
        if browser not in (None, UZBEK_LATIN):
            return
        organization = (
            Organization.objects.filter(slug=slug).values("default_language", "languages").first()
        )
        if organization is None:
            return
        _activate(
            request,
            organization_language(
                browser=browser,
                default_language=organization["default_language"],
                languages=list(organization["languages"] or []),
            ),
        )

    def _remember_and_redirect(self, request: HttpRequest) -> HttpResponse:
        """Keep the ``?lang=`` choice in the cookie and send the visitor to the page without it."""
        query = request.GET.copy()
        language = supported_language(query.pop(LANGUAGE_QUERY_PARAMETER, [""])[-1])
        # escape_leading_slashes: a path such as "//example.com" must not leave the site.
        location = escape_leading_slashes(iri_to_uri(request.path))
        if query:
            location = f"{location}?{query.urlencode()}"
        response = HttpResponseRedirect(location)
        if language:
            _remember(response, language)
        patch_vary_headers(response, ("Cookie",))
        return response


def subject_language(organization: Organization) -> str:
    """The language to keep for a subject filing with ``organization`` now: the one active, if
    the site offers it, else the organisation's default (the form's and the API's rule alike)."""
    language = translation.get_language() or organization.default_language
    known = {code for code, _name in settings.LANGUAGES}
    return language if language in known else organization.default_language
