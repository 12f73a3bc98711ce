"""
The staff dashboard (``/admin/dashboard/``): how the assistant is doing over
a period, per day and by model and assistant, as charts whose every bar
links to the admin list behind it.

- ``periods``: the period staff pick (today, 7 or 30 days, custom dates);
- ``selectors``: the figures, in a fixed number of aggregate queries;
- ``charts``: SVG bar charts laid out on the server;
- ``views``: the page, and the links from its figures to the lists.

The URL is the admin site's own (``ChatSiteAdminSite`` in ``apps.py``).
"""
