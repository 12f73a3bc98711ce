"""
Signals the core sends when ChatKit data is written, so that a concern can
react to it without the core knowing that concern.

``services`` sends them from inside the write's transaction, with the rows
as they were just saved; a receiver that must act only once the write is
for good defers its work with ``transaction.on_commit`` (``live.publish``
does). They are ours rather than Django's ``post_save`` because the writes
that matter go through ``QuerySet.update`` and ``bulk_create`` too, which
send no model signals, and because each one carries what its receivers need
without another query (the user who gave feedback, say).

Receivers are connected in ``ChatkitAppConfig.ready`` (apps.py), the one
place where chatkit_app's concerns are plugged into its core.
"""

from django.dispatch import Signal

#: A conversation was created, or its title or status changed.
#: Arguments: ``conversation`` (the saved row), ``created`` (bool).
conversation_saved = Signal()

#: A thread item was inserted or replaced. Arguments: ``message`` (the row).
item_saved = Signal()

#: A thread item was deleted. Arguments: ``conversation_id``, ``item_id``.
item_removed = Signal()

#: A user gave thumbs up or down. Arguments: ``feedbacks`` (the rows), ``user``.
feedback_recorded = Signal()

#: A model call was recorded. Arguments: ``usage`` (the ``ModelUsage`` row).
usage_recorded = Signal()

#: A conversation's handoff changed: a person was asked for, staff took it
#: over, or handed it back. Arguments: ``handoff`` (the ``Handoff`` row, its
#: conversation and ``taken_over_by`` loaded).
handoff_changed = Signal()

#: Staff flagged a conversation for review, or cleared its flag. Arguments:
#: ``conversation`` (the saved row), ``flagged`` (bool), ``by`` (the staff user).
conversation_flagged = Signal()
