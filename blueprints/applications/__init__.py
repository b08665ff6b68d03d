"""An application's page: its components and their connections, deploy all / stop all, kept volumes."""
from blueprints.applications.views import bp  # noqa: F401 - the package's blueprint
