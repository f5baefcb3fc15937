// Command validate decodes every manifest that deploy/kubernetes/kustomization.yaml lists into
// its Go API type, strictly: an unknown or duplicated field, a wrong type or a malformed
// quantity is an error. The types are the real ones: k8s.io/api (ConfigMap, StatefulSet,
// Service, PodDisruptionBudget), KEDA's keda.sh/v1alpha1 ScaledObject, the Prometheus
// Operator's monitoring.coreos.com/v1 ServiceMonitor and kustomize's Kustomization. It then
// checks what the manifests promise each other (selectors, ports, the scale target).
//
//	go run . ../        # from this directory; prints one line per object, exits 1 on an error
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	kustomize "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// out receives one line per decoded object (the tests discard it).
var out io.Writer = os.Stdout

// Objects holds every decoded manifest, by kind.
type Objects struct {
	ConfigMaps      []corev1.ConfigMap
	StatefulSets    []appsv1.StatefulSet
	Services        []corev1.Service
	PDBs            []policyv1.PodDisruptionBudget
	ScaledObjects   []kedav1alpha1.ScaledObject
	ServiceMonitors []monitoringv1.ServiceMonitor
}

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// decode unmarshals one YAML document strictly into the type its apiVersion and kind name.
func (o *Objects) decode(doc []byte) (string, error) {
	var tm typeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return "", err
	}
	id := tm.APIVersion + " " + tm.Kind
	var err error
	switch id {
	case "v1 ConfigMap":
		o.ConfigMaps, err = strictAppend(doc, o.ConfigMaps)
	case "apps/v1 StatefulSet":
		o.StatefulSets, err = strictAppend(doc, o.StatefulSets)
	case "v1 Service":
		o.Services, err = strictAppend(doc, o.Services)
	case "policy/v1 PodDisruptionBudget":
		o.PDBs, err = strictAppend(doc, o.PDBs)
	case "keda.sh/v1alpha1 ScaledObject":
		o.ScaledObjects, err = strictAppend(doc, o.ScaledObjects)
	case "monitoring.coreos.com/v1 ServiceMonitor":
		o.ServiceMonitors, err = strictAppend(doc, o.ServiceMonitors)
	default:
		return id, fmt.Errorf("no Go type known for %q", id)
	}
	return id, err
}

func strictAppend[T any](doc []byte, list []T) ([]T, error) {
	var v T
	if err := yaml.UnmarshalStrict(doc, &v); err != nil {
		return list, err
	}
	return append(list, v), nil
}

// documents splits a multi-document YAML file, dropping empty and comment-only documents.
func documents(data []byte) [][]byte {
	var docs [][]byte
	for _, part := range bytes.Split(append([]byte("\n"), data...), []byte("\n---")) {
		empty := true
		for _, line := range strings.Split(string(part), "\n") {
			t := strings.TrimSpace(line)
			if t != "" && !strings.HasPrefix(t, "#") {
				empty = false
				break
			}
		}
		if !empty {
			docs = append(docs, part)
		}
	}
	return docs
}

func load(dir string) (*Objects, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	var k kustomize.Kustomization
	if err := yaml.UnmarshalStrict(raw, &k); err != nil {
		return nil, fmt.Errorf("kustomization.yaml: %w", err)
	}
	if len(k.Resources) == 0 {
		return nil, fmt.Errorf("kustomization.yaml lists no resources")
	}
	fmt.Fprintf(out, "ok  kustomization.yaml  %s %s (%d resources)\n", k.APIVersion, k.Kind, len(k.Resources))
	objects := &Objects{}
	for _, name := range k.Resources {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		docs := documents(data)
		if len(docs) == 0 {
			return nil, fmt.Errorf("%s: no object", name)
		}
		for _, doc := range docs {
			id, err := objects.decode(doc)
			if err != nil {
				return nil, fmt.Errorf("%s (%s): %w", name, id, err)
			}
			fmt.Fprintf(out, "ok  %s  %s\n", name, id)
		}
	}
	return objects, nil
}

func main() {
	dir := ".."
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	objects, err := load(dir)
	if err == nil {
		err = objects.consistent()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "validate:", err)
		os.Exit(1)
	}
	fmt.Println("validate: every manifest decodes strictly and they agree with each other")
}
