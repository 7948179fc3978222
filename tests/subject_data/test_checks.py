"""The start-up check that holds every personal-looking model to the subject-data registry."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import models
from django.test.utils import isolate_apps

from policies.models import DataCategory, Organization
from subject_data.checks import (
    check_personal_data_registered,
    looks_personal,
    personal_data_messages,
)
from subject_data.registry import Erasure, Registry


@pytest.fixture
def courier() -> Any:
    """A model the project has not registered: a delivery courier with a name and a phone."""
    with isolate_apps("pos"):

        class Courier(models.Model):
            organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
            full_name = models.CharField(max_length=100)
            phone = models.CharField(max_length=32)
            vehicle = models.CharField(max_length=20)

            class Meta:
                app_label = "pos"

            def __str__(self) -> str:
                return self.full_name

        yield Courier


def test_the_project_passes_the_check() -> None:
    assert check_personal_data_registered() == []
    call_command("check")


def test_the_requests_app_registers_the_check_when_it_starts() -> None:
    assert check_personal_data_registered in checks.registry.registry.get_checks()


def test_an_unregistered_personal_model_is_an_error_naming_its_fields(courier: Any) -> None:
    (error,) = personal_data_messages([courier], within=Registry())

    assert error.id == "subject_data.E001"
    assert error.level == checks.ERROR
    assert "pos.Courier" in error.msg
    assert "full_name, phone" in error.msg


def test_registering_or_excluding_the_model_satisfies_the_check(courier: Any) -> None:
    registered, excluded = Registry(), Registry()
    registered.register(
        courier,
        category=DataCategory.CONTACT,
        subject=lambda identity: courier.objects.none(),
        fields=("full_name", "phone", "vehicle"),
        organization="organization",
        erasure=Erasure.delete(),
        portable=True,
    )
    excluded.exclude(courier, reason="Couriers are the vendor's staff, not its customers.")

    assert personal_data_messages([courier], within=registered) == []
    assert personal_data_messages([courier], within=excluded) == []


def test_a_registration_leaving_out_a_personal_field_is_warned_about(courier: Any) -> None:
    within = Registry()
    within.register(
        courier,
        category=DataCategory.CONTACT,
        subject=lambda identity: courier.objects.none(),
        fields=("full_name", "vehicle"),
        organization="organization",
        erasure=Erasure.delete(),
        portable=True,
    )

    (warning,) = personal_data_messages([courier], within=within)

    assert warning.id == "subject_data.W001"
    assert "phone" in warning.msg


def test_a_model_without_personal_fields_needs_nothing() -> None:
    with isolate_apps("pos"):

        class Tariff(models.Model):
            title = models.CharField(max_length=100)
            monthly_fee = models.DecimalField(max_digits=10, decimal_places=2)

            class Meta:
                app_label = "pos"

            def __str__(self) -> str:
                return self.title

        assert personal_data_messages([Tariff], within=Registry()) == []


@pytest.mark.parametrize(
    ("field", "personal"),
    [
        (models.CharField(name="customer_phone"), True),
        (models.CharField(name="first_name"), True),
        (models.TextField(name="registered_address"), True),
        (models.DateField(name="date_of_birth"), True),
        (models.CharField(name="user_agent"), True),
        (models.EmailField(name="contact"), True),
        (models.GenericIPAddressField(name="origin"), True),
        (models.CharField(name="sku"), False),
        (models.CharField(name="version_label"), False),
        (models.CharField(name="filename_hint"), False),
    ],
)
def test_personal_looking_fields_are_recognised_by_name_or_type(
    field: models.Field[Any, Any], personal: bool
) -> None:
    assert looks_personal(field) is personal


def test_manage_py_check_stops_on_an_unregistered_personal_model(
    courier: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.apps import apps

    pos = apps.get_app_config("pos")
    real_get_models = pos.get_models
    monkeypatch.setattr(pos, "get_models", lambda *a, **k: [*real_get_models(*a, **k), courier])

    with pytest.raises(SystemCheckError, match=r"subject_data\.E001"):
        call_command("check")
