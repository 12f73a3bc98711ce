"""
The model runtime: what answers a turn.

- ``respond``: the responder the ChatKit server is given (apps.py), which
  is ``agent`` (a real model through the Agents SDK, streamed by
  ``chatkit.agents``) or ``dev`` (the offline development responder, while
  no provider is configured); and the check that a requested model is allowed.
- ``providers`` (which provider and models, from settings), ``model_clients``
  (one HTTP client per provider and event loop), ``history`` (what the model
  sees of the thread), ``instructions`` (the system prompt), ``titles``,
  ``provider_errors`` (failures in plain words) and ``transcription``
  (voice input).
- ``checks``: system checks of the provider's configuration.

Importing the package is cheap; ``agent`` brings the Agents SDK, which
takes seconds to import, so only the server's assembly imports it.
"""
