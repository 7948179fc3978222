"""Old admin addresses of the models that moved out of ``requests_app``, sent to their new place.

Until the apps were split, export packages, purge runs, erasures and OpenDSR controllers lived
under ``/admin/requests_app/<model>/``; staff bookmarks and links in old emails keep working with
a permanent redirect to ``/admin/<app>/<model>/`` (the same rest of the path and query string).
The request's own pages (``subjectrequest``, ``requestevent``) never moved and are not matched.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponsePermanentRedirect

# model name -> the app it moved to (requests_app/migrations/0009_models_move_to_their_apps.py)
MOVED_MODELS = {
    "exportpackage": "exports",
    "exportlink": "exports",
    "exportdownload": "exports",
    "purgerun": "retention",
    "purgestep": "retention",
    "purgetarget": "retention",
    "retentionnotice": "retention",
    "closedrequestanonymisation": "retention",
    "erasureschedule": "erasure",
    "erasurecertificate": "erasure",
    "controller": "opendsr",
    "opendsrrequest": "opendsr",
    "opendsrcallback": "opendsr",
}
MOVED_ADMIN_PATH = r"^admin/requests_app/(?P<model>" + "|".join(MOVED_MODELS) + r")/"


def moved_admin_redirect(request: HttpRequest, model: str) -> HttpResponsePermanentRedirect:
    target = request.path.replace("/requests_app/", f"/{MOVED_MODELS[model]}/", 1)
    query = request.META.get("QUERY_STRING", "")
    return HttpResponsePermanentRedirect(f"{target}?{query}" if query else target)
