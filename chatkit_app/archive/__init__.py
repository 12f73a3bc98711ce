"""
Conversations taken out of the database and put back: the JSON-lines
export (``export``), its import (``importer``), and the Markdown a person
reads (``markdown``), over one record format (``records``). Used by the
admin's export actions and the ``chatkit_export`` / ``chatkit_import``
commands.
"""
