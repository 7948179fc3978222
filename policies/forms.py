"""Forms of the policies admin."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from policies.models import PolicyVersion


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
