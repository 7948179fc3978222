"""Date formats for languages Django has none for (FORMAT_MODULE_PATH), one package per locale.

Anything a module here leaves out comes from Django's module for the language, if any.
"""
