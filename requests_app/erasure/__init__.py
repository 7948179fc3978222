"""Correction, erasure and retention: the rights that change or remove a subject's data.

- ``correction``: review requested corrections against the registry's correctable values and
  apply them in one transaction, with the before/after diff in the audit trail.
- ``erasure``: approve an erasure, let the subject cancel during the grace period, execute it
  through the registry and issue the certificate.
- ``retention``: the policy's retention rules, applied daily: advance notices, then purges.
- ``purge``: the batch engine both run on (key ranges, one transaction per batch, resumable).
- ``closed_requests``: the tracker's own closed requests, anonymised after the evidence period.
"""
