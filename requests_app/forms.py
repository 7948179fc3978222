"""The public forms. Every field has a maximum length and accepts plain text only (``text``)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from policies.models import RequestType
from requests_app.intake import SubjectDetails
from requests_app.models import Relationship
from requests_app.text import PlainCharField, PlainTextField

_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{3,30}$")

HONEYPOT_FIELD = "website"

TYPES_WITH_REQUIRED_DESCRIPTION = frozenset({RequestType.OBJECTION, RequestType.RESTRICTION})


class SubjectEmailField(forms.EmailField):
    """An email address in plain ASCII, lower-cased.

    Letters from other scripts that look like Latin ones (a Cyrillic "a" in "gmail.com") would
    send the subject's mail somewhere else, so only ASCII addresses are accepted.
    """

    def to_python(self, value: Any) -> str:
        text = unicodedata.normalize("NFKC", super().to_python(value) or "").strip()
        if text and not text.isascii():
            raise ValidationError(
                _("Please type the email address with Latin letters, digits and symbols only."),
                code="not_ascii",
            )
        return text.lower()


def _ascii_digits(value: str) -> str:
    # Subjects may type Arabic-Indic or other native digits; the number is the same.
    return "".join(
        str(unicodedata.decimal(character))
        if unicodedata.decimal(character, None) is not None
        else character
        for character in value
    )


class SubjectRequestForm(forms.Form):
    """The request form for one request type; the fields depend on the type."""

    request_type = forms.CharField(widget=forms.HiddenInput, max_length=20)
    email = SubjectEmailField(
        label=_("Your email address"),
        max_length=254,
        help_text=_("We send a link to this address to confirm it is yours."),
    )
    name = PlainCharField(label=_("Your full name"), max_length=200)
    account_identifier = PlainCharField(
        label=_("Account, customer or shop identifier (if you have one)"),
        max_length=100,
        required=False,
    )
    phone = PlainCharField(label=_("Phone number (optional)"), max_length=32, required=False)
    description = PlainTextField(
        label=_("Anything that helps us find your data or understand your request"),
        max_length=2000,
        required=False,
    )
    on_behalf = forms.BooleanField(
        label=_("I am making this request for someone else"), required=False
    )
    on_behalf_relationship = forms.ChoiceField(
        label=_("Your relationship to that person"),
        choices=[("", "—"), *Relationship.choices],
        required=False,
        help_text=_(
            "For example a parent or guardian of a child under 13, or an agent the person "
            "authorised. We may ask you for proof."
        ),
    )
    on_behalf_subject_name = PlainCharField(
        label=_("Full name of the person the request is for"), max_length=200, required=False
    )
    # The honeypot: hidden from people by CSS and from screen readers; bots fill it in.
    website = forms.CharField(
        label=_("Leave this field empty"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )

    def __init__(self, *args: Any, request_type: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_type_value = request_type
        self.fields["request_type"].initial = request_type
        if request_type == RequestType.CORRECTION:
            self.fields["correction_field"] = PlainCharField(
                label=_("Which information is wrong?"),
                max_length=200,
                help_text=_("For example: my phone number, my shop's address."),
            )
            self.fields["correction_value"] = PlainTextField(
                label=_("What is the correct information?"), max_length=500
            )
        elif request_type == RequestType.DELETION:
            self.fields["confirm_deletion"] = forms.BooleanField(
                label=_(
                    "I understand that my data will be deleted, except what the law requires "
                    "the business to keep, and that this cannot be undone."
                ),
                error_messages={"required": _("Please confirm that you want your data deleted.")},
            )
        elif request_type == RequestType.COMPLAINT:
            self.fields["complaint_text"] = PlainTextField(
                label=_("Your complaint or claim"), max_length=5000
            )
        if request_type in TYPES_WITH_REQUIRED_DESCRIPTION:
            self.fields["description"].required = True
            self.fields["description"].label = _(
                "Which processing of your data do you object to or want restricted, and why?"
            )
        # The honeypot comes last so it never sits between a label and its field.
        self.fields[HONEYPOT_FIELD] = self.fields.pop(HONEYPOT_FIELD)

    def clean_request_type(self) -> str:
        value: str = self.cleaned_data["request_type"]
        if value != self.request_type_value:
            raise ValidationError(_("Please choose the kind of request again."), code="type")
        return value

    def clean_phone(self) -> str:
        phone = _ascii_digits(self.cleaned_data.get("phone", ""))
        if phone and not _PHONE.match(phone):
            raise ValidationError(
                _("Please enter a phone number with digits, spaces and an optional leading +."),
                code="phone",
            )
        return phone

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("on_behalf"):
            if not cleaned.get("on_behalf_relationship"):
                self.add_error(
                    "on_behalf_relationship",
                    _("Please tell us your relationship to the person the request is for."),
                )
            if not cleaned.get("on_behalf_subject_name"):
                self.add_error(
                    "on_behalf_subject_name",
                    _("Please give the full name of the person the request is for."),
                )
        else:
            cleaned["on_behalf_relationship"] = ""
            cleaned["on_behalf_subject_name"] = ""
        return cleaned

    def subject_details(self) -> SubjectDetails:
        """Return the validated input as the intake service takes it."""
        data = self.cleaned_data
        details: dict[str, Any] = {}
        if self.request_type_value == RequestType.CORRECTION:
            details["corrections"] = [
                {"field": data["correction_field"], "value": data["correction_value"]}
            ]
        elif self.request_type_value == RequestType.DELETION:
            details["deletion_confirmed"] = True
        elif self.request_type_value == RequestType.COMPLAINT:
            details["complaint"] = data["complaint_text"]
        return SubjectDetails(
            email=data["email"],
            name=data["name"],
            account_identifier=data.get("account_identifier", ""),
            phone=data.get("phone", ""),
            on_behalf_relationship=data.get("on_behalf_relationship", ""),
            on_behalf_subject_name=data.get("on_behalf_subject_name", ""),
            description=data.get("description", ""),
            details=details,
        )


class NewLinkForm(forms.Form):
    """Ask for fresh links to one's open requests."""

    email = SubjectEmailField(label=_("Your email address"), max_length=254)
    website = forms.CharField(
        label=_("Leave this field empty"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )
