"""The transactional outbox: work for the broker is written in the transaction that asks for it.

``outbox.api.enqueue`` is the one way the tracker queues a Celery task (README, "Broker down").
"""
