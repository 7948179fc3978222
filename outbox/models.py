from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OutboxMessage(models.Model):
    """A task to queue, written in the transaction of the change that asked for it.

    Pending while ``sent_at`` is empty; a relay that is sending it holds it until
    ``claimed_until``, so two relays never send it at the same time (README, "Broker down").
    """

    task_name = models.CharField(_("task"), max_length=200)
    args = models.JSONField(_("arguments"), default=list)
    kwargs = models.JSONField(_("keyword arguments"), default=dict)
    created_at = models.DateTimeField(_("written at"), default=timezone.now)
    attempts = models.PositiveIntegerField(_("attempts to send"), default=0)
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    # Set by the task when its effect is done (``outbox.api.once``): a second delivery skips it.
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox messages")
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=models.Q(sent_at__isnull=True),
                name="outbox_pending_idx",
            ),
            models.Index(
                fields=["sent_at"],
                condition=models.Q(sent_at__isnull=False),
                name="outbox_sent_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task_name} #{self.pk}"
