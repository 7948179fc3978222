"""Staff pages for requests filed for someone else and for legal holds on a subject or account.

- On a request filed by a parent or an agent: a warning at the top of its page until an officer
  has verified the relationship, the page where they verify or reject it with a reason
  (``admin:requests_app_relationship``), and the filer's authorisation as a download
  (``admin:requests_app_authorisation``), never shown inline.
- Legal holds: the warning on the request of a held subject, a page to place one from the request
  (``admin:requests_app_hold_place``) and one to release it (``admin:requests_app_hold_release``);
  in the queue, a column and a filter; the holds' own list (read-only) under "Legal holds".

Registered as a ``RequestAdminExtension`` in ``RequestsAppConfig.ready()``; the services
(``representation``, ``holds``) check the permissions again.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import AdminSite
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Exists, F, OuterRef, Q, QuerySet, Subquery, When
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from requests_app import roles
from requests_app.admin_base import (
    ReadOnlyAdmin,
    message_user,
    request_change_url,
    request_page_context,
    staff_subject_request,
)
from requests_app.audit import Actor
from requests_app.holds import holds_for_request, legal_hold_place, legal_hold_release, subject_of
from requests_app.models import LegalHold, RelationshipStatus, Representation, SubjectRequest
from requests_app.representation import relationship_blocker, relationship_decide
from requests_app.text import PlainTextField
from requests_app.workflow import IllegalAction


def _may_verify(user: Any) -> bool:
    return bool(user.has_perm(roles.VERIFY_RELATIONSHIP))


def _may_hold(user: Any) -> bool:
    return bool(user.has_perm(roles.PLACE_LEGAL_HOLD))


# --- The request page: warnings and buttons ------------------------------------------------------


def notices(user: Any, subject_request: SubjectRequest) -> list[str]:
    found = []
    if subject_request.is_on_behalf:
        representation = Representation.objects.filter(request=subject_request).first()
        who = subject_request.get_on_behalf_relationship_display()
        about = subject_request.on_behalf_subject_name
        email = representation.subject_email if representation else ""
        if representation is None or representation.status == RelationshipStatus.PENDING:
            found.append(
                gettext(
                    "Filed by someone else (%(who)s: %(filer)s) for %(about)s <%(email)s>. Its "
                    "data is that person's, not the filer's. Verify the relationship before "
                    "anything is released, erased or corrected."
                )
                % {"who": who, "filer": subject_request.name, "about": about, "email": email}
            )
        elif representation.status == RelationshipStatus.VERIFIED:
            found.append(
                gettext(
                    "Filed by someone else (%(who)s: %(filer)s) for %(about)s <%(email)s>; the "
                    "relationship was verified: %(reason)s"
                )
                % {
                    "who": who,
                    "filer": subject_request.name,
                    "about": about,
                    "email": email,
                    "reason": representation.decision_reason,
                }
            )
        else:
            found.append(relationship_blocker(subject_request))
    for hold in holds_for_request(subject_request):
        found.append(
            gettext(
                "Under legal hold since %(date)s (%(what)s): %(reason)s. Erasure and purges skip "
                "the held data until an officer releases it."
            )
            % {
                "date": hold.placed_at.date().isoformat(),
                "what": hold.subject_email
                or gettext("account %(id)s") % {"id": hold.account_identifier},
                "reason": hold.reason,
            }
        )
    return found


def staff_links(user: Any, subject_request: SubjectRequest) -> list[dict[str, Any]]:
    links = []
    representation = (
        Representation.objects.filter(request=subject_request).first()
        if subject_request.is_on_behalf
        else None
    )
    if representation is not None and _may_verify(user):
        if representation.status == RelationshipStatus.PENDING and subject_request.is_open:
            links.append(
                {
                    "name": "relationship",
                    "label": gettext("Verify the relationship…"),
                    "url": reverse("admin:requests_app_relationship", args=[subject_request.pk]),
                    "asks": True,
                }
            )
        if representation.authorisation:
            links.append(
                {
                    "name": "authorisation",
                    "label": gettext("Download the authorisation"),
                    "url": reverse("admin:requests_app_authorisation", args=[subject_request.pk]),
                    "asks": True,
                }
            )
    if _may_hold(user):
        links.append(
            {
                "name": "hold_place",
                "label": gettext("Place a legal hold…"),
                "url": reverse("admin:requests_app_hold_place", args=[subject_request.pk]),
                "asks": True,
            }
        )
        for hold in holds_for_request(subject_request):
            links.append(
                {
                    "name": f"hold_release_{hold.pk}",
                    "label": gettext("Release legal hold #%(id)s…") % {"id": hold.pk},
                    "url": reverse("admin:requests_app_hold_release", args=[hold.pk]),
                    "asks": True,
                }
            )
    return links


# --- The queue: a column and a filter for legal holds --------------------------------------------


def queue_annotate(requests: QuerySet[SubjectRequest]) -> QuerySet[SubjectRequest]:
    """Annotate ``dsr_legal_hold``: whether an active hold concerns the request's subject (its
    email, or for a request filed for someone else theirs), the account it names, or was placed
    from it."""
    subject_email = Case(
        When(on_behalf_relationship="", then=F("email")),
        default=Subquery(
            Representation.objects.filter(request=OuterRef("pk")).values("subject_email")[:1]
        ),
    )
    holds = LegalHold.objects.filter(
        organization=OuterRef("organization"), released_at__isnull=True
    )
    concerning = holds.filter(
        Q(request=OuterRef("pk"))
        | Q(subject_email=OuterRef("dsr_subject_email"), subject_email__gt="")
        | Q(account_identifier=OuterRef("account_identifier"), account_identifier__gt="")
    )
    return requests.annotate(dsr_subject_email=subject_email).annotate(
        dsr_legal_hold=Exists(concerning)
    )


@admin.display(description=_("legal hold"), boolean=True)
def legal_hold_column(obj: SubjectRequest) -> bool:
    return bool(getattr(obj, "dsr_legal_hold", False))


class LegalHoldFilter(admin.SimpleListFilter):
    title = _("legal hold")
    parameter_name = "legal_hold"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Under legal hold")), ("no", _("No legal hold"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(dsr_legal_hold=True)
        if self.value() == "no":
            return queryset.filter(dsr_legal_hold=False)
        return queryset


# --- Pages ---------------------------------------------------------------------------------------


class RelationshipForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[
            ("verify", _("Verified: the filer may act for this person")),
            ("reject", _("Rejected: the filer may not act for this person")),
        ],
        widget=forms.RadioSelect,
    )
    reason = PlainTextField(
        label=_("Reason (what you checked)"),
        max_length=2000,
        help_text=_("Recorded in the audit trail; on rejection the filer is told it."),
    )


class HoldForm(forms.Form):
    what = forms.ChoiceField(
        label=_("Hold"),
        choices=[("subject", _("This subject (their email)")), ("account", _("An account"))],
        widget=forms.RadioSelect,
        initial="subject",
    )
    account_identifier = forms.CharField(
        label=_("Account (number or tax id)"), max_length=100, required=False
    )
    reason = PlainTextField(
        label=_("Reason (litigation, a regulator's inquiry...)"), max_length=2000
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("what") == "account" and not cleaned.get("account_identifier", "").strip():
            self.add_error("account_identifier", _("Name the account to hold."))
        return cleaned


class ReleaseForm(forms.Form):
    reason = PlainTextField(label=_("Reason for the release"), max_length=2000)


def relationship_view(site: AdminSite, request: HttpRequest, request_id: int) -> HttpResponse:
    subject_request = staff_subject_request(request, request_id)
    if not _may_verify(request.user):
        raise PermissionDenied
    representation = Representation.objects.filter(request=subject_request).first()
    if representation is None:
        raise Http404
    form = RelationshipForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            relationship_decide(
                request=subject_request,
                actor=Actor.staff(cast(User, request.user)),
                verified=form.cleaned_data["decision"] == "verify",
                reason=form.cleaned_data["reason"],
            )
        except IllegalAction as refused:
            form.add_error(None, str(refused))
        else:
            message_user(
                request,
                gettext("The relationship for %(reference)s was recorded.")
                % {"reference": subject_request.reference},
                messages.SUCCESS,
            )
            return HttpResponseRedirect(request_change_url(subject_request))
    context = {
        **request_page_context(
            site,
            request,
            subject_request,
            gettext("Verify the relationship for %(reference)s")
            % {"reference": subject_request.reference},
        ),
        "representation": representation,
        "form": form,
        "authorisation_url": reverse("admin:requests_app_authorisation", args=[subject_request.pk])
        if representation.authorisation
        else "",
    }
    return TemplateResponse(request, "admin/requests_app/relationship.html", context)


def authorisation_view(
    site: AdminSite, request: HttpRequest, request_id: int
) -> HttpResponse | FileResponse:
    """The filer's authorisation, as a download only (never rendered by the browser)."""
    subject_request = staff_subject_request(request, request_id)
    if not _may_verify(request.user):
        raise PermissionDenied
    representation = Representation.objects.filter(request=subject_request).first()
    if representation is None or not representation.authorisation:
        raise Http404
    extension = (representation.authorisation.name or "").rsplit(".", 1)[-1]
    response = FileResponse(
        representation.authorisation.open("rb"),
        as_attachment=True,
        filename=f"{subject_request.reference}-authorisation.{extension}",
        content_type="application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def hold_place_view(site: AdminSite, request: HttpRequest, request_id: int) -> HttpResponse:
    subject_request = staff_subject_request(request, request_id)
    if not _may_hold(request.user):
        raise PermissionDenied
    email, account = subject_of(subject_request)
    form = HoldForm(request.POST or None, initial={"account_identifier": account})
    if request.method == "POST" and form.is_valid():
        on_account = form.cleaned_data["what"] == "account"
        try:
            legal_hold_place(
                organization=subject_request.organization,
                actor=Actor.staff(cast(User, request.user)),
                reason=form.cleaned_data["reason"],
                subject_email="" if on_account else email,
                account_identifier=form.cleaned_data["account_identifier"] if on_account else "",
                request=subject_request,
            )
        except IllegalAction as refused:
            form.add_error(None, str(refused))
        else:
            message_user(request, gettext("The legal hold was placed."), messages.SUCCESS)
            return HttpResponseRedirect(request_change_url(subject_request))
    context = {
        **request_page_context(
            site,
            request,
            subject_request,
            gettext("Place a legal hold (%(reference)s)")
            % {"reference": subject_request.reference},
        ),
        "form": form,
        "subject_email": email,
    }
    return TemplateResponse(request, "admin/requests_app/hold_place.html", context)


def hold_release_view(site: AdminSite, request: HttpRequest, hold_id: int) -> HttpResponse:
    if not _may_hold(request.user):
        raise PermissionDenied
    hold = get_object_or_404(LegalHold, pk=hold_id, released_at__isnull=True)
    form = ReleaseForm(request.POST or None)
    back = (
        request_change_url(hold.request)
        if hold.request is not None
        else reverse("admin:requests_app_legalhold_changelist")
    )
    if request.method == "POST" and form.is_valid():
        try:
            legal_hold_release(
                hold=hold,
                actor=Actor.staff(cast(User, request.user)),
                reason=form.cleaned_data["reason"],
            )
        except IllegalAction as refused:
            form.add_error(None, str(refused))
        else:
            message_user(request, gettext("The legal hold was released."), messages.SUCCESS)
            return HttpResponseRedirect(back)
    context = {
        **site.each_context(request),
        "title": gettext("Release legal hold #%(id)s") % {"id": hold.pk},
        "hold": hold,
        "form": form,
        "back": back,
        "opts": LegalHold._meta,
    }
    return TemplateResponse(request, "admin/requests_app/hold_release.html", context)


def request_urls(site: AdminSite) -> list[URLPattern]:
    def relationship(request: HttpRequest, request_id: int) -> HttpResponse:
        return relationship_view(site, request, request_id)

    def authorisation(request: HttpRequest, request_id: int) -> HttpResponse | FileResponse:
        return authorisation_view(site, request, request_id)

    def place(request: HttpRequest, request_id: int) -> HttpResponse:
        return hold_place_view(site, request, request_id)

    def release(request: HttpRequest, hold_id: int) -> HttpResponse:
        return hold_release_view(site, request, hold_id)

    return [
        path(
            "review/<int:request_id>/relationship/",
            site.admin_view(relationship),
            name="requests_app_relationship",
        ),
        path(
            "review/<int:request_id>/authorisation/",
            site.admin_view(authorisation),
            name="requests_app_authorisation",
        ),
        path(
            "review/<int:request_id>/legal-hold/",
            site.admin_view(place),
            name="requests_app_hold_place",
        ),
        path(
            "legal-holds/<int:hold_id>/release/",
            site.admin_view(release),
            name="requests_app_hold_release",
        ),
    ]


@admin.register(LegalHold)
class LegalHoldAdmin(ReadOnlyAdmin):
    """Every legal hold, active first; placed from a request, released from its own page."""

    list_display = [
        "pk",
        "organization",
        "subject_email",
        "account_identifier",
        "reason",
        "placed_by",
        "placed_at",
        "released_at",
        "release_link",
    ]
    list_filter = ["organization", ("released_at", admin.EmptyFieldListFilter)]
    search_fields = ["subject_email", "account_identifier"]
    list_select_related = ["organization", "placed_by"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _may_hold(request.user) or roles.sees_all_requests(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    @admin.display(description=_("release"))
    def release_link(self, hold: LegalHold) -> str:
        if hold.released_at is not None:
            return str(hold.release_reason)
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:requests_app_hold_release", args=[hold.pk]),
            gettext("Release…"),
        )
