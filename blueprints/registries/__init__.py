"""Registries: connecting, browsing repositories and tags, the registry webhook."""
from blueprints.registries.views import bp  # noqa: F401 - the package's blueprint
