// A main for the Kubernetes provider built from its Go module: the module's own cmd package embeds files
// generated at release time, so this one embeds the schema and mapping shipped in the module instead.
package main

import (
	_ "embed"
	"encoding/json"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema.json
var schema []byte

//go:embed terraform-mapping.json
var mapping []byte

func main() {
	var spec map[string]any
	if err := json.Unmarshal(schema, &spec); err != nil {
		panic(err)
	}
	spec["version"] = version.Version
	versioned, err := json.Marshal(spec)
	if err != nil {
		panic(err)
	}
	provider.Serve("kubernetes", version.Version, versioned, mapping)
}
