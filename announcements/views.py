"""The public comparison of a published version with the one it follows."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from policies.models import PolicyPublication, PolicyVersion
from policies.selectors import text_direction, version_comparison


def version_changes(request: HttpRequest, org_slug: str, pk: int) -> HttpResponse:
    version = get_object_or_404(
        PolicyVersion.objects.select_related("policy__organization").published(),
        pk=pk,
        policy__organization__slug=org_slug,
    )
    publication = PolicyPublication.objects.filter(version=version).first()
    previous_pk = publication.follows_id if publication else None
    if previous_pk is None:
        previous_pk = (
            PolicyVersion.objects.published()
            .filter(policy_id=version.policy_id, published_at__lt=version.published_at)
            .order_by("-published_at", "-pk")
            .values_list("pk", flat=True)
            .first()
        )
    if previous_pk is None:
        raise Http404
    comparison = version_comparison(left_pk=previous_pk, right_pk=version.pk)
    context = {
        "organization": version.policy.organization,
        "version": version,
        "comparison": comparison,
        "dropped": publication.dropped if publication else [],
        "direction": text_direction(version.language),
    }
    return render(request, "announcements/version_changes.html", context)
