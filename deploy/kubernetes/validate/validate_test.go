package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func init() { out = io.Discard }

func TestShippedManifestsDecodeStrictlyAndAgree(t *testing.T) {
	objects, err := load("..")
	if err != nil {
		t.Fatal(err)
	}
	if err := objects.consistent(); err != nil {
		t.Fatal(err)
	}
}

// copyWith copies the manifests to a temporary directory, replacing old with new in one file.
func copyWith(t *testing.T, file, old, new string) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join("..", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		if e.Name() == file {
			if !strings.Contains(text, old) {
				t.Fatalf("%s does not contain %q", file, old)
			}
			text = strings.Replace(text, old, new, 1)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBrokenManifestsAreRejected(t *testing.T) {
	cases := []struct{ name, file, old, new, want string }{
		{"unknown StatefulSet field", "statefulset.yaml", "  serviceName: roadpulse", "  serviceName: roadpulse\n  replicaCount: 3", "unknown field"},
		{"field at the wrong level", "statefulset.yaml", "      terminationGracePeriodSeconds: 35", "      terminationGracePeriodSeconds: 35\n      memory: 512Mi", "unknown field"},
		{"bad quantity", "statefulset.yaml", "memory: 512Mi", "memory: 512 MiB", "quantities must match"},
		{"unknown ScaledObject field", "keda-scaledobject.yaml", "  pollingInterval: 15", "  pollingInterval: 15\n  lagThreshold: 5", "unknown field"},
		{"unknown PDB field", "pdb.yaml", "  maxUnavailable: 1", "  maxUnavailable: 1\n  minAvailabe: 1", "unknown field"},
		{"unknown ServiceMonitor field", "servicemonitor.yaml", "      interval: 15s", "      interval: 15s\n      scrapeEvery: 15s", "unknown field"},
		{"unknown kustomization field", "kustomization.yaml", "resources:", "resource:\n  - x.yaml\nresources:", "unknown field"},
		{"duplicate field", "service.yaml", "  clusterIP: None", "  clusterIP: None\n  clusterIP: None", "already set"},
		{"scale target is not the StatefulSet", "keda-scaledobject.yaml", "    kind: StatefulSet", "    kind: Deployment", "must target"},
		{"instance id not from the pod name", "statefulset.yaml", "fieldPath: metadata.name", "fieldPath: metadata.uid", "pod name"},
		{"static membership off", "configmap.yaml", "static_membership = true", "static_membership = false", "static_membership"},
		{"PDB selects other pods", "pdb.yaml", "      app.kubernetes.io/component: worker", "      app.kubernetes.io/component: other", "does not select"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			objects, err := load(copyWith(t, c.file, c.old, c.new))
			if err == nil {
				err = objects.consistent()
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error containing %q, got %v", c.want, err)
			}
		})
	}
}
