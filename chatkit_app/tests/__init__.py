"""The tests of chatkit_app, and their helpers (the modules not named ``test_*``)."""
