package validate

import (
	"os"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

const path = "../dashboards/roadpulse.json"

func init() {
	// Panel options, field configs and queries decode into their plugins' types (timeseries,
	// stat, table, prometheus), strictly too.
	plugins.RegisterDefaultPlugins()
}

// nonEmpty turns the SDK's empty error list (returned as a non-nil error) into nil.
func nonEmpty(err error) error {
	if list, ok := err.(cog.BuildErrors); ok && len(list) == 0 {
		return nil
	}
	return err
}

func decode(raw []byte) (*dashboard.Dashboard, error) {
	var d dashboard.Dashboard
	if err := nonEmpty(d.UnmarshalJSONStrict(raw)); err != nil {
		return nil, err
	}
	return &d, nonEmpty(d.Validate())
}

func TestDashboardMatchesGrafanasSchema(t *testing.T) {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := decode(raw)
	if err != nil {
		t.Fatalf("%s against Grafana's dashboard schema: %v", path, err)
	}
	// The schema version the SDK models (Grafana migrates older dashboards on load; this one is
	// at the current version, so there is nothing to migrate).
	if want := dashboard.NewDashboard().SchemaVersion; d.SchemaVersion != want {
		t.Fatalf("schemaVersion %d, Grafana's dashboard schema is at %d", d.SchemaVersion, want)
	}
	if d.Uid == nil || *d.Uid != "roadpulse" || len(d.Panels) < 10 {
		t.Fatalf("uid %v, %d panels", d.Uid, len(d.Panels))
	}
}

func TestBrokenDashboardsAreRejected(t *testing.T) {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, old, new string }{
		{"unknown dashboard field", `"schemaVersion":`, `"schemaVerison": 1, "schemaVersion":`},
		{"unknown panel field", `"gridPos":`, `"gridPosition": {}, "gridPos":`},
		{"wrong type", `"editable": true`, `"editable": "yes"`},
		{"unknown timeseries option", `"legend": {`, `"legends": {}, "legend": {`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := string(raw)
			if !strings.Contains(text, c.old) {
				t.Fatalf("dashboard does not contain %q", c.old)
			}
			if _, err := decode([]byte(strings.Replace(text, c.old, c.new, 1))); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
