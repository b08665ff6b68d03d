"""Oversight: notification channels, approvals and the audit trail."""
from blueprints.oversight.views import bp  # noqa: F401 - the package's blueprint
