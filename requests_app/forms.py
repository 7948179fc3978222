"""The public forms. Every field has a maximum length and accepts plain text only (``text``)."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from policies.models import RequestType
from requests_app.intake import SubjectDetails
from requests_app.models import Relationship
from requests_app.representation import AUTHORISATION_MAX_BYTES, OnBehalf, authorisation_type
from requests_app.text import PlainCharField, PlainTextField

_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{3,30}$")

HONEYPOT_FIELD = "website"

# Who the request is about, as the form asks it, and the filer's relationship it records.
RELATIONSHIP_OF = {"child": Relationship.PARENT, "represented": Relationship.AGENT}
SOMEONE_ELSE_FIELDS = (
    "on_behalf_subject_name",
    "subject_email",
    "subject_phone",
    "subject_account_identifier",
    "subject_date_of_birth",
    "authorisation",
)

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
    about = forms.ChoiceField(
        label=_("Who is this request about?"),
        choices=[
            ("self", _("Me")),
            ("child", _("My child (I am their parent or guardian)")),
            ("represented", _("Someone I represent (I am their authorised agent)")),
        ],
        initial="self",
        widget=forms.RadioSelect,
        required=False,
    )
    on_behalf_subject_name = PlainCharField(
        label=_("Their full name"), max_length=200, required=False
    )
    subject_email = SubjectEmailField(
        label=_("Their email address, as the business knows it"),
        max_length=254,
        required=False,
        help_text=_("Used only to find their data; we write to you, at your address, not to them."),
    )
    subject_phone = PlainCharField(
        label=_("Their phone number (optional)"), max_length=32, required=False
    )
    subject_account_identifier = PlainCharField(
        label=_("Their account, customer or shop identifier (if any)"),
        max_length=100,
        required=False,
    )
    # A text field, not type="date": the same on every phone and browser, with or without
    # JavaScript, and the keyboard focus shows on it.
    subject_date_of_birth = forms.DateField(
        label=_("Their date of birth"),
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(
            format="%Y-%m-%d",
            attrs={"inputmode": "numeric", "placeholder": "YYYY-MM-DD", "autocomplete": "off"},
        ),
        help_text=_("Year, month and day, as 2014-06-27. Required for a child."),
        error_messages={"invalid": _("Please write the date as year-month-day, e.g. 2014-06-27.")},
    )
    authorisation = forms.FileField(
        label=_("Your authorisation (PDF, PNG or JPEG, up to 5 MB)"),
        required=False,
        help_text=_(
            "For an agent: the signed authorisation or power of attorney. For a parent: "
            "optional, for example a birth certificate. Only our privacy officer sees it."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.png,.jpg,.jpeg"}),
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

    def _phone(self, name: str) -> str:
        phone = _ascii_digits(self.cleaned_data.get(name, ""))
        if phone and not _PHONE.match(phone):
            raise ValidationError(
                _("Please enter a phone number with digits, spaces and an optional leading +."),
                code="phone",
            )
        return phone

    def clean_phone(self) -> str:
        return self._phone("phone")

    def clean_subject_phone(self) -> str:
        return self._phone("subject_phone")

    def clean_subject_date_of_birth(self) -> date | None:
        born: date | None = self.cleaned_data.get("subject_date_of_birth")
        if born is not None and born > timezone.localdate():
            raise ValidationError(_("A date of birth cannot be in the future."), code="future")
        return born

    def clean_authorisation(self) -> UploadedFile | None:
        upload: UploadedFile | None = self.cleaned_data.get("authorisation") or None
        if upload is None:
            return None
        if (upload.size or 0) > AUTHORISATION_MAX_BYTES:
            raise ValidationError(
                _("The file is larger than 5 MB; please send a smaller scan."), code="too_big"
            )
        if authorisation_type(upload) is None:
            raise ValidationError(
                _("Please send the authorisation as a PDF, PNG or JPEG file."), code="file_type"
            )
        return upload

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        about = cleaned.get("about") or "self"
        cleaned["on_behalf_relationship"] = RELATIONSHIP_OF.get(about, "")
        if about == "self":
            # What was typed about someone else is ignored, mistakes in it included.
            errors = self.errors  # cleaned already: the fields' own messages, no new pass
            for name in SOMEONE_ELSE_FIELDS:
                errors.pop(name, None)
                cleaned[name] = None if name in ("subject_date_of_birth", "authorisation") else ""
            return cleaned
        required = {
            "on_behalf_subject_name": _("Please give their full name."),
            "subject_email": _("Please give the email address the business knows them by."),
        }
        if about == "child":
            required["subject_date_of_birth"] = _("Please give your child's date of birth.")
        else:
            required["authorisation"] = _(
                "Please attach the authorisation that lets you act for them."
            )
        for name, message in required.items():
            if not cleaned.get(name) and name not in self.errors:
                self.add_error(name, message)
        if cleaned.get("subject_email") and cleaned.get("subject_email") == cleaned.get("email"):
            self.add_error(
                "subject_email",
                _(
                    "This is your own address: give theirs, or choose “Me” if the request is "
                    "about you."
                ),
            )
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
            on_behalf=(
                OnBehalf(
                    subject_email=data["subject_email"],
                    subject_phone=data.get("subject_phone", ""),
                    subject_account_identifier=data.get("subject_account_identifier", ""),
                    subject_date_of_birth=data.get("subject_date_of_birth"),
                    authorisation=data.get("authorisation"),
                )
                if data.get("on_behalf_relationship")
                else None
            ),
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
