"""The subject-data registry and what is built on it: access and portability export packages.

- ``registry``: each host model that holds personal data registers, once and in its own app, how
  a subject's rows are found, their category, the fields exported and correctable, what erasure
  does and which retention triggers apply (see ``pos/subject_data.py``).
- ``checks``: a system check that refuses to start when a model with a field that looks personal
  is neither registered nor explicitly excluded.
- ``exports``: building an export package (a ZIP streamed onto the ``exports`` storage).
- ``delivery``: creating, delivering, downloading and expiring export packages.
"""
