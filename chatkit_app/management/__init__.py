"""Management commands of chatkit_app and what they share (``progress``)."""
