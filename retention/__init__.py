"""Retention: the policy's retention rules applied every day, and the purge engine.

- ``rules``: which rows a rule makes due and starting a rule's purge run; ``notices``: advance
  notices; ``preview``: what a rule would do (``manage.py purge --dry-run``).
- ``daily``: the daily job, which applies every rule in force, then the purges other apps
  register (legal holds ending after erasures).
- ``purge``: the batch engine every purge runs on (key ranges, one transaction per batch,
  resumable after a killed worker); ``scopes``: what a purge may touch.
- ``closed_requests``: the tracker's own closed requests, anonymised after the evidence period.
"""
