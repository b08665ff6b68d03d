"""What the API accepts and answers (pydantic): the views validate with these models and the
OpenAPI document is generated from them (blueprints.api.core.document)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from models import MAX_ID

Tag = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")]
Digest = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
# The database keeps UTC without a zone; the API says so (RFC 3339, as OpenAPI's date-time wants).
Time = Annotated[datetime, AfterValidator(lambda t: t if t.tzinfo else t.replace(tzinfo=UTC))]
Cursor = Annotated[int, Field(ge=0, le=MAX_ID)]


class Strict(BaseModel):
    """A request body: unknown fields are refused (a typo is a 422, not ignored)."""
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel):
    """One page of a list: pass `next_cursor` as `cursor` for the next (null: the last page)."""
    next_cursor: int | None


class Query(BaseModel):
    """Query parameters: an unknown one is refused (a typo is a 422, not ignored)."""
    model_config = ConfigDict(extra="forbid")


class ListQuery(Query):
    cursor: Cursor | None = Field(None, description="From the previous page's next_cursor")
    limit: int = Field(50, ge=1, le=200, description="At most this many items")


class ComponentQuery(ListQuery):
    application: str | None = Field(None, max_length=63, description="Only this application's components")


class Release(BaseModel):
    id: int
    component_id: int
    seq: int
    tag: str
    digest: str | None
    status: Literal["pending", "deploying", "running", "failed", "superseded", "stopped", "cancelled"]
    trigger: str
    triggered_by: str
    message: str | None
    created_at: Time
    finished_at: Time | None
    done: bool = Field(description="The release ended (running, failed, superseded, stopped or cancelled)")


class Component(BaseModel):
    id: int
    name: str
    application: str
    image: str
    tag: str
    registry_id: int | None
    digest: str | None = Field(description="The digest running now (null: none)")
    state: Literal["running", "deploying", "failed", "stopped", "never deployed", "superseded", "cancelled"]
    environment: str | None = Field(description="The environment this row deploys to (null: none)")
    base_id: int | None = Field(description="The component this environment row belongs to")
    auto_deploy: bool
    replicas: int
    memory_mb: int
    cpu_millicores: int | None
    latest_release: Release | None


class ComponentDetail(Component):
    env_names: list[str] = Field(description="The names of its environment variables (values are never shown)")
    etag: str = Field(description="Send as If-Match to edit (also in the ETag header)")


class ComponentList(Page):
    items: list[Component]


class ReleaseList(Page):
    items: list[Release]


class ReleaseQuery(Query):
    wait: int = Field(0, ge=0, le=60, description="Wait up to this many seconds for the release to end")


class Deploy(Strict):
    """Deploy a tag (resolved to its digest now) or an exact digest (with the tag it is known by)."""
    tag: Tag | None = None
    digest: Digest | None = None


class Rollback(Strict):
    release_id: Id
    override_reason: str | None = Field(None, min_length=3, max_length=300, description=(
        "An owner rolling back to a digest the trust policy refuses says why (audited)"))


class Scale(Strict):
    replicas: int = Field(ge=0, le=100)


class ComponentEdit(Strict):
    """The settings to change (the others stay); the same checks and diff as the edit page."""
    tag: Tag | None = None
    replicas: int | None = Field(None, ge=0, le=100)
    memory_mb: int | None = Field(None, ge=16, le=65536)
    cpu_millicores: int | None = Field(None, ge=10, le=64000)
    env: dict[Annotated[str, StringConstraints(max_length=255)], Annotated[str, StringConstraints(
        max_length=4096)]] | None = Field(None, max_length=200, description="Replaces every variable")
    deploy: bool = Field(False, description="Release the change now (else it deploys with the next release)")


class Edited(BaseModel):
    component: ComponentDetail
    changes: list[str]
    release: Release | None


class Done(BaseModel):
    message: str


class Approval(BaseModel):
    id: int
    component_id: int
    tag: str
    digest: str
    status: str
    required: int
    approvers: list[str]
    owners_only: bool
    expires_at: Time
    release_id: int | None


class ApprovalQuery(ListQuery):
    status: Literal["pending", "approved", "rejected", "expired", "superseded"] | None = Field(
        None, description="Only approvals in this state (pending: those waiting for people)")


class ApprovalList(Page):
    items: list[Approval]


class Reject(Strict):
    note: str = Field("", max_length=500)


class Delivery(BaseModel):
    id: int
    component_id: int | None
    tag: str | None
    digest: str | None
    outcome: str
    reason: str
    at: Time


class DeliveryList(Page):
    items: list[Delivery]


class Registry(BaseModel):
    id: int
    name: str
    kind: str
    url: str


class RegistryList(BaseModel):
    items: list[Registry]


class TagQuery(Query):
    repository: str = Field(min_length=1, max_length=255, pattern=r"^[a-z0-9][a-z0-9._/-]*$")
    q: str = Field("", max_length=128, description="Only tags containing this")
    limit: int = Field(50, ge=1, le=200)


class TagItem(BaseModel):
    name: str
    digest: str | None
    created: Time | None


class TagList(BaseModel):
    items: list[TagItem]
    matched: int = Field(description="How many tags match (at least, for registries that page)")


class Environment(BaseModel):
    id: int
    name: str
    upstream_id: int | None
    auto_deploy: bool
    auto_promote: bool
    approvals_required: int
    owners_only: bool


class EnvironmentList(BaseModel):
    items: list[Environment]


class Promote(Strict):
    environment_id: Id


class Promotion(BaseModel):
    id: int
    component_id: int
    environment_id: int
    tag: str
    digest: str
    status: str
    required: int
    approvers: list[str]
    message: str | None
    release_ids: list[int]
    expires_at: Time


Name = Annotated[str, StringConstraints(min_length=1, max_length=63)]


class PortSpec(Strict):
    port: int = Field(ge=1, le=65535)
    protocol: Literal["TCP", "UDP"] = "TCP"
    expose: bool = True


class ComponentCreate(Strict):
    """A component from an image, as the create page makes it; its first release starts at once."""
    name: Annotated[str, StringConstraints(pattern=r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")] = Field(
        description="1 to 63 lowercase letters, digits and dashes, starting with a letter")
    application: Name
    registry_id: Id | None = Field(None, description="One of the team's registries (null: image is a full reference)")
    image: str = Field(min_length=1, max_length=512)
    tag: str = Field("", max_length=128)
    replicas: int = Field(1, ge=0, le=100)
    memory_mb: int = Field(256, ge=16, le=65536)
    cpu_millicores: int | None = Field(None, ge=10, le=64000)
    env: dict[Annotated[str, StringConstraints(max_length=255)], Annotated[str, StringConstraints(
        max_length=4096)]] = Field(default_factory=dict, max_length=200)
    ports: list[PortSpec] = Field(default_factory=list, max_length=20)
