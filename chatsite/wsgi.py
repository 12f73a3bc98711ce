"""
WSGI entry point, for tools that want one. The site itself runs under ASGI
(daphne): streaming replies and websockets need it.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")

application = get_wsgi_application()
