"""Template tags of chatkit_app (``{% load chatkit %}``)."""
