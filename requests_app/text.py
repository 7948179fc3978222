"""Plain text: the one set of rules every free-text field passes, whatever the channel.

The public form and its API twin (which validates through the form), the identities an OpenDSR
controller sends, the staff's messages to the subject (the admin's action pages and the staff
API) and the correction review all accept text through ``plain_text``, so a value refused on one
channel is refused on every other:

- it is normalised to NFKC and trimmed; in multi-line text, line ends become ``\\n``;
- no markup: nothing a browser would take for the start of a tag (``<script``, ``</``, ``<!--``);
- no control characters (NUL, which PostgreSQL cannot store, among them); multi-line text may
  hold line feeds and tabs;
- no invisible or direction-changing characters (U+202E, zero-width spaces, the BOM), except the
  zero-width (non-)joiners Urdu and Persian are written with;
- no unpaired surrogates, which are not text at all.

Every field also has a maximum length, checked after normalising: a longer value is refused with
the field's error, never cut. The API's serializer field is ``api.fields.PlainTextField``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# Something that a browser would take for the start of a tag: "<script", "</", "<!--", "<?".
_MARKUP = re.compile(r"<\s*[A-Za-z/!?]")
# Zero-width joiners are part of how Urdu and Persian are written; every other invisible format
# character (direction overrides, zero-width spaces, the BOM) can only disguise what text says.
_ALLOWED_FORMAT_CHARACTERS = frozenset({"\u200c", "\u200d"})
# Control characters and unpaired surrogates ("Cs": only a JSON escape such as \ud800 makes one).
_NOT_TEXT = frozenset({"Cc", "Cs"})


def plain_text(value: str, *, multiline: bool) -> str:
    """Normalise ``value`` (NFKC, trimmed) or raise ``ValidationError`` naming the problem."""
    text = unicodedata.normalize("NFKC", value).strip()
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _MARKUP.search(text):
        raise ValidationError(
            _("Please write plain text: HTML and script tags are not accepted."), code="markup"
        )
    for character in text:
        category = unicodedata.category(character)
        if category in _NOT_TEXT and not (multiline and character in "\n\t"):
            raise ValidationError(
                _("This contains control characters; please retype it."), code="control"
            )
        if category == "Cf" and character not in _ALLOWED_FORMAT_CHARACTERS:
            raise ValidationError(
                _("This contains invisible or direction-changing characters; please retype it."),
                code="invisible",
            )
    return text


class PlainCharField(forms.CharField):
    """A single-line text field that accepts plain text only."""

    def to_python(self, value: Any) -> str:
        text = super().to_python(value)
        return plain_text(text, multiline=False) if text else ""


class PlainTextField(forms.CharField):
    """A multi-line text field that accepts plain text only."""

    widget = forms.Textarea

    def to_python(self, value: Any) -> str:
        text = super().to_python(value)
        return plain_text(text, multiline=True) if text else ""
