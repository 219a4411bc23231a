package cli

import (
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// serviceMonitor is the part of the Prometheus Operator's ServiceMonitor
// (monitoring.coreos.com/v1) that k8s/overlays/servicemonitor uses; strict
// decoding into it refuses any other field, misspellings included.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// TestServiceMonitorOverlayScrapesTheCoordinator renders the optional
// overlay: its ServiceMonitor selects exactly the coordinator's Service
// and scrapes /metrics on a port that Service has.
func TestServiceMonitorOverlayScrapesTheCoordinator(t *testing.T) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot, "k8s/overlays/servicemonitor"))
	if err != nil {
		t.Fatalf("kustomize build: %v", err)
	}
	var monitors []*serviceMonitor
	var services []*corev1.Service
	for _, res := range rm.Resources() {
		b, err := res.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		obj, err := kubeObject(b)
		if err != nil {
			t.Fatalf("%s: %v", res.CurId(), err)
		}
		switch o := obj.(type) {
		case *serviceMonitor:
			monitors = append(monitors, o)
		case *corev1.Service:
			services = append(services, o)
		}
	}
	if len(monitors) != 1 {
		t.Fatalf("%d ServiceMonitors rendered, want 1", len(monitors))
	}
	sm := monitors[0]
	sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil || sel.Empty() {
		t.Fatalf("selector %v: %v (an empty selector would scrape every Service)", sm.Spec.Selector, err)
	}
	var selected []*corev1.Service
	for _, s := range services {
		if sel.Matches(labels.Set(s.Labels)) {
			selected = append(selected, s)
		}
	}
	if len(selected) != 1 || selected[0].Name != "fsl-coordinator" {
		t.Fatalf("the ServiceMonitor selects %d Services, want only fsl-coordinator", len(selected))
	}
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("%d endpoints, want 1", len(sm.Spec.Endpoints))
	}
	ep := sm.Spec.Endpoints[0]
	hasPort := slices.ContainsFunc(selected[0].Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port })
	if ep.Path != "/metrics" || !hasPort {
		t.Errorf("endpoint port %q path %q; want /metrics on a named port of the Service (%v)", ep.Port, ep.Path, selected[0].Spec.Ports)
	}
}
