"""Forms of the policies admin."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from policies.models import Policy, PolicyVersion
from policies.services import MAX_REASON_LENGTH


class VersionCompareForm(forms.Form):
    """Choose the version of the same policy to compare ``version`` with."""

    other = forms.ModelChoiceField(
        label=_("Compare with"),
        queryset=PolicyVersion.objects.none(),
        empty_label=None,
    )

    def __init__(self, *args: Any, version: PolicyVersion, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.ModelChoiceField, self.fields["other"])
        field.queryset = (
            PolicyVersion.objects.filter(policy_id=version.policy_id)
            .exclude(pk=version.pk)
            .defer("text")
            .order_by("-pk")
        )


class NewDraftForm(forms.Form):
    """Start a new draft of a policy: a copy of its newest published version."""

    policy = forms.ModelChoiceField(
        label=_("Policy"), queryset=Policy.objects.select_related("organization")
    )
    version_label = forms.CharField(
        label=_("Label of the new version"),
        max_length=40,
        help_text=_("For example the date it is published, 2026-12-01."),
    )


class PublishForm(forms.Form):
    """Confirm publishing one draft; a reason is required when it drops promises."""

    reason = forms.CharField(
        label=_("Why this version drops these promises (recorded)"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 70}),
        max_length=MAX_REASON_LENGTH,
        required=False,
    )

    def __init__(self, *args: Any, dropped: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dropped = dropped
        if not dropped:
            del self.fields["reason"]

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data.get("reason", "")).strip()
        if self.dropped and not reason:
            raise forms.ValidationError(
                _("Give the reason: this version drops rights or retention rules.")
            )
        return reason
