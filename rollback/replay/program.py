"""The replay program itself: registers a :class:`~rollback.replay.types.ReplayPlan` through the Python SDK.

Imported only when the program runs (it imports pulumi). What it sends, and why:

* resources by type string (``CustomResource(type, name, props, opts)``, ``ComponentResource``,
  ``ProviderResource``): props keys go out exactly as recorded (camelCase);
* ``protect`` always explicitly (the SDK would otherwise inherit it from the parent);
* a provider only where the checkpoint names one: the replay classes answer ``get_provider`` with
  None, so a child never inherits its parent's provider bag (the checkpoint already says, per
  resource, which provider it used);
* a property dependency by deriving the property from the dependencies' URNs:
  ``Output.all(*urns).apply(lambda _: value)``. Unlike ``Output.all(urn, value)`` this keeps nested
  secrets at their depth instead of making the whole property secret;
* an input the plan follows (:class:`~rollback.replay.types.LiveRef`) as the dependency's live output
  (``dep.id`` or ``dep.<output>``), so a consumer points at a replaced dependency's new object. The
  generic ``CustomResource`` exposes an output attribute only for keys present in its props
  (``rpc.transfer_properties``), so each followed output-only key is put in the dependency's props as
  ``None``: the SDK leaves None-valued properties out of the request (``rpc.serialize_properties``)
  and resolves the attribute from the engine's answer (``rpc.resolve_outputs``);
* secrets as ``Output.secret(value)``; assets and archives as the SDK's asset classes; resource
  references as the re-registered resource objects; exported references as reference objects;
* never ``import_``; reads (``external: true``) with ``ResourceOptions(id=...)``;
* at most a window of registrations in flight at once, in the plan's order: the program waits for one to
  be answered before it sends more. The engine sees the same registrations in the same order; the program's
  memory and the SDK's bookkeeping stay proportional to the window, not to the stack (5,000 registrations in
  flight at once cost the SDK twice the time and 50 KB each under mocks). :data:`WINDOW` (an apply) is wide
  enough not to hold back the engine's parallel steps; the rehearsal, under mocks, runs fastest with
  :data:`REHEARSAL_WINDOW`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from rollback.replay._common import FollowOutput, provider_package
from rollback.replay.types import ReplayPlan, ReplayStep
from rollback.state.values import Archive, Asset, ResourceReference, Revealed


@functools.lru_cache(maxsize=1)
def _classes() -> tuple[type, type, type]:
    import pulumi

    class ReplayComponent(pulumi.ComponentResource):
        """A local component re-registered by type name."""

        def get_provider(self, module_member: str) -> None:
            return None

    class ReplayCustom(pulumi.CustomResource):
        """A custom resource re-registered by type name."""

        def get_provider(self, module_member: str) -> None:
            return None

    class ReplayProvider(pulumi.ProviderResource):
        """An explicit provider re-registered by package name."""

        def get_provider(self, module_member: str) -> None:
            return None

    return ReplayComponent, ReplayCustom, ReplayProvider


#: Registrations in flight at once in an apply (see the module's docstring): the engine runs steps in
#: parallel (unbounded by default); this many at once is more than a real update keeps busy.
WINDOW = 256
#: ... and under mocks, where every answer is immediate and fewer pending tasks are faster.
REHEARSAL_WINDOW = 16


def inline_program(plan: ReplayPlan, *, window: int | None = WINDOW) -> Callable[[], Awaitable[None]]:
    """The Automation API inline program that re-registers every step of ``plan`` (imports pulumi when run)."""
    return functools.partial(run_replay, plan, window=window)


async def run_replay(plan: ReplayPlan, *, window: int | None = WINDOW) -> None:
    """Register every step of ``plan`` (await inside a Pulumi program: Automation API or mocks), at most
    ``window`` in flight at once (None: all at once)."""
    import asyncio

    import pulumi

    objects: dict[str, Any] = {}
    in_flight: set[Any] = set()
    for step in plan.steps:
        res = objects[step.urn] = _register(step, objects)
        if window:
            answered = asyncio.ensure_future(res.urn.future())
            answered.add_done_callback(_settled)
            in_flight.add(answered)
            if len(in_flight) >= window:
                _done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
    for step in plan.steps:
        if step.kind == "component":
            objects[step.urn].register_outputs(_materialize(step.outputs, objects))
    for key, value in plan.exports.items():
        pulumi.export(key, _materialize(value, objects))


def _settled(answered: Any) -> None:
    """A registration that failed is reported by the SDK itself; its waiter only needs to be settled."""
    if not answered.cancelled():
        answered.exception()


def _register(step: ReplayStep, objects: dict[str, Any]) -> Any:

    component, custom, provider = _classes()
    opts = _options(step, objects)
    props = _materialize(step.inputs, objects)
    for key in step.exposed_outputs:
        # not sent (None), but makes the SDK resolve ``obj.<key>`` from the engine's outputs
        props.setdefault(key, None)
    for key, deps in step.property_dependencies.items():
        if key in props and deps:
            props[key] = _derived(props[key], [objects[u].urn for u in deps])
    if step.kind == "component":
        return component(step.type, step.name, props, opts)
    if step.kind == "provider":
        return provider(provider_package(step.type), step.name, props, opts)
    return custom(step.type, step.name, props, opts)


def _derived(value: Any, urns: list[Any]) -> Any:
    """``value``, as an Output that depends on the resources whose ``urns`` are given."""
    import pulumi

    def keep(_urns: list[str]) -> Any:
        return value

    return pulumi.Output.all(*urns).apply(keep)


def _options(step: ReplayStep, objects: dict[str, Any]) -> Any:
    import pulumi

    timeouts = pulumi.CustomTimeouts(**step.custom_timeouts) if step.custom_timeouts else None
    return pulumi.ResourceOptions(
        parent=objects[step.parent] if step.parent else None,
        depends_on=[objects[u] for u in step.depends_on] or None,
        protect=step.protect,
        provider=objects[step.provider] if step.provider else None,
        delete_before_replace=step.delete_before_replace,
        ignore_changes=list(step.ignore_changes) or None,
        version=step.version,
        plugin_download_url=step.plugin_download_url,
        env_var_mappings=dict(step.env_var_mappings) or None,
        aliases=list(step.aliases) or None,
        additional_secret_outputs=list(step.additional_secret_outputs) or None,
        id=step.id if step.kind == "read" else None,
        custom_timeouts=timeouts,
        replace_on_changes=list(step.replace_on_changes) or None,
        retain_on_delete=step.retain_on_delete,
        deleted_with=objects[step.deleted_with] if step.deleted_with else None,
    )


def _materialize(value: Any, objects: dict[str, Any]) -> Any:
    """Prepared plan values -> what the SDK sends (Outputs, assets, resource objects)."""
    import pulumi

    if isinstance(value, Revealed):
        return pulumi.Output.secret(_materialize(value.value, objects))
    if isinstance(value, FollowOutput):
        source = objects[value.urn]
        return source.id if value.output == "id" else getattr(source, value.output)
    if isinstance(value, dict):
        return {k: _materialize(v, objects) for k, v in value.items()}
    if isinstance(value, list):
        return [_materialize(v, objects) for v in value]
    if isinstance(value, Asset):
        if value.text is not None:
            return pulumi.StringAsset(value.text)
        if value.path is not None:
            return pulumi.FileAsset(value.path)
        return pulumi.RemoteAsset(value.uri or "")
    if isinstance(value, Archive):
        if value.assets is not None:
            return pulumi.AssetArchive({k: _materialize(v, objects) for k, v in value.assets.items()})
        if value.path is not None:
            return pulumi.FileArchive(value.path)
        return pulumi.RemoteArchive(value.uri or "")
    if isinstance(value, ResourceReference):
        return objects[value.urn]
    return value
