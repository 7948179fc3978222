"""Correction: review requested corrections against the registry's values and apply them.

- ``services``: the review's values and suggestions, and applying decisions in one transaction
  with the before/after diff in the audit trail. ``selectors``: who may correct.
- ``admin``: the review page, on the request's page in the admin.
"""
