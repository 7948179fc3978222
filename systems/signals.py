"""Forget the built tables of this process when a system or its map changes."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save


def _changed(**kwargs: Any) -> None:
    from systems import loading

    loading.invalidate()


def connect() -> None:
    from systems.models import DataMapVersion, System

    for model in (System, DataMapVersion):
        post_save.connect(_changed, sender=model, dispatch_uid=f"systems-{model.__name__}-save")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"systems-{model.__name__}-del")
