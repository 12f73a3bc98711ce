"""
Usage limits: requests per minute on /chatkit, and turns and tokens per day
and cost per month per user, from the CHATKIT_LIMIT_* settings with
per-user and per-group overrides edited in the admin.

- ``policy``: which limits apply to a user;
- ``periods``: the UTC minute, day and month they are counted in;
- ``counters``: the shared counters (``UsageCounter``), atomic in the database;
- ``gate``: the server's limiter, which refuses or admits each request;
- ``receivers``: adds what each model call used to the budgets;
- ``selectors``: each user's usage against their limits, for the admin
  and ``chatkit_stats``;
- ``checks``: the settings' system checks.

Plugged in by apps.py: ``ChatSiteServer(limiter=gate.Gate())`` and the receiver.
"""
