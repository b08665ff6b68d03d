"""Kubernetes clusters a team deploys to: adding them, testing the connection, deleting them."""
from blueprints.clusters.views import bp  # noqa: F401 - the package's blueprint
