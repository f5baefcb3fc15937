package main

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// consistent checks what the manifests promise each other: one StatefulSet whose pods the
// Service, the PDB and the ServiceMonitor select; the Service is the StatefulSet's governing
// headless Service; the pod name becomes kafka.instance_id; static membership is on; the
// ScaledObject scales this StatefulSet on the group and topic of roadpulse.toml.
func (o *Objects) consistent() error {
	if len(o.StatefulSets) != 1 || len(o.Services) != 1 || len(o.ConfigMaps) != 1 {
		return fmt.Errorf("want one StatefulSet, Service and ConfigMap")
	}
	sts, svc, cm := &o.StatefulSets[0], &o.Services[0], &o.ConfigMaps[0]
	pods := labels.Set(sts.Spec.Template.Labels)
	if err := selects("StatefulSet", sts.Spec.Selector, pods); err != nil {
		return err
	}
	if sts.Spec.ServiceName != svc.Name || svc.Spec.ClusterIP != corev1.ClusterIPNone {
		return fmt.Errorf("StatefulSet serviceName %q must name the headless Service %q", sts.Spec.ServiceName, svc.Name)
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(pods) {
		return fmt.Errorf("Service selector %v does not select the pods", svc.Spec.Selector)
	}
	for _, pdb := range o.PDBs {
		if err := selects("PodDisruptionBudget", pdb.Spec.Selector, pods); err != nil {
			return err
		}
	}
	for _, sm := range o.ServiceMonitors {
		if !labels.SelectorFromSet(sm.Spec.Selector.MatchLabels).Matches(labels.Set(svc.Labels)) {
			return fmt.Errorf("ServiceMonitor does not select Service %s", svc.Name)
		}
	}
	if err := instanceIDFromPodName(sts); err != nil {
		return err
	}
	toml := cm.Data["roadpulse.toml"]
	if !strings.Contains(toml, "static_membership = true") {
		return fmt.Errorf("configmap roadpulse.toml must set kafka static_membership = true")
	}
	for _, so := range o.ScaledObjects {
		ref := so.Spec.ScaleTargetRef
		if ref == nil || ref.Kind != "StatefulSet" || ref.Name != sts.Name || ref.APIVersion != "apps/v1" {
			return fmt.Errorf("ScaledObject must target apps/v1 StatefulSet %s, targets %+v", sts.Name, ref)
		}
		for _, t := range so.Spec.Triggers {
			group, topic := t.Metadata["consumerGroup"], t.Metadata["topic"]
			if t.Type != "kafka" || !strings.Contains(toml, fmt.Sprintf("group_id = %q", group)) ||
				!strings.Contains(toml, fmt.Sprintf("input_topics = [%q]", topic)) {
				return fmt.Errorf("ScaledObject trigger %s %s/%s does not match roadpulse.toml", t.Type, group, topic)
			}
		}
	}
	return limits(sts)
}

func selects(what string, sel *metav1.LabelSelector, pods labels.Set) error {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return fmt.Errorf("%s selector: %w", what, err)
	}
	if s.Empty() || !s.Matches(pods) {
		return fmt.Errorf("%s selector %v does not select the pod template labels %v", what, sel, pods)
	}
	return nil
}

func instanceIDFromPodName(sts *appsv1.StatefulSet) error {
	for _, c := range sts.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			if e.Name == "ROADPULSE_KAFKA_INSTANCE_ID" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil &&
				e.ValueFrom.FieldRef.FieldPath == "metadata.name" {
				return nil
			}
		}
	}
	return fmt.Errorf("ROADPULSE_KAFKA_INSTANCE_ID must come from the pod name (metadata.name)")
}

// limits: every container has a memory request and a limit, request <= limit.
func limits(sts *appsv1.StatefulSet) error {
	for _, c := range sts.Spec.Template.Spec.Containers {
		req, lim := c.Resources.Requests.Memory(), c.Resources.Limits.Memory()
		if req.IsZero() || lim.IsZero() || req.Cmp(*lim) > 0 {
			return fmt.Errorf("container %s: memory request %v and limit %v", c.Name, req, lim)
		}
	}
	return nil
}
