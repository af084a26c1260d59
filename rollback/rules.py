"""The rules a rollback diff applies, in one place and by name.

Two questions are answered here, without reading any state file or calling any provider:

* Does a resource *hold data* (so deleting or replacing it loses something a replay cannot bring
  back)? :data:`DATA_BEARING_TYPES` and :func:`is_data_bearing`.
* Will a change *replace* a resource rather than update it in place? :data:`REPLACE_RULES` and
  :func:`replacement_reason`. Each rule has a name (reported in the diff) and a one-line description.

The replacement rules are a floor, not a ceiling: the provider's own ``Diff`` (seen in the engine's
preview) is the authority. What is listed here is what we know without a provider: Pulumi's engine
behaviour, pulumi-kubernetes' replace-on-change tables, and create-only inputs of the resource
types whose replacement loses data or breaks a service.

Property paths (what a rule matches changes against) are :mod:`rollback.paths`.

Longer than our other modules (over 500 lines) because most of it is data: the data-bearing type tables of
Pulumi's and Terraform's providers and the replacement tables; splitting them would only scatter the lists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rollback.models import Resource
from rollback.paths import Path, PathElem, as_path, covers, format_path, overlaps, parse_path

# ----------------------------------------------------------------------------------------------
# Type tokens


def type_key(token: str) -> tuple[str, str, str]:
    """A casing- and version-insensitive key for a type token.

    ``aws:rds/instance:Instance`` -> ``("aws", "rds", "instance")``; ``kubernetes:core/v1:Secret`` ->
    ``("kubernetes", "core", "secret")``; ``azure-native:storage/v20230101:StorageAccount`` ->
    ``("azure-native", "storage", "storageaccount")``. Module names changed casing between provider
    majors (``aws:rds/Instance`` in old states), and API versions sit in azure-native module names:
    only the package, the first module segment and the type name identify the kind of resource.
    """
    parts = token.split(":")
    if len(parts) < 3:
        return (token.lower(), "", "")
    package, module, name = parts[0], ":".join(parts[1:-1]), parts[-1]
    return (package.lower(), module.split("/")[0].lower(), name.lower())


def kubernetes_gvk(token: str) -> tuple[str, str, str] | None:
    """``kubernetes:apps/v1:Deployment`` -> ``("apps", "v1", "Deployment")``; None for other packages."""
    parts = token.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes":
        return None
    group, _, version = parts[1].partition("/")
    return group, version, parts[2]


# ----------------------------------------------------------------------------------------------
# Data-bearing resource types

DATA_BEARING_TYPES: tuple[str, ...] = (
    # AWS: databases, tables, object stores, block/file storage, caches, streams, registries.
    "aws:rds/instance:Instance",
    "aws:rds/cluster:Cluster",
    "aws:rds/globalCluster:GlobalCluster",
    "aws:dynamodb/table:Table",
    "aws:dynamodb/globalTable:GlobalTable",
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketV2:BucketV2",
    "aws:ebs/volume:Volume",
    "aws:ebs/snapshot:Snapshot",
    "aws:efs/fileSystem:FileSystem",
    "aws:fsx/lustreFileSystem:LustreFileSystem",
    "aws:fsx/windowsFileSystem:WindowsFileSystem",
    "aws:fsx/ontapFileSystem:OntapFileSystem",
    "aws:fsx/openZfsFileSystem:OpenZfsFileSystem",
    "aws:elasticache/cluster:Cluster",
    "aws:elasticache/replicationGroup:ReplicationGroup",
    "aws:elasticache/serverlessCache:ServerlessCache",
    "aws:memorydb/cluster:Cluster",
    "aws:redshift/cluster:Cluster",
    "aws:redshiftserverless/namespace:Namespace",
    "aws:opensearch/domain:Domain",
    "aws:elasticsearch/domain:Domain",
    "aws:docdb/cluster:Cluster",
    "aws:docdb/elasticCluster:ElasticCluster",
    "aws:neptune/cluster:Cluster",
    "aws:kinesis/stream:Stream",
    # An SQS queue holds the messages not consumed yet: replacing or deleting it drops them, and a
    # rollback typically happens exactly while a backlog is building up. So it counts.
    "aws:sqs/queue:Queue",
    # Images: deleting a repository deletes every image in it, including the ones older versions
    # (the rollback target among them) run.
    "aws:ecr/repository:Repository",
    "aws:backup/vault:Vault",
    "aws:glacier/vault:Vault",
    "aws:timestreamwrite/table:Table",
    "aws:keyspaces/table:Table",
    "aws:qldb/ledger:Ledger",
    "aws-native:rds:DBInstance",
    "aws-native:rds:DBCluster",
    "aws-native:dynamodb:Table",
    "aws-native:s3:Bucket",
    # Kubernetes: claims and volumes hold the bytes; deleting a Namespace deletes every claim in it.
    "kubernetes:core/v1:PersistentVolumeClaim",
    "kubernetes:core/v1:PersistentVolume",
    "kubernetes:core/v1:Namespace",
    # StatefulSet: only when its volumeClaimTemplates' claims go with it (see is_data_bearing):
    # by default (persistentVolumeClaimRetentionPolicy.whenDeleted: Retain) the claims survive the
    # StatefulSet, so deleting or replacing it loses no data.
    # GCP
    "gcp:sql/databaseInstance:DatabaseInstance",
    "gcp:sql/database:Database",
    "gcp:storage/bucket:Bucket",
    "gcp:bigtable/instance:Instance",
    "gcp:bigtable/table:Table",
    "gcp:spanner/instance:Instance",
    "gcp:spanner/database:Database",
    "gcp:compute/disk:Disk",
    "gcp:compute/regionDisk:RegionDisk",
    "gcp:filestore/instance:Instance",
    "gcp:redis/instance:Instance",
    "gcp:firestore/database:Database",
    "gcp:alloydb/cluster:Cluster",
    "gcp:bigquery/dataset:Dataset",
    "gcp:bigquery/table:Table",
    "gcp:artifactregistry/repository:Repository",
    # Azure (classic and native)
    "azure:storage/account:Account",
    "azure:storage/container:Container",
    "azure:storage/share:Share",
    "azure:sql/database:Database",
    "azure:mssql/database:Database",
    "azure:mssql/server:Server",
    "azure:cosmosdb/account:Account",
    "azure:compute/managedDisk:ManagedDisk",
    "azure:postgresql/server:Server",
    "azure:postgresql/flexibleServer:FlexibleServer",
    "azure:mysql/flexibleServer:FlexibleServer",
    "azure:redis/cache:Cache",
    "azure:containerservice/registry:Registry",
    "azure-native:storage:StorageAccount",
    "azure-native:storage:BlobContainer",
    "azure-native:sql:Database",
    "azure-native:sql:Server",
    "azure-native:documentdb:DatabaseAccount",
    "azure-native:compute:Disk",
    "azure-native:dbforpostgresql:Server",
    "azure-native:dbforpostgresql:FlexibleServer",
    "azure-native:dbformysql:FlexibleServer",
    "azure-native:cache:Redis",
    "azure-native:containerregistry:Registry",
    # Docker
    "docker:index/volume:Volume",
)
# Not listed on purpose: log groups (telemetry, usually shipped elsewhere; flagging every ECS
# service's log group would drown the warnings that matter), secrets-manager secrets (their
# values come from the program), object resources such as aws:s3/bucketObject (content the program
# itself uploads).

# The same kinds of resources under their Terraform/OpenTofu type names (hashicorp/aws, google, azurerm,
# kubernetes, docker providers), for the guards on a Terraform plan's actions.
TERRAFORM_DATA_BEARING_TYPES: tuple[str, ...] = (
    "aws_db_instance", "aws_rds_cluster", "aws_rds_global_cluster", "aws_dynamodb_table",
    "aws_dynamodb_global_table", "aws_s3_bucket", "aws_ebs_volume", "aws_ebs_snapshot", "aws_efs_file_system",
    "aws_fsx_lustre_file_system", "aws_fsx_windows_file_system", "aws_fsx_ontap_file_system",
    "aws_fsx_openzfs_file_system", "aws_elasticache_cluster", "aws_elasticache_replication_group",
    "aws_elasticache_serverless_cache", "aws_memorydb_cluster", "aws_redshift_cluster",
    "aws_redshiftserverless_namespace", "aws_opensearch_domain", "aws_elasticsearch_domain", "aws_docdb_cluster",
    "aws_docdb_elastic_cluster", "aws_neptune_cluster", "aws_kinesis_stream", "aws_sqs_queue", "aws_ecr_repository",
    "aws_backup_vault", "aws_glacier_vault", "aws_timestreamwrite_table", "aws_keyspaces_table", "aws_qldb_ledger",
    "kubernetes_persistent_volume_claim", "kubernetes_persistent_volume_claim_v1", "kubernetes_persistent_volume",
    "kubernetes_persistent_volume_v1", "kubernetes_namespace", "kubernetes_namespace_v1",
    "google_sql_database_instance", "google_sql_database", "google_storage_bucket", "google_bigtable_instance",
    "google_bigtable_table", "google_spanner_instance", "google_spanner_database", "google_compute_disk",
    "google_compute_region_disk", "google_filestore_instance", "google_redis_instance", "google_firestore_database",
    "google_alloydb_cluster", "google_bigquery_dataset", "google_bigquery_table", "google_artifact_registry_repository",
    "azurerm_storage_account", "azurerm_storage_container", "azurerm_storage_share", "azurerm_sql_database",
    "azurerm_mssql_database", "azurerm_mssql_server", "azurerm_cosmosdb_account", "azurerm_managed_disk",
    "azurerm_postgresql_server", "azurerm_postgresql_flexible_server", "azurerm_mysql_flexible_server",
    "azurerm_redis_cache", "azurerm_container_registry",
    "docker_volume",
)

_DATA_BEARING_KEYS = frozenset(type_key(t) for t in DATA_BEARING_TYPES + TERRAFORM_DATA_BEARING_TYPES)
_STATEFULSET = ("kubernetes", "apps", "statefulset")


def is_data_bearing(type_token: str, inputs: Mapping[str, Any] | None = None) -> bool:
    """Whether a resource of this type holds data that a replay cannot bring back."""
    key = type_key(type_token)
    if key in _DATA_BEARING_KEYS:
        return True
    if key == _STATEFULSET and isinstance(inputs, Mapping):
        spec = inputs.get("spec")
        if not isinstance(spec, Mapping) or not spec.get("volumeClaimTemplates"):
            return False
        policy = spec.get("persistentVolumeClaimRetentionPolicy")
        return isinstance(policy, Mapping) and policy.get("whenDeleted") == "Delete"
    return False


# ----------------------------------------------------------------------------------------------
# Replacement rules


@dataclass(frozen=True)
class RuleInput:
    """What a replacement rule sees: the type, the changed input paths and both sides."""

    type: str
    changed: tuple[Path, ...]
    before: Resource | None
    after: Resource | None
    provider_change: str | None = None        # set by the diff when the provider forces a replacement
    provider_inputs: Mapping[str, Any] | None = None   # the (target's) provider's inputs, if known


@dataclass(frozen=True)
class ReplaceRule:
    name: str
    description: str
    check: Callable[[RuleInput], str | None]   # a detail string when the rule fires


def _inputs(res: Resource | None) -> Mapping[str, Any]:
    return res.inputs if res is not None and isinstance(res.inputs, Mapping) else {}


def _get(obj: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _first_covered(changed: Iterable[Path], patterns: Iterable[Path]) -> Path | None:
    """The first changed path that touches one of the patterns (either lies within the other)."""
    pats = list(patterns)
    for path in changed:
        for pat in pats:
            if overlaps(pat, path):
                return path
    return None


def _pending_replacement(ri: RuleInput) -> str | None:
    if ri.before is not None and ri.before.pending_replacement:
        return "the current state marks it pendingReplacement (an interrupted replace)"
    return None


def _provider_change(ri: RuleInput) -> str | None:
    return ri.provider_change or None


def _replace_on_changes(ri: RuleInput) -> str | None:
    opts = ri.after.replace_on_changes if ri.after is not None else ()
    patterns = []
    for text in opts:
        try:
            patterns.append(parse_path(text))
        except ValueError:
            continue
    hit = _first_covered(ri.changed, patterns)
    return f"replaceOnChanges covers {format_path(hit)}" if hit is not None else None


_ECS_TASK_DEFINITION = ("aws", "ecs", "taskdefinition")
_ECS_IN_PLACE = frozenset({"tags", "tagsAll", "skipDestroy", "trackLatest"})


def _ecs_task_definition(ri: RuleInput) -> str | None:
    if type_key(ri.type) != _ECS_TASK_DEFINITION:
        return None
    for path in ri.changed:
        if path and path[0] not in _ECS_IN_PLACE:
            return f"{format_path(path[:1])} changed: ECS registers a new task definition revision"
    return None


# pulumi-kubernetes' replace-on-change fields (provider/pkg/provider/diff.go), by kind. Paths are
# relative to the object; every kind also replaces on metadata.name and metadata.namespace.
_K8S_SELECTOR = (("spec", "selector"),)
_K8S_FORCE_NEW: dict[str, tuple[Path, ...]] = {
    "Deployment": _K8S_SELECTOR,
    "DaemonSet": _K8S_SELECTOR,
    "ReplicaSet": _K8S_SELECTOR,
    "StatefulSet": _K8S_SELECTOR + (("spec", "podManagementPolicy"), ("spec", "serviceName"),
                                    ("spec", "volumeClaimTemplates"), ("spec", "revisionHistoryLimit")),
    "Job": _K8S_SELECTOR + (("spec", "template"), ("spec", "completions"), ("spec", "parallelism")),
    "Service": (("spec", "clusterIP"),),
    "RoleBinding": (("roleRef",),),
    "ClusterRoleBinding": (("roleRef",),),
    "StorageClass": (("parameters",), ("provisioner",)),
    "ResourceQuota": (("spec", "scopes"),),
    "PersistentVolume": tuple(("spec", src) for src in (
        "awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "csi", "fc", "flexVolume",
        "flocker", "gcePersistentDisk", "glusterfs", "hostPath", "iscsi", "local", "nfs",
        "photonPersistentDisk", "portworxVolume", "quobyte", "rbd", "scaleIO", "storageos",
        "vsphereVolume")),
}
_K8S_METADATA = (("metadata", "name"), ("metadata", "namespace"))
_K8S_DATA_KEYS = {"ConfigMap": ("data", "binaryData"), "Secret": ("data", "stringData", "type")}
_K8S_MUTABLE_FLAG = {"ConfigMap": "enableConfigMapMutable", "Secret": "enableSecretMutable"}
# Pod: nearly every spec field is immutable (the API server allows image, tolerations and
# activeDeadlineSeconds; pulumi-kubernetes replaces even on image): any spec change replaces.
_POD_IN_PLACE = (("spec", "activeDeadlineSeconds"), ("spec", "tolerations"))
# PVC: the spec is immutable except a storage request (volume expansion; pulumi-kubernetes#1705
# stopped replacing claims on resources changes).
_PVC_IN_PLACE = (("spec", "resources", "requests", "storage"),)


def _namespace(res: Resource | None) -> Any:
    ns = _get(_inputs(res), ("metadata", "namespace"))
    return "default" if ns in (None, "") else ns


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _kubernetes(ri: RuleInput) -> str | None:
    gvk = kubernetes_gvk(ri.type)
    if gvk is None or ri.type.startswith("kubernetes:helm.sh/") or ri.type.startswith("kubernetes:yaml"):
        return None
    _group, _version, kind = gvk
    if kind.endswith(("List", "Patch")):
        return None
    for path in ri.changed:
        if not any(overlaps(p, path) for p in _K8S_METADATA):
            continue
        if path[:2] == ("metadata", "namespace") and _namespace(ri.before) == _namespace(ri.after):
            continue    # pulumi-kubernetes reads an unset namespace as "default"
        return f"{format_path(path)} changed"
    force_new = _first_covered(ri.changed, _K8S_FORCE_NEW.get(kind, ()))
    if force_new is not None:
        return f"{format_path(force_new)} cannot change in place"
    if kind in _K8S_DATA_KEYS:
        hit = _first_covered(ri.changed, [(k,) for k in _K8S_DATA_KEYS[kind]])
        if hit is not None:
            immutable = _truthy(_inputs(ri.before).get("immutable")) or _truthy(_inputs(ri.after).get("immutable"))
            flag = _K8S_MUTABLE_FLAG[kind]
            mutable = _truthy((ri.provider_inputs or {}).get(flag))
            if immutable:
                return f"{format_path(hit)} changed on an immutable {kind}"
            if not mutable or hit == ("type",):
                return (f"{format_path(hit)} changed (pulumi-kubernetes replaces a {kind} on data "
                        f"changes unless the provider sets {flag})")
    if kind == "Service":
        before_t = _get(_inputs(ri.before), ("spec", "type"))
        after_t = _get(_inputs(ri.after), ("spec", "type"))
        if before_t != after_t and "ExternalName" in (before_t, after_t):
            return f"spec.type {before_t} -> {after_t} (to or from ExternalName)"
    if kind in ("Pod", "PersistentVolumeClaim"):
        in_place = _POD_IN_PLACE if kind == "Pod" else _PVC_IN_PLACE
        for path in ri.changed:
            if path[:1] == ("spec",) and not any(covers(p, path) for p in in_place):
                return f"{format_path(path)} cannot change in place on a {kind}"
    return None


# Create-only inputs of types whose replacement loses data or breaks a service (Terraform ForceNew).
_FORCE_NEW: dict[tuple[str, str, str], tuple[str, ...]] = {
    type_key("aws:rds/instance:Instance"): (
        "engine", "dbName", "username", "storageEncrypted", "kmsKeyId", "availabilityZone",
        "characterSetName", "snapshotIdentifier", "replicateSourceDb", "restoreToPointInTime", "s3Import",
        "timezone"),
    type_key("aws:rds/cluster:Cluster"): (
        "engine", "engineMode", "databaseName", "masterUsername", "storageEncrypted", "kmsKeyId",
        "availabilityZones", "snapshotIdentifier", "restoreToPointInTime", "s3Import",
        "sourceRegion"),
    type_key("aws:dynamodb/table:Table"): ("hashKey", "rangeKey"),
    type_key("aws:s3/bucket:Bucket"): ("objectLockEnabled",),
    type_key("aws:s3/bucketV2:BucketV2"): ("objectLockEnabled",),
    type_key("aws:ebs/volume:Volume"): ("availabilityZone", "encrypted", "kmsKeyId", "snapshotId", "outpostArn"),
    type_key("aws:efs/fileSystem:FileSystem"): (
        "creationToken", "encrypted", "kmsKeyId", "performanceMode", "availabilityZoneName"),
    type_key("aws:elasticache/cluster:Cluster"): ("engine",),
    type_key("aws:elasticache/replicationGroup:ReplicationGroup"): ("atRestEncryptionEnabled",),
    type_key("aws:ecs/service:Service"): ("cluster", "iamRole", "schedulingStrategy"),
    type_key("aws:sqs/queue:Queue"): ("fifoQueue",),
}


def _known_force_new(ri: RuleInput) -> str | None:
    keys = _FORCE_NEW.get(type_key(ri.type))
    if not keys:
        return None
    hit = _first_covered(ri.changed, [(k,) for k in keys])
    return f"{format_path(hit)} is create-only" if hit is not None else None


NAME_KEYS: tuple[str, ...] = (
    "name", "namePrefix", "bucket", "bucketPrefix", "identifier", "identifierPrefix",
    "clusterIdentifier", "clusterIdentifierPrefix", "functionName", "tableName", "clusterName",
    "domainName", "replicationGroupId", "clusterId", "repositoryName", "accountName", "serverName",
    "databaseName", "resourceGroupName",
)
_NAME_PATHS: tuple[Path, ...] = tuple((k,) for k in NAME_KEYS) + (("metadata", "name"),)


def _physical_name(ri: RuleInput) -> str | None:
    res = ri.after or ri.before
    if res is None or not res.custom or res.is_provider or ri.type.startswith("pulumi:"):
        return None
    for path in ri.changed:
        if path in _NAME_PATHS:
            return f"{format_path(path)} changed; it pins the physical resource"
    return None


# ----------------------------------------------------------------------------------------------
# Providers
#
# When a resource's provider reference changes (or its provider is itself replaced), the engine asks
# the new provider's DiffConfig; a "replace" there replaces every resource of that provider. Bridged
# (Terraform) providers only answer "replace" for config keys marked ForcesProviderReplace; the
# Kubernetes provider when the cluster it talks to changes. Plugin versions never force it.

PROVIDER_REPLACE_KEYS: dict[str, tuple[str, ...]] = {
    "aws": ("region",),
    "aws-native": ("region",),
    "kubernetes": ("clusterIdentifier", "kubeconfig", "context", "cluster", "renderYamlToDirectory"),
}
PROVIDER_META_KEYS = frozenset({"version", "pluginDownloadURL"})


def provider_package(type_token: str) -> str:
    """``pulumi:providers:aws`` -> ``aws``."""
    return type_token.rsplit(":", 1)[-1] if type_token.startswith("pulumi:providers:") else ""


def provider_replace_keys(type_token: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[str, ...]:
    """The config keys of this provider type whose change forces a provider replacement.

    For Kubernetes, a ``clusterIdentifier`` set on both sides is the cluster's identity: then only
    it counts (that is what the option is for).
    """
    keys = PROVIDER_REPLACE_KEYS.get(provider_package(type_token), ())
    if provider_package(type_token) == "kubernetes" and before.get("clusterIdentifier") and after.get("clusterIdentifier"):
        return ("clusterIdentifier",)
    return keys


def kubeconfig_servers(value: Any) -> frozenset[str] | None:
    """The API server URLs a kubeconfig (JSON or YAML text, or a parsed mapping) points at."""
    doc = value
    if isinstance(value, str):
        import json

        try:
            doc = json.loads(value)
        except ValueError:
            import yaml  # type: ignore[import-untyped]

            try:
                doc = yaml.safe_load(value)
            except yaml.YAMLError:
                return None
    if not isinstance(doc, Mapping):
        return None
    servers = set()
    for entry in doc.get("clusters") or []:
        server = _get(entry, ("cluster", "server")) if isinstance(entry, Mapping) else None
        if isinstance(server, str):
            servers.add(server)
    return frozenset(servers) if servers else None


REPLACE_RULES: tuple[ReplaceRule, ...] = (
    ReplaceRule("pending-replacement",
                "the current state marks the resource pendingReplacement: the next update replaces it",
                _pending_replacement),
    ReplaceRule("provider-change",
                "the resource's provider changes in a way that replaces the provider (a config key such "
                "as the AWS region or the Kubernetes cluster): every resource it manages is replaced",
                _provider_change),
    ReplaceRule("replace-on-changes",
                "the resource's own replaceOnChanges option lists a changed path",
                _replace_on_changes),
    ReplaceRule("ecs-task-definition-immutable",
                "ECS task definitions are immutable: any content change registers a new revision",
                _ecs_task_definition),
    ReplaceRule("kubernetes-immutable-field",
                "a Kubernetes field the API server (or pulumi-kubernetes) does not update in place changed",
                _kubernetes),
    ReplaceRule("known-force-new",
                "a create-only input of this resource type changed",
                _known_force_new),
    ReplaceRule("physical-name-change",
                "a name-like input that pins the physical resource changed",
                _physical_name),
)
RULES_BY_NAME: dict[str, ReplaceRule] = {r.name: r for r in REPLACE_RULES}


def fired_rule(ri: RuleInput) -> tuple[ReplaceRule, str] | None:
    """The first rule (in table order) that fires, with its detail."""
    for rule in REPLACE_RULES:
        detail = rule.check(ri)
        if detail:
            return rule, detail
    return None


def replacement_reason(type: str, changed_paths: Iterable[str | Sequence[PathElem]],
                       before: Resource | None, after: Resource | None, *,
                       provider_change: str | None = None,
                       provider_inputs: Mapping[str, Any] | None = None) -> str | None:
    """``"<rule-name>: <detail>"`` if the change replaces the resource, else None.

    ``changed_paths`` are input paths (text or tuples) that differ between ``before`` (now) and
    ``after`` (the target). ``provider_change`` is the diff's finding that the resource's provider
    forces a replacement (see :func:`provider_replace_keys`); ``provider_inputs`` the inputs of the
    target's provider (pulumi-kubernetes' mutability flags live there). The rule name is everything
    before the first ``": "``.
    """
    ri = RuleInput(type=type, changed=tuple(as_path(p) for p in changed_paths), before=before, after=after,
                   provider_change=provider_change, provider_inputs=provider_inputs)
    hit = fired_rule(ri)
    return f"{hit[0].name}: {hit[1]}" if hit else None
