"""Flask blueprints: thin views over services."""
