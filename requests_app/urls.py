from __future__ import annotations

from django.urls import URLPattern, path

from requests_app import views

app_name = "requests_app"
urlpatterns: list[URLPattern] = [
    path("requests/confirm/<str:token>/", views.request_confirm, name="request_verify"),
    path("requests/status/<str:token>/", views.request_status, name="request_status"),
    path("requests/new-link/", views.new_link_choose, name="new_link_choose"),
    path("<slug:org_slug>/request/", views.request_new, name="request_new"),
    path("<slug:org_slug>/request/sent/", views.request_sent, name="request_sent"),
    path("<slug:org_slug>/request/new-link/", views.request_new_link, name="request_new_link"),
    path("<slug:org_slug>/request/new-link/sent/", views.new_link_sent, name="new_link_sent"),
]
