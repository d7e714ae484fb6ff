"""The browser UI the daemon serves (static files in ``static/``; see ``site.py``)."""
