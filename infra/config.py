"""Configuration of the omniserve bot: read, validate, convert.

All keys live in the ``omniserve`` config namespace (``omniserve:image`` ...).
:func:`config_from_mapping` builds a :class:`BotConfig` from a plain mapping (the
``config:`` map of a ``stacks/Pulumi.<stack>.yaml`` file, or the same values as
the strings the Pulumi CLI hands to a program), so validation is testable
without the Pulumi runtime. :func:`load_config` reads the running stack's
config through :class:`pulumi.Config` and feeds the same function.

Every validation error is a :class:`ConfigError` (both a ``ValueError`` and a
``pulumi.RunError``, so ``pulumi up`` prints it as one line without a
traceback) whose message names the key and the bad value, e.g.
``omniserve:memory: "512MB" is not a Kubernetes quantity (use e.g. 512Mi or 1Gi)``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import pulumi

NAMESPACE = "omniserve"
PLATFORMS = ("kubernetes", "ecs")

#: Env var names the program sets itself; ``omniserve:env`` may not use them.
RESERVED_ENV_NAMES = frozenset({"API_TOKEN", "SENTIMENT_MODEL_CONFIG"})

#: Every key of the ``omniserve`` namespace, with whether it is required.
KEYS: dict[str, bool] = {
    "image": True,
    "memory": True,
    "memoryRequest": False,
    "cpu": True,
    "cpuRequest": False,
    "replicas": False,
    "env": False,
    "apiToken": True,
    "platforms": True,
    "namespace": False,
    "port": False,
    "healthPath": False,
    "sentimentModel": False,
    "ecsCluster": False,
    "subnets": False,
}

DEFAULT_NAMESPACE = "omniserve"
DEFAULT_PORT = 8080
DEFAULT_HEALTH_PATH = "/healthz"
DEFAULT_REPLICAS = 1

MIB = 1024 * 1024
#: ECS counts CPU in units: 1 vCPU = 1024 units.
ECS_UNITS_PER_VCPU = 1024

#: Valid Fargate task sizes: cpu units -> allowed memory values in MiB.
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}


class ConfigError(pulumi.RunError, ValueError):
    """A config value is missing or invalid. The message is one line and names the key."""


# --------------------------------------------------------------------------- helpers


def _key(name: str) -> str:
    return f"{NAMESPACE}:{name}"


def _show(value: Any) -> str:
    """Render a bad value for an error message (JSON, so strings are quoted)."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _fail(name: str, value: Any, problem: str) -> ConfigError:
    return ConfigError(f"{_key(name)}: {_show(value)} {problem}")


# --------------------------------------------------------------------------- images

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_RE = re.compile(rf"^{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?$")
_PATH_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")


@dataclass(frozen=True)
class ImageRef:
    """A parsed container image reference (``name[:tag][@digest]``)."""

    name: str
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _looks_like_domain(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def parse_image(ref: str, key: str = "image") -> ImageRef:
    """Parse and validate an image reference; it must be pinned by a tag (not ``latest``) or a digest."""
    malformed = _fail(
        key, ref, "is not a valid image reference (expected e.g. ghcr.io/omniserve/bot:1.4.0 "
        "or ghcr.io/omniserve/bot@sha256:<64 hex digits>)"
    )
    if not isinstance(ref, str) or not ref or len(ref) > 512 or ref != ref.strip():
        raise malformed
    name_tag, _, digest = ref.partition("@")
    if "@" in ref and not _DIGEST_RE.match(digest):
        raise malformed
    head, slash, last = name_tag.rpartition("/")
    last_name, colon, tag = last.partition(":")
    if colon and not _TAG_RE.match(tag):
        raise malformed
    name = f"{head}{slash}{last_name}"
    components = name.split("/")
    if len(components) > 1 and _looks_like_domain(components[0]):
        if not _DOMAIN_RE.match(components[0]):
            raise malformed
        components = components[1:]
    if not name or len(name) > 255 or not all(_PATH_COMPONENT_RE.match(c) for c in components):
        raise malformed
    if not colon and not digest:
        raise _fail(
            key, ref, "has no tag or digest; pin a version (e.g. ghcr.io/omniserve/bot:1.4.0) or a digest"
        )
    if colon and tag == "latest":
        raise _fail(key, ref, 'uses the mutable tag "latest"; pin a version tag or a digest')
    return ImageRef(name=name, tag=tag or None, digest=digest or None)


# --------------------------------------------------------------------------- quantities

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_QUANTITY_RE = re.compile(
    rf"^(?P<number>{_NUMBER})(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$"
)
_SUFFIX_FACTORS: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}


