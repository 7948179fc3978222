"""OpenAPI links between the staff operations, added to the schema after it is generated.

A link says where a value for a later call comes from: the queue (``GET /staff/requests/``)
gives the reference of its first request, and every request's page and action answers with the
request, whose reference the next action takes. API clients and the docs read them; the
schemathesis stateful run (tests/integration/test_api_schemathesis.py) follows them to chain
actions on real requests (start, hold, resume, complete...) rather than on unknown references.
"""

from __future__ import annotations

from typing import Any

_ONE_REQUEST = "/api/v1/staff/requests/{reference}/"
_QUEUE = "/api/v1/staff/requests/"
_METHODS = ("get", "post", "put", "patch", "delete")


def _operations(paths: dict[str, Any], prefix: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (path, operation)
        for path, item in paths.items()
        if path.startswith(prefix)
        for method, operation in item.items()
        if method in _METHODS
    ]


def _link(source: dict[str, Any], targets: list[dict[str, Any]], pointer: str) -> None:
    answer = source.get("responses", {}).get("200")
    if answer is None:
        return
    links = answer.setdefault("links", {})
    for target in targets:
        links[target["operationId"]] = {
            "operationId": target["operationId"],
            "parameters": {"path.reference": f"$response.body#{pointer}"},
        }


def link_staff_operations(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the links from the queue and each request's answers."""
    paths = result.get("paths", {})
    per_request = [operation for _path, operation in _operations(paths, _ONE_REQUEST)]
    for path, operation in _operations(paths, _QUEUE):
        if path == _QUEUE:
            _link(operation, per_request, "/results/0/reference")
        else:
            _link(operation, per_request, "/reference")
    return result
