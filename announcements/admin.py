"""The announcements sent for a significant policy version, read-only."""

from __future__ import annotations

from django.contrib import admin

from announcements.models import Announcement
from requests_app.admin_base import ReadOnlyAdmin


@admin.register(Announcement)
class AnnouncementAdmin(ReadOnlyAdmin):
    list_display = ("version", "email", "language", "source", "created_at", "sent_at")
    list_filter = ("version__policy__organization", "source", "language")
    list_select_related = ("version__policy__organization",)
    search_fields = ("email", "version__version_label")
