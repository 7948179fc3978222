"""Announcing a significant policy version: one email per address, in its language, in batches."""
