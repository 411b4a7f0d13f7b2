"""The home of the web: the aiohttp application the supervisor mounts under ``/api`` (``agents.app``).

One sub-app per area (``agents/<area>/``: ``http.py`` routes and validation, ``services.py`` what it does,
``schemas.py`` the shapes in and out); authentication and JSON errors are middlewares of the parent app.
"""
