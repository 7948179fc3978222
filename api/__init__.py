"""The REST API (``/api/v1/``): the subject's endpoints and the staff's, documented by OpenAPI.

- ``public``: what a policy offers; file, confirm, follow and withdraw a request (the web form's
  twins: same validation, limits and duplicate rule).
- ``staff``: the queue with filters and cursor pages, one request's record, one endpoint per
  workflow action; the admin's roles decide who may do what (``permissions``).
- ``errors``: every domain error mapped to one status and one error shape, in one place.
- ``throttles``, ``pagination``, ``schema`` (component names), ``docs`` (the Redoc page).

The OpenDSR processor endpoints (``/v1/``) are ``opendsr``.
"""