def _quantity(value: Any) -> tuple[Decimal, str] | None:
    """Split a Kubernetes quantity into (number * factor, suffix); None if it is not one."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    match = _QUANTITY_RE.match(str(value).strip())
    if not match:
        return None
    suffix = match["suffix"] or ""
    try:
        number = Decimal(match["number"])
        factor = Decimal(10) ** int(suffix[1:]) if suffix[:1] in ("e", "E") else _SUFFIX_FACTORS[suffix]
    except (InvalidOperation, ValueError):
        return None
    return number * factor, suffix


def memory_bytes(quantity: Any, key: str = "memory") -> int:
    """Bytes in a Kubernetes memory quantity such as ``512Mi``, ``1Gi`` or ``1G``."""
    parsed = _quantity(quantity)
    if parsed is None:
        raise _fail(key, quantity, "is not a Kubernetes quantity (use e.g. 512Mi or 1Gi)")
    amount, suffix = parsed
    if suffix in ("m", "u", "n"):
        raise _fail(key, quantity, f'is a fraction of a byte ("{suffix}" means milli/micro/nano); '
                    "did you mean Mi (use e.g. 512Mi or 1Gi)?")
    if amount < MIB:
        raise _fail(key, quantity, "is less than 1Mi; a container needs more memory than that")
    return math.ceil(amount)


def memory_mib(quantity: Any, key: str = "memory") -> int:
    """MiB (rounded up) in a Kubernetes memory quantity, as ECS wants it: ``1Gi`` -> 1024."""
    return math.ceil(memory_bytes(quantity, key) / MIB)


def cpu_millicores(quantity: Any, key: str = "cpu") -> int:
    """Millicores in a Kubernetes CPU quantity: ``500m`` -> 500, ``1`` -> 1000, ``0.25`` -> 250."""
    text = str(quantity).strip() if isinstance(quantity, (str, int, float)) else ""
    match = re.match(rf"^(?P<number>{_NUMBER})(?P<milli>m?)$", text)
    if isinstance(quantity, bool) or not match:
        raise _fail(key, quantity, "is not a Kubernetes CPU quantity (use e.g. 500m or 1)")
    number = Decimal(match["number"])
    millicores = number if match["milli"] else number * 1000
    if millicores != millicores.to_integral_value():
        raise _fail(key, quantity, "is finer than 1m (one millicore); Kubernetes cannot express it")
    if millicores < 1:
        raise _fail(key, quantity, "must be at least 1m")
    return int(millicores)


def ecs_cpu_units(quantity: Any, key: str = "cpu") -> int:
    """ECS CPU units (1 vCPU = 1024) in a Kubernetes CPU quantity: ``500m`` -> 512, ``1`` -> 1024."""
    millicores = cpu_millicores(quantity, key)
    units = (Decimal(millicores) * ECS_UNITS_PER_VCPU / 1000).to_integral_value(rounding="ROUND_HALF_UP")
    return max(1, int(units))


def fargate_task_size(cpu_units: int, memory: int) -> tuple[int, int]:
    """The smallest valid Fargate task size (cpu units, MiB) that holds the given cpu and memory."""
    for size_cpu in sorted(FARGATE_SIZES):
        if size_cpu < cpu_units:
            continue
        for size_memory in FARGATE_SIZES[size_cpu]:
            if size_memory >= memory:
                return size_cpu, size_memory
    raise ConfigError(
        f"{_key('cpu')}/{_key('memory')}: {cpu_units} cpu units and {memory} MiB exceed the largest "
        "Fargate task size (16384 units, 122880 MiB)"
    )


# --------------------------------------------------------------------------- the config


@dataclass(frozen=True)
class BotConfig:
    """Validated configuration of one stack of the omniserve bot.

    ``memory``/``cpu`` (and the requests) keep the Kubernetes quantities as written;
    the ``ecs_*`` properties convert them for ECS.
    """

    stack: str
    image: str
    memory: str
    memory_request: str
    cpu: str
    cpu_request: str
    replicas: int
    env: Mapping[str, str]
    api_token: pulumi.Input[str] = field(repr=False)
    platforms: tuple[str, ...]
    namespace: str = DEFAULT_NAMESPACE
    port: int = DEFAULT_PORT
    health_path: str = DEFAULT_HEALTH_PATH
    sentiment_model: str | None = None
    ecs_cluster: str = ""
    subnets: tuple[str, ...] = ()

    @property
    def kubernetes(self) -> bool:
        return "kubernetes" in self.platforms

    @property
    def ecs(self) -> bool:
        return "ecs" in self.platforms

    @property
    def ecs_memory_mib(self) -> int:
        """Container hard memory limit for ECS, MiB."""
        return memory_mib(self.memory, "memory")

    @property
    def ecs_memory_reservation_mib(self) -> int:
        """Container soft memory limit (reservation) for ECS, MiB."""
        return memory_mib(self.memory_request, "memoryRequest")

    @property
    def ecs_cpu_units(self) -> int:
        """Container CPU for ECS, units (1 vCPU = 1024)."""
        return ecs_cpu_units(self.cpu, "cpu")

    @property
    def fargate_task_size(self) -> tuple[int, int]:
        """Task-level (cpu units, memory MiB): the smallest valid Fargate size holding the container."""
        return fargate_task_size(self.ecs_cpu_units, self.ecs_memory_mib)

    @property
    def health_url(self) -> str:
        """The URL a health check inside the container polls."""
        return f"http://localhost:{self.port}{self.health_path}"


_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_ECS_CLUSTER_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


def _decode(name: str, value: Any) -> Any:
    """Structured values reach a program as JSON text (that is how the CLI passes them)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise _fail(name, value, "is not valid JSON (expected a YAML list or map in the stack file)") from None
    return value


