// SPDX-License-Identifier: Apache-2.0

// Command schemacheck checks dashboard JSON files against Grafana's dashboard
// schema as published in github.com/grafana/grafana-foundation-sdk/go
// (Apache-2.0; generated from Grafana's own schema): strict decoding (unknown
// or missing required fields, wrong types, panel options per panel plugin)
// and the schema's Validate(). Its own module, so the generator stays
// standard-library only.
//
//	go run . ../../*.json
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: schemacheck DASHBOARD.json...")
		os.Exit(2)
	}
	plugins.RegisterDefaultPlugins() // panel options and queries per plugin type
	bad := 0
	for _, p := range os.Args[1:] {
		b, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		// The committed dashboards are the classic JSON model (schemaVersion
		// 39+) that file provisioning, the import UI and grafana.com take;
		// dashboardv2 is the Grafana 12 resource format, a different
		// document, so it cannot check them.
		//lint:ignore SA1019 the classic model is the format we ship
		var d dashboard.Dashboard
		if err := d.UnmarshalJSONStrict(b); isErr(err) {
			fmt.Printf("%s: not a valid Grafana dashboard:\n%v\n", p, err)
			bad++
			continue
		}
		if err := d.Validate(); isErr(err) {
			fmt.Printf("%s: fails Grafana's dashboard schema:\n%v\n", p, err)
			bad++
			continue
		}
		fmt.Printf("%s: valid Grafana dashboard (%d panels)\n", p, len(d.Panels))
	}
	if bad > 0 {
		os.Exit(1)
	}
}

// isErr: the SDK returns a nil cog.BuildErrors inside a non-nil error.
func isErr(err error) bool {
	var be cog.BuildErrors
	if errors.As(err, &be) {
		return len(be) > 0
	}
	return err != nil
}
