"""The forms of the owner's page: one per answer, each posted on its own (no JavaScript)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from requests_app.text import PlainCharField, PlainTextField

NOTE_MAX = 2000


class UploadForm(forms.Form):
    file = forms.FileField(
        label=_("The subject's data (a .csv or .json file)"),
        help_text=_("CSV: UTF-8, the first row names the columns. JSON: see the format below."),
    )
    note = PlainTextField(label=_("Note (optional)"), required=False, max_length=NOTE_MAX)


class DoneForm(forms.Form):
    count = forms.IntegerField(label=_("How many records you erased or changed"), min_value=0)
    kept = forms.IntegerField(
        label=_("How many records you had to keep (optional)"), min_value=0, required=False
    )
    kept_basis = PlainCharField(
        label=_("The legal basis for keeping them"), required=False, max_length=300
    )
    note = PlainTextField(label=_("What you did (optional)"), required=False, max_length=NOTE_MAX)
    confirm = forms.BooleanField(label=_("I confirm this is done."))


class NothingFoundForm(forms.Form):
    note = PlainTextField(
        label=_("Where you looked (optional)"), required=False, max_length=NOTE_MAX
    )


class QuestionForm(forms.Form):
    question = PlainTextField(label=_("Your question"), max_length=NOTE_MAX)
