"""Create the components of an imported compose file, all or none: each service in dependency order
through the same checks as the New component form; any problem (a missing image or tag, a port or
volume clash, a file too large) is reported on the service's key and nothing is kept."""
from __future__ import annotations

from models import Component, Team
from services.components import components
from services.components.imports.compose import Plan
from services.errors import FieldErrors
from services.oversight import audit
from services.registries.clients.errors import RegistryError


def create_all(team: Team, plan: Plan, application: str, by: str) -> list[Component]:
    """The components, or FieldErrors keyed services.<name>.<field>; the caller's transaction rolls
    back whatever was created before the first problem."""
    if plan.problems:
        raise FieldErrors(dict(plan.problems))
    created: dict[str, Component] = {}
    problems: dict[str, str] = {}
    for service in plan.services:
        data = components.ComponentInput(
            name=service.name, application=application, registry_id=None, image=service.image, tag="",
            replicas=service.replicas, memory_mb=service.memory_mb or 256, cpu_millicores=service.cpu_millicores,
            command=service.command, args=service.args, env=service.env, ports=service.ports,
            volumes=service.volumes, files=service.files, health=service.health,
            depends_on=[created[d].id for d in service.depends_on if d in created])
        try:
            created[service.service] = components.create_component(team, data, by)
        except FieldErrors as e:
            problems.update({f"services.{service.service}.{k}": v for k, v in e.errors.items()})
        except RegistryError as e:
            problems[f"services.{service.service}.image"] = f"{service.image}: {e.message}"
    if problems:
        raise FieldErrors(problems)
    audit.record(team.id, by, "application.imported", f"application {application}", f"{len(created)} components")
    return list(created.values())
