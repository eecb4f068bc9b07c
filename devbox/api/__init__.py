"""The devbox service's REST API on a unix socket: ``protocol`` (what both ends agree on),
``client`` (the CLI's side: http.client over AF_UNIX, light to import), ``server`` (aiohttp, root),
``jobs`` (long work in a forked child per request), ``operations`` (what each endpoint does)."""
