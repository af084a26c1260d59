"""Resources the engine replaces because something they depend on is deleted before it is replaced.

A replacement that deletes the old object first (delete-before-replace) takes its dependents with it: the
engine substitutes an unknown for every top-level input of a dependent that is computed from a resource being
replaced, and asks the dependent's provider whether that replaces it (``calculateDependentReplacements`` in
``pkg/resource/deploy/step_generator.go``); a resource managed by a replaced provider, or deleted with a
replaced resource, is replaced whatever its inputs. Repeated until nothing more is added.

Which replacements delete first, and what a provider answers for an unknown input, we know for Kubernetes
(pulumi-kubernetes' ``Diff``): an object with a name the user set (not auto-named) is replaced
delete-before-replace, since the new one must have the same name; and an unknown ``spec``, ``metadata`` or data
key holds fields that force a replacement (``metadata.name``, a Deployment's ``spec.selector``, a ConfigMap's
data). That is the whole of this rule; other providers rarely delete first, and the engine's own plan (held
against this prediction before anything is applied) has the last word.
"""

from __future__ import annotations

from collections.abc import Mapping

from rollback.liverefs import property_dependencies
from rollback.models import Resource, split_provider_ref, urn_name

# Top-level inputs of a Kubernetes object whose value becoming unknown makes the provider replace it.
_K8S_FORCING_KEYS = frozenset({"spec", "metadata", "data", "stringData", "binaryData", "type", "immutable"})


def deletes_before_replace(now: Resource, then: Resource) -> bool:
    """Whether replacing ``now`` by ``then`` deletes the old object first: a Kubernetes object named by the user
    (not auto-named), keeping its name and namespace."""
    if not then.type.startswith("kubernetes:"):
        return False
    meta_now, meta_then = _metadata(now), _metadata(then)
    name = meta_then.get("name")
    if not isinstance(name, str) or not name or meta_then.get("generateName"):
        return False
    annotations = (now.outputs.get("metadata") or {}).get("annotations") if isinstance(now.outputs.get("metadata"), dict) else None
    if isinstance(annotations, dict) and str(annotations.get("pulumi.com/autonamed", "")).lower() == "true":
        return False
    return name == meta_now.get("name", name) and meta_then.get("namespace") == meta_now.get("namespace")


def _metadata(res: Resource) -> Mapping[str, object]:
    meta = res.inputs.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _replaced_by_unknown(res: Resource, keys: list[str]) -> bool:
    return res.type.startswith("kubernetes:") and any(k in _K8S_FORCING_KEYS for k in keys)


def dependent_replacements(current: Mapping[str, Resource], roots: list[str]) -> dict[str, str]:
    """URN -> why, for every current resource replaced along with the delete-before-replace ``roots``."""
    replacing = set(roots)
    out: dict[str, str] = {}
    grew = True
    while grew:
        grew = False
        for urn, res in current.items():
            if urn in replacing or not res.custom or res.external or res.is_provider:
                continue
            why = _why(res, replacing)
            if why:
                replacing.add(urn)
                out[urn] = why
                grew = True
    return out


def _why(res: Resource, replacing: set[str]) -> str:
    provider = split_provider_ref(res.provider)[0] if res.provider else ""
    if provider in replacing:
        return f"its provider {urn_name(provider)} is replaced"
    if res.deleted_with and res.deleted_with in replacing:
        return f"it is deleted with {urn_name(res.deleted_with)}, which is replaced"
    keys = sorted(k for k, deps in property_dependencies(res).items() if any(d in replacing for d in deps))
    if keys and _replaced_by_unknown(res, keys):
        sources = sorted({urn_name(d) for k in keys for d in property_dependencies(res)[k] if d in replacing})
        return (f"{', '.join(sources)} is deleted before it is replaced, and this resource's {', '.join(keys)} "
                f"depend{'s' if len(keys) == 1 else ''} on it")
    return ""
