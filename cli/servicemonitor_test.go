package cli

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
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

// podMonitor is the part of the Prometheus Operator's PodMonitor that
// k8s/overlays/servicemonitor uses, decoded strictly as serviceMonitor is.
type podMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector            metav1.LabelSelector `json:"selector"`
		PodMetricsEndpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"podMetricsEndpoints"`
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
	var podMonitors []*podMonitor
	var services []*corev1.Service
	var workerPods []corev1.PodTemplateSpec
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
		case *podMonitor:
			podMonitors = append(podMonitors, o)
		case *corev1.Service:
			services = append(services, o)
		case *batchv1.Job:
			workerPods = append(workerPods, o.Spec.Template)
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
	checkPodMonitor(t, podMonitors, workerPods)
}

// checkPodMonitor: the one PodMonitor selects the worker pods and no other
// (the Jobs' pod templates, by their labels), and scrapes /metrics on a
// named container port on which the worker serves them (--metrics).
func checkPodMonitor(t *testing.T, monitors []*podMonitor, pods []corev1.PodTemplateSpec) {
	t.Helper()
	if len(monitors) != 1 || len(monitors[0].Spec.PodMetricsEndpoints) != 1 {
		t.Fatalf("%d PodMonitors rendered, want 1 with one endpoint", len(monitors))
	}
	pm := monitors[0]
	sel, err := metav1.LabelSelectorAsSelector(&pm.Spec.Selector)
	if err != nil || sel.Empty() {
		t.Fatalf("PodMonitor selector %v: %v", pm.Spec.Selector, err)
	}
	ep := pm.Spec.PodMetricsEndpoints[0]
	selected := 0
	for _, p := range pods {
		if !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		selected++
		c := p.Spec.Containers[0]
		if c.Name != "worker" {
			t.Errorf("the PodMonitor selects pods of container %q, want the workers", c.Name)
			continue
		}
		i := slices.IndexFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == ep.Port })
		if i < 0 || ep.Path != "/metrics" {
			t.Errorf("endpoint port %q path %q: want /metrics on a named port of the worker container (%v)", ep.Port, ep.Path, c.Ports)
			continue
		}
		if got, want := flagValue(c.Args, "metrics"), fmt.Sprintf("0.0.0.0:%d", c.Ports[i].ContainerPort); got != want {
			t.Errorf("worker --metrics %q, want %s (the port the PodMonitor scrapes)", got, want)
		}
		if p.Annotations["prometheus.io/port"] != fmt.Sprint(c.Ports[i].ContainerPort) {
			t.Errorf("worker pod annotations %v do not name the metrics port", p.Annotations)
		}
	}
	if selected != 1 {
		t.Errorf("the PodMonitor selects %d pod templates, want the worker Job's only", selected)
	}
}
