from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from config import health

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="policies:organization_list"), name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    # Both apps serve public pages under /privacy/: the policies the pages, intake the requests.
    path("privacy/", include("requests_app.urls")),
    path("privacy/", include("policies.urls")),
]
