"""Subject requests: intake, verification, the workflow, audit trail, exports and erasure."""
