from __future__ import annotations

from django.urls import URLPattern, path

from systems import views

app_name = "systems"
urlpatterns: list[URLPattern] = [
    path("tasks/answered/", views.owner_answered, name="owner_answered"),
    path("tasks/<int:task_id>/<str:token>/", views.owner_task, name="owner_task"),
    path("tasks/<int:task_id>/<str:token>/asked/", views.owner_asked, name="owner_asked"),
]
