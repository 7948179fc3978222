"""OpenDSR: merchants' systems (controllers) forward their customers' requests to us.

OpenDSR v2 (github.com/opengdpr/OpenDSR) is served under ``/v1/``: discovery, the processor's
certificate, and ``requests`` (create, read status, cancel). Every response is signed with the
processor's key, and every status change is POSTed, signed, to the controller's callback URLs.

- ``models``: ``Controller`` (registered in the admin, with an API key of which only a hash is
  kept), ``OpenDSRRequest`` (the link between an OpenDSR request and our ``SubjectRequest``) and
  ``OpenDSRCallback`` (each status callback and its delivery attempts).
- ``signing``: the processor key and certificate, and the response signatures.
- ``services``: receiving and cancelling a request; ``callbacks``: status callbacks.
- ``views`` / ``urls``: the HTTP interface; ``tasks``: callback dispatch and delivery.
"""
