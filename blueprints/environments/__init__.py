"""Environments and promotion: the team's environments, a component's stages and overrides, and
promoting, approving and releasing promotions."""
from blueprints.environments.views import bp  # noqa: F401 - the package's blueprint
