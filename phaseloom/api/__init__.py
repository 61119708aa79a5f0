"""The HTTP API: a FastAPI app whose routers are thin layers over the services."""
