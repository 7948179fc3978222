"""The Redoc page of the API docs, with nothing loaded from outside the site."""

from __future__ import annotations

from typing import Any

from django.template import engines
from drf_spectacular.views import SpectacularRedocView
from rest_framework.renderers import TemplateHTMLRenderer

# drf-spectacular's Redoc page links Google Fonts; ours keeps its page and drops that link, so the
# docs load nothing from outside the site (Redoc falls back to the system fonts).
_REDOC_PAGE = (
    '{% extends "drf_spectacular/redoc.html" %}{% block head %}'
    '<title>{{ title }}</title><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<style>body { margin: 0; padding: 0; }</style>{% endblock head %}"
)


class _RedocRenderer(TemplateHTMLRenderer):
    def resolve_template(self, template_names: Any) -> Any:
        return engines["django"].from_string(_REDOC_PAGE)


class RedocView(SpectacularRedocView):
    renderer_classes = [_RedocRenderer]
