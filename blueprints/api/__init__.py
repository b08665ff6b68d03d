"""The JSON API for pipelines and scripts (/api/v1): bearer tokens with scopes, the same services
and rules as the pages, and an OpenAPI 3.1 document built from the views' own declarations."""
from blueprints.api import core, views  # noqa: F401 - views register their operations on core.bp
from blueprints.api.core import bp  # noqa: F401 - the package's blueprint
