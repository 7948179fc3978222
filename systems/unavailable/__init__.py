"""A database backend for a system whose connection cannot be set up in this process.

Every query raises ``OperationalError`` naming the system and the reason (never the URL), so a
request that needs the system waits and is retried, with the reason shown to staff, instead of
failing on a confusing configuration error or silently skipping the system.
"""
