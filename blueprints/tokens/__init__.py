"""API tokens (make, list, revoke) and the API's reference page."""
from blueprints.tokens.views import bp  # noqa: F401 - the package's blueprint
