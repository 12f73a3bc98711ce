"""
The chat pages: ``views`` and ``urls`` (``/``, ``/threads/<id>``, the
embedding demo), ``options`` (what a chat panel hands the browser, built
from ``CHATKIT_UI``) and ``checks``. The ``{% chatkit_panel %}`` tag is in
``templatetags/chatkit.py``, where Django looks for template tags; it is a
thin wrapper around ``options``.
"""