def _string(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(name, value, "must be a non-empty string")
    return value


def _int(name: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(name, value, "is not an integer")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise _fail(name, value, f"must be {bounds}")
    return value


def _env(value: Any) -> dict[str, str]:
    value = _decode("env", value)
    if not isinstance(value, Mapping):
        raise _fail("env", value, "must be a map of NAME: value")
    env: dict[str, str] = {}
    for name, item in value.items():
        if not isinstance(name, str) or not _ENV_NAME_RE.match(name):
            raise _fail("env", name, "is not a valid env var name (letters, digits, _; not starting with a digit)")
        if name in RESERVED_ENV_NAMES:
            raise _fail("env", name, "is set by the program itself; remove it from omniserve:env")
        if not isinstance(item, str):
            raise ConfigError(
                f"{_key('env')}: {name} is {_show(item)}, not a string; quote it in the stack file"
            )
        env[name] = item
    return dict(sorted(env.items()))


def _string_list(name: str, value: Any) -> list[str]:
    value = _decode(name, value)
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise _fail(name, value, "must be a list")
    for item in value:
        if not isinstance(item, str) or not item:
            raise _fail(name, value, "must be a list of non-empty strings")
    return list(value)


def _platforms(value: Any) -> tuple[str, ...]:
    platforms = _string_list("platforms", value)
    if not platforms:
        raise _fail("platforms", value, f"is empty; list at least one of {', '.join(PLATFORMS)}")
    for item in platforms:
        if item not in PLATFORMS:
            raise _fail("platforms", value, f"has unknown platform {_show(item)}; use {' and/or '.join(PLATFORMS)}")
    return tuple(dict.fromkeys(platforms))


def _request(name: str, limit_name: str, request: Any, limit: Any, amount: Any) -> str:
    """Validate a request against its limit (a request above its limit is refused by Kubernetes)."""
    if request is None:
        return str(limit)
    if amount(request, name) > amount(limit, limit_name):
        raise _fail(name, request, f"is more than {_key(limit_name)} {_show(limit)}; a request cannot exceed its limit")
    return str(request)


def _namespaced(values: Mapping[str, Any]) -> dict[str, Any]:
    """Keep the ``omniserve`` keys of a config map (bare or ``omniserve:``-prefixed); refuse unknown ones."""
    own: dict[str, Any] = {}
    for key, value in values.items():
        namespace, colon, name = key.rpartition(":")
        if colon and namespace != NAMESPACE:
            continue  # another namespace (aws:region, infra-rollback:health, ...)
        if name not in KEYS:
            raise ConfigError(f"{_key(name)}: unknown key (known: {', '.join(sorted(KEYS))})")
        own[name] = value
    return own


def config_from_mapping(values: Mapping[str, Any], stack: str) -> BotConfig:
    """Validate a config map and build a :class:`BotConfig`.

    ``values`` may use bare keys (``image``) or namespaced ones (``omniserve:image``); keys of
    other namespaces are ignored. Values may be native YAML values or the strings the Pulumi
    CLI passes (numbers as text, lists and maps as JSON text). ``apiToken`` may be a plain
    string or a (secret) ``pulumi.Output``; an encrypted ``{"secure": ...}`` value is refused.
    """
    own = {k: v for k, v in _namespaced(values).items() if v is not None}
    for name, required in KEYS.items():
        if required and name not in own:
            raise ConfigError(f"{_key(name)}: missing (required; set it in stacks/Pulumi.{stack}.yaml)")

    api_token = own["apiToken"]
    if isinstance(api_token, Mapping) and "secure" in api_token:
        raise ConfigError(f"{_key('apiToken')}: is still encrypted; decrypt it before validating")
    if not isinstance(api_token, pulumi.Output):
        api_token = _string("apiToken", api_token)

    image = _string("image", own["image"])
    parse_image(image)
    memory = str(own["memory"])
    memory_bytes(own["memory"], "memory")
    cpu = str(own["cpu"])
    cpu_millicores(own["cpu"], "cpu")

    sentiment_model = own.get("sentimentModel")
    if sentiment_model is not None:
        sentiment_model = _string("sentimentModel", sentiment_model)

    namespace = _string("namespace", own.get("namespace", DEFAULT_NAMESPACE))
    if not _DNS_LABEL_RE.match(namespace):
        raise _fail("namespace", namespace, "is not a valid Kubernetes namespace (lowercase DNS label)")
    health_path = _string("healthPath", own.get("healthPath", DEFAULT_HEALTH_PATH))
    if not health_path.startswith("/") or any(c.isspace() for c in health_path):
        raise _fail("healthPath", health_path, "must be a URL path starting with / and without spaces")
    ecs_cluster = _string("ecsCluster", own.get("ecsCluster", f"omniserve-{stack}"))
    if not _ECS_CLUSTER_RE.match(ecs_cluster):
        raise _fail("ecsCluster", ecs_cluster, "is not a valid ECS cluster name (letters, digits, - and _)")

    return BotConfig(
        stack=stack,
        image=image,
        memory=memory,
        memory_request=_request("memoryRequest", "memory", own.get("memoryRequest"), memory, memory_bytes),
        cpu=cpu,
        cpu_request=_request("cpuRequest", "cpu", own.get("cpuRequest"), cpu, cpu_millicores),
        replicas=_int("replicas", own.get("replicas", DEFAULT_REPLICAS), 1),
        env=_env(own.get("env", {})),
        api_token=api_token,
        platforms=_platforms(own["platforms"]),
        namespace=namespace,
        port=_int("port", own.get("port", DEFAULT_PORT), 1, 65535),
        health_path=health_path,
        sentiment_model=sentiment_model,
        ecs_cluster=ecs_cluster,
        subnets=tuple(_string_list("subnets", own.get("subnets", []))),
    )


def load_config(stack: str | None = None) -> BotConfig:
    """Read the running stack's ``omniserve`` config (``apiToken`` with ``require_secret``) and validate it."""
    config = pulumi.Config(NAMESPACE)
    values: dict[str, Any] = {name: config.get(name) for name in KEYS if name != "apiToken"}
    values["apiToken"] = config.require_secret("apiToken")
    return config_from_mapping(values, stack or pulumi.get_stack())
