"""Components: creating and editing (create), their pages (pages), what a person does to them
(actions) and their build source (build_source), all on one blueprint."""
from blueprints.components import actions, build_source, create, imports, pages  # noqa: F401 - each adds its routes to bp
from blueprints.components.blueprint import bp  # noqa: F401 - the package's blueprint
