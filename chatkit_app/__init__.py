"""chatkit_app: serve OpenAI's ChatKit protocol from Django's own database."""
