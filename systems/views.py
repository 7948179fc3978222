"""The owner's page of a manual task, reached only through a secret link (no account).

GET shows what is asked; each answer is a POST of its own form. A refused answer shows the form
again with its error and changes nothing; every kind of bad link gets the same page.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from config.locale import language_fallback_activate
from systems import manual
from systems.forms import DoneForm, NothingFoundForm, QuestionForm, UploadForm
from systems.handlers import AnswerRefused
from systems.models import SystemTask, TaskAction

FORMS: dict[str, type[Form]] = {
    "upload": UploadForm,
    "done": DoneForm,
    "nothing": NothingFoundForm,
    "question": QuestionForm,
}


# The token in the address never leaves the site in a Referer; "no-referrer" would also make
# Chromium send "Origin: null" with the page's own forms, which the CSRF check refuses.
REFERRER_POLICY = "same-origin"


def _invalid(request: HttpRequest) -> HttpResponse:
    response = render(request, "systems/owner_link_invalid.html", status=404)
    response["Referrer-Policy"] = REFERRER_POLICY
    return response


def _page(
    request: HttpRequest, task: SystemTask, forms: dict[str, Form], *, status: int = 200
) -> HttpResponse:
    organization = task.request.organization
    context: dict[str, Any] = {
        "task": task,
        "system": task.system,
        "subject_request": task.request,
        "organization": organization,
        "is_export": task.action == TaskAction.EXPORT,
        "due_local": timezone.localtime(task.due_at, organization.tz) if task.due_at else None,
        "max_bytes": settings.SYSTEM_ANSWER_MAX_BYTES,
        **{f"{name}_form": form for name, form in forms.items()},
    }
    response = render(request, "systems/owner_task.html", context, status=status)
    response["Referrer-Policy"] = REFERRER_POLICY
    return response


class SizeLimit(FileUploadHandler):
    """Stops reading an uploaded file once it passes the answer limit, so nothing larger is
    written to disk; the view then says the file was too large."""

    def __init__(self, request: HttpRequest, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.exceeded = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > self.limit:
            self.exceeded = True
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


@never_cache
@csrf_exempt  # checked by ``csrf_protect`` below, once the upload limit is in place
@require_http_methods(["GET", "POST"])
def owner_task(request: HttpRequest, task_id: int, token: str) -> HttpResponse:
    try:
        _link, task = manual.link_task(task_id=task_id, token=token)
    except manual.InvalidOwnerLink:
        return _invalid(request)
    limit = SizeLimit(request, settings.SYSTEM_ANSWER_MAX_BYTES)
    request.upload_handlers.insert(0, limit)
    return _owner_task(request, task, token, limit)


@csrf_protect
def _owner_task(
    request: HttpRequest, task: SystemTask, token: str, limit: SizeLimit
) -> HttpResponse:
    # The page speaks the owner's language unless they or their browser chose another one.
    language_fallback_activate(request, manual.owner_language(task))
    forms: dict[str, Form] = {name: form_class() for name, form_class in FORMS.items()}
    if request.method == "GET":
        return _page(request, task, forms)
    answer = request.POST.get("answer", "")
    if answer not in FORMS:
        return _page(request, task, forms, status=400)
    form = FORMS[answer](request.POST, request.FILES)
    forms[answer] = form
    if limit.exceeded:
        form.add_error(
            None,
            _("The file is larger than the %(limit)d bytes allowed.")
            % {"limit": settings.SYSTEM_ANSWER_MAX_BYTES},
        )
        return _page(request, task, forms, status=400)
    if not form.is_valid():
        return _page(request, task, forms, status=400)
    data = form.cleaned_data
    try:
        if answer == "upload":
            manual.owner_upload(
                task_id=task.pk, token=token, upload=data["file"], note=data["note"]
            )
        elif answer == "done":
            manual.owner_done(
                task_id=task.pk,
                token=token,
                count=data["count"],
                kept=data["kept"] or 0,
                kept_basis=data["kept_basis"],
                note=data["note"],
            )
        elif answer == "nothing":
            manual.owner_nothing_found(task_id=task.pk, token=token, note=data["note"])
        else:
            manual.owner_question(task_id=task.pk, token=token, question=data["question"])
            return redirect("systems:owner_asked", task_id=task.pk, token=token)
    except manual.InvalidOwnerLink:
        return _invalid(request)
    except AnswerRefused as refused:
        form.add_error(None, str(refused))
        return _page(request, task, forms, status=400)
    return redirect("systems:owner_answered")


@never_cache
@require_http_methods(["GET"])
def owner_asked(request: HttpRequest, task_id: int, token: str) -> HttpResponse:
    try:
        manual.link_task(task_id=task_id, token=token)
    except manual.InvalidOwnerLink:
        return _invalid(request)
    return render(request, "systems/owner_asked.html", {"task_id": task_id, "token": token})


@never_cache
@require_http_methods(["GET"])
def owner_answered(request: HttpRequest) -> HttpResponse:
    return render(request, "systems/owner_answered.html")
