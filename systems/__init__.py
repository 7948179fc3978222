"""Systems: the places an organisation keeps its customers' data, and how the tracker reaches them.

A system of kind ``django`` is the models registered in code (the sample POS); a system of kind
``sql`` is an external database described by a data map (``docs/data-map.md``), whose tables are
registered with the subject-data registry as models of their own database, so export,
correction, erasure and the purge engine act on them as on any registered model.
"""
