"""Access and portability: export packages built from the registry, delivered by secret link.

- ``build``: building a package (a ZIP streamed onto the ``exports`` storage).
- ``delivery``: creating, delivering, downloading and expiring packages.
- ``selectors``: who may build one and whether one can be built now.
- ``admin`` / ``views``: the staff's review and delivery; the subject's download pages.
"""
