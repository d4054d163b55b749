"""The live dashboard: a local web page of every streaming device (``edgesnn stream --dashboard``).

``FleetState`` collects what the streams report; ``Dashboard`` serves it (Starlette on uvicorn,
the page's JS and CSS shipped in ``static/``, no CDN). Needs the ``web`` extra.
"""

from edgesnn.web.server import DEFAULT_PORT, Dashboard, check_host
from edgesnn.web.state import FleetState

__all__ = ["DEFAULT_PORT", "Dashboard", "FleetState", "check_host"]
