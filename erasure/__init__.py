"""Erasure: the right to have the subject's data deleted.

- ``services``: approve an erasure, let the subject cancel during the grace period, start it on
  the purge engine (``retention.purge``), issue the certificate, release legal holds when they end.
- ``selectors``: who may approve. ``emails``: the subject's notices and certificate.
- ``admin``: the approval page (on the request's page) and the read-only evidence.
- ``views`` / ``urls``: the subject's cancel button on the status page. ``tasks``: the beat job.
"""
