"""The web chat adapter: one page and a WebSocket, served on localhost by default.

Modules: ``adapter`` (:class:`~adapters.web.adapter.WebAdapter`, the aiohttp server),
``protocol`` (the JSON frames), ``sessions`` (open tabs per browser session),
``clips`` (recent voice replies), ``config`` and ``errors``; ``static/`` holds the page.
"""
