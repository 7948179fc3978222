from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api.docs import RedocView
from config import health
from config.moved import MOVED_ADMIN_PATH, moved_admin_redirect
from staff_auth.views import two_factor

# A body too large for a page is answered 413 with a page saying so (config/guards.py).
handler400 = "config.guards.bad_request"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="policies:organization_list"), name="home"),
    path("healthz", health.healthz, name="healthz"),
    # Bookmarks of admin pages whose models moved out of requests_app lead to their new place.
    re_path(MOVED_ADMIN_PATH, moved_admin_redirect),
    # Two-step log-in of staff (staff_auth.two_factor), under the admin's address.
    path("admin/two-factor/", two_factor, name="staff_two_factor"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    # Public pages under /privacy/: requests (with their erasure and export pages), then policies.
    path("privacy/", include("requests_app.urls")),
    path("privacy/", include("erasure.urls")),
    path("privacy/", include("exports.urls")),
    path("privacy/", include("effects.urls")),
    path("privacy/", include("announcements.urls")),
    # Systems answer their tasks here (signed callbacks, docs/webhooks.md).
    path("privacy/systems/", include("systems.callback_urls")),
    path("privacy/", include("policies.urls")),
    # The page where a manual system's owner answers a task through a secret link.
    path("systems/", include("systems.urls")),
    # The OpenAPI schema and the docs UIs (served from our own static files), then the REST API,
    # which answers every other path under /api/.
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api_schema"), name="api_docs"),
    path("api/redoc/", RedocView.as_view(url_name="api_schema"), name="api_redoc"),
    path("api/", include("api.urls")),
    # OpenDSR's processor endpoints live under the spec's major-version prefix.
    path("v1/", include("opendsr.urls")),
]
