from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config import health
from requests_app.api.docs import RedocView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="policies:organization_list"), name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    # Both apps serve public pages under /privacy/: the policies the pages, intake the requests.
    path("privacy/", include("requests_app.urls")),
    path("privacy/", include("policies.urls")),
    # The OpenAPI schema and the docs UIs (served from our own static files), then the REST API,
    # which answers every other path under /api/.
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api_schema"), name="api_docs"),
    path("api/redoc/", RedocView.as_view(url_name="api_schema"), name="api_redoc"),
    path("api/", include("requests_app.api.urls")),
    # OpenDSR's processor endpoints live under the spec's major-version prefix.
    path("v1/", include("requests_app.opendsr.urls")),
]
