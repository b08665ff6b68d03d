"""Trust: the public keys a team accepts signatures from and its signature policies."""
from blueprints.trust.views import bp  # noqa: F401 - the package's blueprint
