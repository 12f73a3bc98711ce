"""
Live updates for staff: ``events`` (what the watch and activity pages
receive), ``publish`` (sent when the core's signals say data was written),
``relay`` (a reply while it is written), ``catch_up`` (what a reconnecting
watcher missed), and ``consumers`` and ``routing`` (the websockets). The
admin pages that show them are ``admin/live.py``.
"""
