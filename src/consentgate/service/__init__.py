"""The HTTP service (issue 11): FastAPI routes over the use-case layer, served by uvicorn.

``create_app(settings)`` builds the application; ``consentgate serve`` runs it. Routes call
use cases only (``consentgate.workspace``, ``consentgate.access``, ...); this package adds
authentication, authorization, limits, errors and operations around them.
"""

from consentgate.service.app import create_app

__all__ = ["create_app"]
