"""
Human handoff: a person answers a conversation in the assistant's place.

- ``services``: a user asks for a person (``handoff_request``), staff take
  a conversation over (``handoff_take_over``), reply (``staff_reply_post``)
  and hand it back (``handoff_hand_back``). Each writes the ``Handoff`` row
  (models.py) and sends the core's ``handoff_changed`` signal, which
  ``live/`` publishes to the conversation's watchers, its owner's open chat
  and the activity feed.
- ``selectors``: who holds a conversation, and the conversations that asked
  for a person (``conversations_handoff_requested``, for the review queue).
- ``replies``: how a person's reply is a ChatKit item (an assistant message
  whose first part names them, marked by an entity annotation).
- ``responder``: wraps the server's responder so that a taken-over thread
  gets no model call, only a notice that a person is answering.
- ``tools``: ``ask_for_person``, the default assistant's tool.

The admin's buttons and reply box are ``admin/handoff.py``; the user's live
channel is ``live/threads.py``.
"""
