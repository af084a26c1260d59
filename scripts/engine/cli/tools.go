//go:build tools

// Package tools pins the Pulumi CLI's main package so that this module's go.mod and go.sum describe
// exactly what scripts/build_engine.sh builds. pkg/v3 and sdk/v3 are required at the same version: pkg's
// own `replace` of sdk/v3 by a sibling folder does not apply to a dependent, and its clipboard `replace`
// is repeated in go.mod because it does.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
