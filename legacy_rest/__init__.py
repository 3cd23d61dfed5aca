"""The legacy v4 REST API, translated into GraphQL operations run in-process.

``build_router()`` gives the endpoints of every declared resource; ``openapi.generator(app)``
is the app's ``openapi`` callable that describes them.
"""

from legacy_rest.openapi import generator as openapi_generator
from legacy_rest.routes import RestDispatch, build_router

__all__ = ["RestDispatch", "build_router", "openapi_generator"]
