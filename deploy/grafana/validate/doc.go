// Package validate holds the test that checks deploy/grafana/dashboards/roadpulse.json against
// Grafana's own dashboard schema, as the Grafana Foundation SDK (generated from Grafana's
// schemas) models it: run `go test .` here. No Grafana server could be had on the machines
// this was built on, so this and the query run of deploy/compose-check stand in for loading
// the dashboard into Grafana.
package validate
