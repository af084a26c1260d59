#!/usr/bin/env bash
# Build the Pulumi engine from its published Go modules (no download of Pulumi's release binaries needed):
#   pulumi                          the CLI, github.com/pulumi/pulumi/pkg/v3/cmd/pulumi @ PULUMI_VERSION
#   pulumi-resource-pulumi-python   Python dynamic providers (a script shipped in sdk/v3)
#   pulumi-language-python-exec     the Python program runner (a script shipped in sdk/v3)
#   pulumi-resource-kubernetes      the Kubernetes provider @ KUBERNETES_VERSION, for render-to-YAML mode
# into $INFRA_ROLLBACK_ENGINE_DIR (default ~/.cache/infra-rollback/engine/<versions>)/bin, and prints that
# directory last. Cached: nothing is rebuilt when the stamp there names the pinned versions and every binary is
# in place (--force rebuilds). Go's own caches (GOMODCACHE, GOCACHE) are kept, so a rebuild is quick.
#
# Needs Go (1.26) and the Go module proxy. The Python language host (sdk/python/cmd/pulumi-language-python)
# is not served by the proxy, so programs on disk cannot run on this engine; inline Automation API programs,
# which a rollback uses, run in-process and do not need it.
#
# Usage: scripts/build_engine.sh [--force] [--print-dir]
set -euo pipefail

PULUMI_VERSION=v3.274.1
KUBERNETES_VERSION=4.25.0
KUBERNETES_MODULE=github.com/pulumi/pulumi-kubernetes/provider/v4
KUBERNETES_PSEUDO=v4.0.0-20260115033456-f47bc2d6f199   # how the proxy serves the v4.25.0 release commit

here="$(cd "$(dirname "$0")" && pwd)"
stamp_text="pulumi ${PULUMI_VERSION}; kubernetes ${KUBERNETES_VERSION} (${KUBERNETES_PSEUDO})"
dir="${INFRA_ROLLBACK_ENGINE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/infra-rollback/engine/pulumi-${PULUMI_VERSION}-k8s-${KUBERNETES_VERSION}}"
bin="$dir/bin"
binaries=(pulumi pulumi-resource-pulumi-python pulumi-language-python-exec pulumi-resource-kubernetes)

force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --print-dir) echo "$bin"; exit 0 ;;
    *) echo "usage: $0 [--force] [--print-dir]" >&2; exit 2 ;;
  esac
done

built() {
  [ -f "$bin/.stamp" ] && [ "$(cat "$bin/.stamp")" = "$stamp_text" ] || return 1
  for b in "${binaries[@]}"; do [ -x "$bin/$b" ] || return 1; done
  [ "$("$bin/pulumi" version 2>/dev/null)" = "$PULUMI_VERSION" ]
}

if [ "$force" = 0 ] && built; then
  echo "engine: cached ($stamp_text)" >&2
  echo "$bin"
  exit 0
fi

command -v go >/dev/null 2>&1 || { echo "engine: no Go on PATH; install Go 1.26 to build the engine" >&2; exit 1; }
mkdir -p "$bin"
rm -f "$bin/.stamp"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
start=$(date +%s)

# 1. The CLI, in a main module of ours (scripts/engine/cli) that requires pkg/v3 and sdk/v3 at the same version.
echo "engine: building pulumi ${PULUMI_VERSION} ..." >&2
cp "$here/engine/cli/go.mod" "$here/engine/cli/go.sum" "$here/engine/cli/tools.go" "$work/"
mkdir -p "$work/cli" && mv "$work/go.mod" "$work/go.sum" "$work/tools.go" "$work/cli/"
(cd "$work/cli" && go build -trimpath -o "$bin/pulumi" \
  -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=${PULUMI_VERSION}" \
  github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)

# 2. The Python helpers shipped in the sdk/v3 module zip (module zips drop exec bits: restore them).
sdk="$(cd "$work/cli" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
install -m 0755 "$sdk/python/dist/pulumi-resource-pulumi-python" "$bin/pulumi-resource-pulumi-python"
install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$bin/pulumi-language-python-exec"

# 3. The Kubernetes provider: its own cmd package embeds files generated at release time, so a main of ours
#    (scripts/engine/kubernetes/main.go) serves the schema and mapping shipped in the module.
echo "engine: building pulumi-resource-kubernetes ${KUBERNETES_VERSION} ..." >&2
mkdir -p "$work/k8s"
cp "$here/engine/kubernetes/go.mod" "$here/engine/kubernetes/go.sum" "$here/engine/kubernetes/main.go" "$work/k8s/"
mod="$(cd "$work/k8s" && go list -m -f '{{.Dir}}' "${KUBERNETES_MODULE}")"
install -m 0644 "$mod/cmd/pulumi-resource-kubernetes/schema.json" "$work/k8s/schema.json"
install -m 0644 "$mod/cmd/pulumi-resource-kubernetes/terraform-mapping.json" "$work/k8s/terraform-mapping.json"
(cd "$work/k8s" && go build -trimpath -o "$bin/pulumi-resource-kubernetes" \
  -ldflags "-s -w -X ${KUBERNETES_MODULE}/pkg/version.Version=${KUBERNETES_VERSION}" .)

[ "$("$bin/pulumi" version)" = "$PULUMI_VERSION" ] || { echo "engine: built pulumi does not report ${PULUMI_VERSION}" >&2; exit 1; }
echo "$stamp_text" > "$bin/.stamp"
echo "engine: built in $(( $(date +%s) - start )) s into $bin ($(du -sh "$bin" | cut -f1))" >&2
echo "$bin"
