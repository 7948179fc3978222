"""Where a subject's data lives: the registry every right acts through.

- ``registry``: each host model that holds personal data registers, once and in its own app, how
  a subject's rows are found, their category, the fields exported and correctable, what erasure
  does and which retention triggers apply (the sample host: ``pos/subject_data.py``).
- ``clocks``: when a retention trigger started for a host model's rows (``pos/clocks.py``).
- ``records`` / ``schema``: how rows are written into an export and the JSON schema of data.json.
- ``checks`` / ``exclusions``: a system check that refuses to start when a model with a field
  that looks personal is neither registered nor explicitly excluded.
"""
