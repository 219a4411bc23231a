package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/kustomize/api/krusty"
	ktypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/fsl-project/fsl/coordinator"
)

// The deployment files live at the repository root, one level up.
const repoRoot = ".."

// checkArgv parses argv (a binary name, then its arguments) with the real
// flag definitions of our apps, without running any action: an unknown
// binary, command or flag, a bad flag value or a stray argument fails it.
func checkArgv(argv []string) error {
	_, err := parseArgv(argv)
	return err
}

// parseArgv is checkArgv, returning the command's parsed flags and
// positional arguments. As Run does, it moves flags before positional
// arguments (flagsFirst); only a command that documents arguments
// (ArgsUsage) may have them.
func parseArgv(argv []string) (*flag.FlagSet, error) {
	if len(argv) == 0 {
		return nil, errors.New("empty command")
	}
	var app *cli.App
	switch filepath.Base(argv[0]) {
	case "fsl-coord":
		app = NewCoordApp()
	case "fsl-worker":
		app = NewWorkerApp()
	default:
		return nil, fmt.Errorf("%q is not one of our binaries (fsl-coord, fsl-worker)", argv[0])
	}
	path, flags, cmds, args := app.Name, app.Flags, app.Commands, flagsFirst(app, argv)[1:]
	hasAction, takesArgs := app.Action != nil, app.ArgsUsage != ""
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") && len(cmds) > 0 {
		i := slices.IndexFunc(cmds, func(c *cli.Command) bool { return c.HasName(args[0]) })
		if i < 0 {
			return nil, fmt.Errorf("%s has no command %q", path, args[0])
		}
		c := cmds[i]
		path, flags, cmds, args, hasAction, takesArgs = path+" "+c.Name, c.Flags, c.Subcommands, args[1:], c.Action != nil, c.ArgsUsage != ""
	}
	if !hasAction {
		return nil, fmt.Errorf("%q names no runnable command", strings.Join(argv, " "))
	}
	set := flag.NewFlagSet(path, flag.ContinueOnError)
	set.SetOutput(io.Discard)
	for _, f := range flags {
		if err := f.Apply(set); err != nil {
			return nil, fmt.Errorf("%s: flag %v: %w", path, f.Names(), err)
		}
	}
	if err := set.Parse(args); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if set.NArg() > 0 && !takesArgs {
		return nil, fmt.Errorf("%s: unexpected arguments %q", path, set.Args())
	}
	// A hidden flag is an older name kept for old scripts: what we ship
	// and document uses the current one.
	var hidden []string
	set.Visit(func(f *flag.Flag) {
		for _, cf := range flags {
			if v, ok := cf.(cli.VisibleFlag); ok && !v.IsVisible() && slices.Contains(cf.Names(), f.Name) {
				hidden = append(hidden, "--"+f.Name)
			}
		}
	})
	if len(hidden) > 0 {
		return nil, fmt.Errorf("%s: %s is an older, hidden name: use the one --help shows", path, strings.Join(hidden, ", "))
	}
	return set, nil
}

// isPoolWorker says why the fsl-worker command argv is not a pool worker
// (nil when it is): the job it works for, as the real flags resolve it,
// must be empty, so that it asks the coordinator for one.
func isPoolWorker(argv []string) error {
	set, err := parseArgv(argv)
	if err != nil {
		return err
	}
	f := set.Lookup("job")
	if f == nil {
		return fmt.Errorf("%q: fsl-worker has no --job", argv)
	}
	if job := f.Value.String(); job != "" {
		return fmt.Errorf("%q works for job %q, not for the jobs a serving coordinator assigns (it needs an empty --job)", argv, job)
	}
	return nil
}

// flagValue returns the value of --name in args ("" when absent).
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == "--"+name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

func TestCheckArgvRejectsWhatOurAppsDoNotHave(t *testing.T) {
	cases := []struct {
		argv []string
		ok   bool
	}{
		{[]string{"fsl-coord", "start", "--db", "/data/fsl.db", "--http", "0.0.0.0:8080"}, true},
		{[]string{"/usr/local/bin/fsl-worker", "--gpu", "0", "--nats", "nats://x:4222"}, true},
		{[]string{"fsl-coord", "status", "--json"}, true},
		{[]string{"fsl-coord", "start", "--no-such-flag"}, false},
		{[]string{"fsl-coord", "strat"}, false},
		{[]string{"fsl-coord"}, false},
		{[]string{"fsl-worker", "--gpu", "zero"}, false},
		{[]string{"fsl-worker", "extra"}, false},
		{[]string{"fsl-trainer", "--gpu", "0"}, false},
		{[]string{"fsl-coord", "submit", "/etc/fsl/job.yaml", "--seeds", "1,2", "--nats", "nats://x:4222"}, true},
		{[]string{"fsl-coord", "submit", "--name", "lr", "job.yaml"}, true},
		{[]string{"fsl-coord", "submit", "job.yaml", "--no-such-flag"}, false},
		{[]string{"fsl-coord", "serve", "job.yaml"}, false},
		{[]string{"fsl-coord", "checkpoints", "export", "--checkpoint", "best"}, true},
		{[]string{"fsl-coord", "checkpoints", "export", "--step", "best"}, false}, // hidden: the older name
	}
	for _, c := range cases {
		if err := checkArgv(c.argv); (err == nil) != c.ok {
			t.Errorf("checkArgv(%q) = %v, want ok %v", c.argv, err, c.ok)
		}
	}
}

// kubeObject decodes one manifest strictly into its typed Kubernetes API
// object: unknown or misspelt fields and wrong types fail.
func kubeObject(doc []byte) (any, error) {
	var tm metav1.TypeMeta
	if err := sigsyaml.Unmarshal(doc, &tm); err != nil {
		return nil, err
	}
	var obj any
	switch tm.APIVersion + " " + tm.Kind {
	case "batch/v1 Job":
		obj = &batchv1.Job{}
	case "apps/v1 StatefulSet":
		obj = &appsv1.StatefulSet{}
	case "apps/v1 Deployment":
		obj = &appsv1.Deployment{}
	case "v1 Service":
		obj = &corev1.Service{}
	case "v1 ConfigMap":
		obj = &corev1.ConfigMap{}
	case "v1 Secret":
		obj = &corev1.Secret{}
	case "v1 PersistentVolumeClaim":
		obj = &corev1.PersistentVolumeClaim{}
	case "v1 Namespace":
		obj = &corev1.Namespace{}
	case "monitoring.coreos.com/v1 ServiceMonitor":
		obj = &serviceMonitor{}
	case "monitoring.coreos.com/v1 PodMonitor":
		obj = &podMonitor{}
	case "policy/v1 PodDisruptionBudget":
		obj = &policyv1.PodDisruptionBudget{}
	default:
		return nil, fmt.Errorf("unexpected kind %q %q", tm.APIVersion, tm.Kind)
	}
	if err := sigsyaml.UnmarshalStrict(doc, obj); err != nil {
		return nil, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	return obj, nil
}

// splitYAML splits a multi-document YAML file.
func splitYAML(b []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(d, "")) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

// generatorFiles are the files the kustomizations under k8s/ make
// ConfigMaps and Secrets of: data, not manifests.
func generatorFiles(t *testing.T) map[string]bool {
	t.Helper()
	files := map[string]bool{}
	ks, err := filepath.Glob(filepath.Join(repoRoot, "k8s", "*", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob(filepath.Join(repoRoot, "k8s", "*", "*", "kustomization.yaml"))
	for _, path := range append(ks, more...) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var k ktypes.Kustomization
		if err := sigsyaml.Unmarshal(b, &k); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var srcs []string
		for _, g := range k.ConfigMapGenerator {
			srcs = append(srcs, g.FileSources...)
		}
		for _, g := range k.SecretGenerator {
			srcs = append(srcs, g.FileSources...)
		}
		for _, src := range srcs {
			if _, f, ok := strings.Cut(src, "="); ok {
				src = f
			}
			files[filepath.Join(filepath.Dir(path), src)] = true
		}
	}
	return files
}

func TestEveryManifestDecodesStrictly(t *testing.T) {
	var manifests, kustomizations int
	data := generatorFiles(t)
	err := filepath.WalkDir(filepath.Join(repoRoot, "k8s"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || (filepath.Ext(path) != ".yaml" && filepath.Ext(path) != ".yml") || data[path] {
			return err // generator files are checked by the render test (job.yaml as a JobSpec)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if filepath.Base(path) == "kustomization.yaml" {
			kustomizations++
			var k ktypes.Kustomization
			if err := sigsyaml.UnmarshalStrict(b, &k); err != nil {
				t.Errorf("%s: %v", path, err)
			}
			return nil
		}
		for i, doc := range splitYAML(b) {
			manifests++
			if _, err := kubeObject(doc); err != nil {
				t.Errorf("%s document %d: %v", path, i, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if kustomizations < 2 || manifests < 6 {
		t.Errorf("found %d kustomizations and %d manifests under k8s/, want the base and an overlay", kustomizations, manifests)
	}
}

// rendered is a kustomization built in-process, decoded into API types.
type rendered struct {
	jobs         map[string]*batchv1.Job
	statefulSets map[string]*appsv1.StatefulSet
	deployments  map[string]*appsv1.Deployment
	services     map[string]*corev1.Service
	configMaps   map[string]*corev1.ConfigMap
	secrets      map[string]*corev1.Secret
	pvcs         map[string]*corev1.PersistentVolumeClaim
	pdbs         map[string]*policyv1.PodDisruptionBudget
}

func render(t *testing.T, dir string) rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot, dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	r := rendered{map[string]*batchv1.Job{}, map[string]*appsv1.StatefulSet{}, map[string]*appsv1.Deployment{},
		map[string]*corev1.Service{}, map[string]*corev1.ConfigMap{},
		map[string]*corev1.Secret{}, map[string]*corev1.PersistentVolumeClaim{}, map[string]*policyv1.PodDisruptionBudget{}}
	for _, res := range rm.Resources() {
		b, err := res.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		obj, err := kubeObject(b)
		if err != nil {
			t.Fatalf("kustomize build %s: %s: %v", dir, res.CurId(), err)
		}
		switch o := obj.(type) {
		case *batchv1.Job:
			r.jobs[o.Name] = o
		case *appsv1.StatefulSet:
			r.statefulSets[o.Name] = o
		case *appsv1.Deployment:
			r.deployments[o.Name] = o
		case *corev1.Service:
			r.services[o.Name] = o
		case *corev1.ConfigMap:
			r.configMaps[o.Name] = o
		case *corev1.Secret:
			r.secrets[o.Name] = o
		case *corev1.PersistentVolumeClaim:
			r.pvcs[o.Name] = o
		case *policyv1.PodDisruptionBudget:
			r.pdbs[o.Name] = o
		}
	}
	return r
}

// containerArgv is a container's command followed by its args.
func containerArgv(c corev1.Container) []string { return append(slices.Clone(c.Command), c.Args...) }

// k8sDirs are the kustomizations under k8s/, whether each gives the
// workers GPUs, and whether it is the serve layout (a coordinator running
// fsl-coord serve for a queue of jobs, pool workers) rather than the
// one-job layout of the base.
var k8sDirs = []struct {
	dir   string
	gpu   bool
	serve bool
}{
	{"k8s/base", false, false},
	{"k8s/overlays/gpu", true, false},
	{"k8s/overlays/example", true, false},
	{"k8s/overlays/external-nats", false, false},
	{"k8s/overlays/serve", false, true},
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expandEnv is what the kubelet runs: a container's command and args with
// $(VAR) replaced by VAR's value from the container's env, a literal or a
// key of a rendered ConfigMap; a reference to anything else (a Secret, an
// undefined name) stays as written. It also returns the env values it
// could resolve.
func expandEnv(c corev1.Container, cms map[string]*corev1.ConfigMap) ([]string, map[string]string, error) {
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm, ok := cms[ref.Name]
			if !ok {
				return nil, nil, fmt.Errorf("env %s: no ConfigMap %q in the build", e.Name, ref.Name)
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				return nil, nil, fmt.Errorf("env %s: ConfigMap %q has no key %q", e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = v
		}
	}
	argv := containerArgv(c)
	for i, a := range argv {
		argv[i] = envRef.ReplaceAllStringFunc(a, func(m string) string {
			if v, ok := env[m[2:len(m)-1]]; ok {
				return v
			}
			return m
		})
	}
	return argv, env, nil
}

// podTemplates are every pod template of a build, by kind/name
// ("Job/fsl-worker").
func (r rendered) podTemplates() map[string]*corev1.PodTemplateSpec {
	out := map[string]*corev1.PodTemplateSpec{}
	for name, j := range r.jobs {
		out["Job/"+name] = &j.Spec.Template
	}
	for name, s := range r.statefulSets {
		out["StatefulSet/"+name] = &s.Spec.Template
	}
	for name, d := range r.deployments {
		out["Deployment/"+name] = &d.Spec.Template
	}
	return out
}

// replicas is a StatefulSet's or Deployment's replicas, 1 when unset (the
// API server's default).
func replicas(n *int32) int32 {
	if n == nil {
		return 1
	}
	return *n
}

// pdbsSelecting are the build's disruption budgets that select the pods of
// tmpl.
func (r rendered) pdbsSelecting(tmpl *corev1.PodTemplateSpec) []*policyv1.PodDisruptionBudget {
	var out []*policyv1.PodDisruptionBudget
	for _, pdb := range r.pdbs {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(tmpl.Labels)) {
			out = append(out, pdb)
		}
	}
	return out
}

// restrictedViolations is what Kubernetes' own Pod Security admission
// (k8s.io/pod-security-admission, level "restricted", latest version) says
// against a pod template; empty when it admits it.
func restrictedViolations(t *testing.T, tmpl *corev1.PodTemplateSpec) []string {
	t.Helper()
	ev, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	var out []string
	for _, r := range ev.EvaluatePod(lv, &tmpl.ObjectMeta, &tmpl.Spec) {
		if !r.Allowed {
			out = append(out, r.ForbiddenReason+" ("+r.ForbiddenDetail+")")
		}
	}
	return out
}

// TestRestrictedCheckRefusesWhatItShould: the Pod Security check the
// manifest test relies on refuses a template without a seccomp profile,
// with privilege escalation, or running as root.
func TestRestrictedCheckRefusesWhatItShould(t *testing.T) {
	base := render(t, "k8s/base").jobs["fsl-worker"]
	if base == nil {
		t.Fatal("no fsl-worker Job in k8s/base")
	}
	for _, tc := range []struct {
		name   string
		break_ func(*corev1.PodTemplateSpec)
	}{
		{"no seccomp profile", func(p *corev1.PodTemplateSpec) { p.Spec.SecurityContext.SeccompProfile = nil }},
		{"privilege escalation", func(p *corev1.PodTemplateSpec) {
			p.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
		}},
		{"root allowed", func(p *corev1.PodTemplateSpec) { p.Spec.SecurityContext.RunAsNonRoot = nil }},
		{"capabilities kept", func(p *corev1.PodTemplateSpec) { p.Spec.Containers[0].SecurityContext.Capabilities = nil }},
	} {
		tmpl := base.Spec.Template.DeepCopy()
		tc.break_(tmpl)
		if len(restrictedViolations(t, tmpl)) == 0 {
			t.Errorf("%s: admitted as restricted", tc.name)
		}
	}
}

func TestKustomizationsRenderARunnableDeployment(t *testing.T) {
	for _, kd := range k8sDirs {
		dir := kd.dir
		t.Run(dir, func(t *testing.T) {
			r := render(t, dir)
			tmpls := r.podTemplates()
			// The workloads, by kind/name. One job: three Jobs. Serve: the
			// coordinator a StatefulSet, pool workers a Deployment, a Job
			// that submits, and none of the one-job Jobs left over.
			coord, workers := "Job/fsl-coordinator", "Job/fsl-worker"
			want := []string{coord, workers, "Job/fsl-eval"}
			if kd.serve {
				coord, workers = "StatefulSet/fsl-coordinator", "Deployment/fsl-worker"
				want = []string{coord, workers, "Job/fsl-submit"}
			}
			if got := slices.Sorted(mapsKeys(tmpls)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
				t.Fatalf("rendered workloads %v, want %v", got, slices.Sorted(slices.Values(want)))
			}

			// The job: one ID, in the ConfigMap, and the spec beside it is
			// one the coordinator accepts.
			cm := r.configMaps["fsl-job"]
			if cm == nil {
				t.Fatal("no fsl-job ConfigMap")
			}
			id := cm.Data["id"]
			if id == "" {
				t.Fatal("ConfigMap fsl-job has no id")
			}
			dec := yaml.NewDecoder(strings.NewReader(cm.Data["job.yaml"]))
			dec.KnownFields(true)
			var spec coordinator.JobSpec
			if err := dec.Decode(&spec); err != nil {
				t.Fatalf("ConfigMap fsl-job job.yaml: %v", err)
			}
			if spec.ID != "" && spec.ID != id {
				t.Errorf("job.yaml id %q, ConfigMap id %q: two job IDs", spec.ID, id)
			}
			spec.ID = id
			if err := spec.WithDefaults().Validate(); err != nil {
				t.Errorf("ConfigMap fsl-job job.yaml: %v", err)
			}

			// Every pod template is admitted by Pod Security "restricted";
			// every container runs one of our binaries with flags it has
			// (after the kubelet's $(VAR) expansion), asks for resources,
			// names a tagged image, serves no pprof, and names no job but
			// the ConfigMap's id.
			ids := map[string]bool{id: true}
			argvs, envs := map[string][]string{}, map[string]map[string]string{}
			for name, tmpl := range tmpls {
				if v := restrictedViolations(t, tmpl); len(v) > 0 {
					t.Errorf("%s: Pod Security \"restricted\" refuses it: %s", name, strings.Join(v, "; "))
				}
				if v, ok := tmpl.Labels["fsl.dev/job"]; ok {
					ids[v] = true
				}
				for _, c := range append(slices.Clone(tmpl.Spec.InitContainers), tmpl.Spec.Containers...) {
					argv, env, err := expandEnv(c, r.configMaps)
					if err != nil {
						t.Errorf("%s container %s: %v", name, c.Name, err)
						continue
					}
					if err := checkArgv(argv); err != nil {
						t.Errorf("%s container %s: %v", name, c.Name, err)
					}
					if slices.Contains(argv, "--pprof") {
						t.Errorf("%s container %s serves pprof: only when asked", name, c.Name)
					}
					if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
						t.Errorf("%s container %s has no cpu and memory requests", name, c.Name)
					}
					if _, tag, ok := strings.Cut(c.Image, ":"); !ok || tag == "" || strings.Contains(c.Image, "example.com") {
						t.Errorf("%s container %s image %q: want a name and tag set by the kustomization's images:", name, c.Name, c.Image)
					}
					if v, ok := env["FSL_JOB"]; ok {
						ids[v] = true
					}
					if v := flagValue(argv, "job"); v != "" {
						ids[v] = true
					}
					// In the one-job layout every container works on the
					// job; in the serve layout none does but the submit
					// Job, which names the job it queues (checked below).
					if !kd.serve && (flagValue(argv, "job") == "" || env["FSL_JOB"] == "") {
						t.Errorf("%s container %s: --job %q, FSL_JOB %q: want both from the ConfigMap's id", name, c.Name, flagValue(argv, "job"), env["FSL_JOB"])
					}
					argvs[name], envs[name] = argv, env
				}
			}
			if len(ids) != 1 {
				t.Errorf("the build names jobs %v, want one (the ConfigMap's id %q)", slices.Sorted(mapsKeys(ids)), id)
			}

			// Coordinator: embedded NATS and HTTP on the Service's ports,
			// probes on the HTTP server, the store on the PVC.
			ct := tmpls[coord]
			cc, ca := ct.Spec.Containers[0], argvs[coord]
			if kd.serve {
				if len(ca) < 2 || ca[1] != "serve" {
					t.Errorf("coordinator %q, want fsl-coord serve", ca)
				}
				// One writer of the store: a StatefulSet of one starts no
				// second pod while the first may still run.
				if n := replicas(r.statefulSets["fsl-coordinator"].Spec.Replicas); n != 1 {
					t.Errorf("coordinator replicas %v, want 1 (bbolt: one writer of the store)", n)
				}
			} else if got := flagValue(ca, "config"); got != "/etc/fsl/job.yaml" || !mountedFromConfigMap(ct, cc, got, r.configMaps) {
				t.Errorf("coordinator --config %q, want the mounted /etc/fsl/job.yaml of a ConfigMap", got)
			}
			svc := r.services["fsl-coordinator"]
			if svc == nil {
				t.Fatal("no fsl-coordinator Service")
			}
			for k, v := range svc.Spec.Selector {
				if ct.Labels[k] != v {
					t.Errorf("Service selector %s=%s does not select the coordinator pod (labels %v)", k, v, ct.Labels)
				}
			}
			// serve and start both serve an open /metrics on the http port
			if svc.Annotations["prometheus.io/scrape"] != "true" || svc.Annotations["prometheus.io/path"] != "/metrics" {
				t.Errorf("Service annotations %v: want Prometheus to scrape the coordinator's /metrics", svc.Annotations)
			}
			svcPort := map[string]int32{}
			for _, p := range svc.Spec.Ports {
				svcPort[p.Name] = p.Port
			}
			external := flagValue(ca, "nats")
			if got := flagValue(ca, "http"); got != fmt.Sprintf("0.0.0.0:%d", svcPort["http"]) {
				t.Errorf("coordinator --http %q, want 0.0.0.0:%d (the Service's http port)", got, svcPort["http"])
			}
			if got := flagValue(ca, "listen"); external == "" && got != fmt.Sprintf("0.0.0.0:%d", svcPort["nats"]) {
				t.Errorf("coordinator --listen %q, want 0.0.0.0:%d (the Service's nats port)", got, svcPort["nats"])
			}
			if p := cc.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "http" {
				t.Errorf("coordinator liveness probe %+v, want GET /healthz on the http port", p)
			}
			if p := cc.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
				t.Errorf("coordinator readiness probe %+v, want GET /readyz", p)
			}
			if db := flagValue(ca, "db"); !mountedFromPVC(ct, cc, db, r.pvcs) {
				t.Errorf("coordinator --db %q is not on a mounted PersistentVolumeClaim", db)
			}

			if kd.serve {
				// Submitting: fsl-coord submit of the ConfigMap's mounted
				// job.yaml, named by its id, to the coordinator's Service.
				st, sa := tmpls["Job/fsl-submit"], argvs["Job/fsl-submit"]
				set, err := parseArgv(sa)
				if err != nil || len(sa) < 2 || sa[1] != "submit" || set.NArg() != 1 ||
					!mountedFromConfigMap(st, st.Spec.Containers[0], set.Arg(0), r.configMaps) {
					t.Errorf("submit Job %q, want fsl-coord submit FILE with FILE the mounted job.yaml of a ConfigMap", sa)
				}
				if got := flagValue(sa, "name"); got != id {
					t.Errorf("submit --name %q, want the ConfigMap's id %q (FSL_JOB)", got, id)
				}
				if got := flagValue(sa, "nats"); got != flagValue(argvs[workers], "nats") {
					t.Errorf("submit --nats %q, workers --nats %q: want the coordinator both", got, flagValue(argvs[workers], "nats"))
				}
			} else {
				// Evaluation: starts with the others and waits for the
				// training to be done in the same store.
				et, ea := tmpls["Job/fsl-eval"], argvs["Job/fsl-eval"]
				if db := flagValue(ea, "db"); db != flagValue(ca, "db") || !mountedFromPVC(et, et.Spec.Containers[0], db, r.pvcs) {
					t.Errorf("eval --db %q is not the coordinator's store on a mounted PersistentVolumeClaim", db)
				}
				if ev := r.jobs["fsl-eval"]; ev.Spec.Suspend != nil && *ev.Spec.Suspend {
					t.Errorf("the eval Job is suspended: it must start by itself")
				}
				if w, err := time.ParseDuration(flagValue(ea, "wait")); err != nil || w < time.Hour {
					t.Errorf("eval --wait %q: want it to wait (hours) for the training to finish", flagValue(ea, "wait"))
				}
			}

			// Workers: peers pointed at the Service; GPUs only in the GPU
			// builds.
			ws := tmpls[workers].Spec
			wc, wa := ws.Containers[0], argvs[workers]
			q, hasGPU := wc.Resources.Limits["nvidia.com/gpu"]
			tolerated := slices.ContainsFunc(ws.Tolerations, func(tl corev1.Toleration) bool { return tl.Key == "nvidia.com/gpu" })
			if kd.gpu {
				if !hasGPU || q.Value() != 1 || flagValue(wa, "gpu") != "0" || len(ws.NodeSelector) == 0 || !tolerated {
					t.Errorf("GPU workers: limits %v, --gpu %q, nodeSelector %v, tolerations %v: want one nvidia.com/gpu, --gpu 0, GPU nodes and their taint tolerated",
						wc.Resources.Limits, flagValue(wa, "gpu"), ws.NodeSelector, ws.Tolerations)
				}
			} else if hasGPU || flagValue(wa, "gpu") != "-1" || tolerated {
				t.Errorf("CPU workers: limits %v, --gpu %q, tolerations %v: want no GPU", wc.Resources.Limits, flagValue(wa, "gpu"), ws.Tolerations)
			}
			if kd.serve {
				// Pool workers: no job of their own (--job reads FSL_JOB
				// too), a pool that kubectl scale sizes, and no giving up:
				// the Deployment would restart a worker that gave up into
				// the same wait for the coordinator.
				if slices.ContainsFunc(wa, func(a string) bool { return a == "--job" || strings.HasPrefix(a, "--job=") }) || envs[workers]["FSL_JOB"] != "" ||
					slices.ContainsFunc(wc.Env, func(e corev1.EnvVar) bool { return e.Name == "FSL_JOB" }) {
					t.Errorf("pool workers %q with env FSL_JOB %q: want neither --job nor FSL_JOB", wa, envs[workers]["FSL_JOB"])
				}
				if err := isPoolWorker(wa); err != nil {
					t.Errorf("%s: %v", workers, err)
				}
				if n := replicas(r.deployments["fsl-worker"].Spec.Replicas); n < 2 {
					t.Errorf("worker Deployment replicas %v, want N >= 2", n)
				}
				if d, err := time.ParseDuration(flagValue(wa, "give-up-after")); err != nil || d != 0 {
					t.Errorf("pool worker --give-up-after %q: want 0 (a Deployment restarts a worker that gave up)", flagValue(wa, "give-up-after"))
				}
			} else {
				wj := r.jobs["fsl-worker"]
				if p := wj.Spec.Parallelism; p == nil || *p < 2 || wj.Spec.Completions != nil {
					t.Errorf("worker Job parallelism %v completions %v, want N >= 2 peers and no completions", p, wj.Spec.Completions)
				}
				if d, err := time.ParseDuration(flagValue(wa, "give-up-after")); err != nil || d <= 0 {
					t.Errorf("worker --give-up-after %q: want workers to give up on a coordinator gone for good", flagValue(wa, "give-up-after"))
				}
				// A worker that gave up fails the Job, which ends the
				// others, rather than being restarted to wait again.
				failsJob := wj.Spec.PodFailurePolicy != nil && slices.ContainsFunc(wj.Spec.PodFailurePolicy.Rules, func(r batchv1.PodFailurePolicyRule) bool {
					return r.Action == batchv1.PodFailurePolicyActionFailJob && r.OnExitCodes != nil &&
						r.OnExitCodes.ContainerName != nil && *r.OnExitCodes.ContainerName == wc.Name &&
						r.OnExitCodes.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && slices.Contains(r.OnExitCodes.Values, exitGaveUp)
				})
				if !failsJob || ws.RestartPolicy != corev1.RestartPolicyNever {
					t.Errorf("worker Job: restartPolicy %s, podFailurePolicy %+v: want Never and FailJob on exit status %d (gave up)",
						ws.RestartPolicy, wj.Spec.PodFailurePolicy, exitGaveUp)
				}
			}
			// Workers reach the coordinator's NATS: its embedded server
			// through the Service, or the same external cluster.
			if external != "" {
				if got := flagValue(wa, "nats"); got != external {
					t.Errorf("worker --nats %q, coordinator --nats %q: not the same cluster", got, external)
				}
			} else {
				u, err := url.Parse(flagValue(wa, "nats"))
				if err != nil || u.Scheme != "nats" || u.Hostname() != svc.Name || u.Port() != strconv.Itoa(int(svcPort["nats"])) {
					t.Errorf("worker --nats %q, want nats://%s:%d", flagValue(wa, "nats"), svc.Name, svcPort["nats"])
				}
			}

			// Disruption budgets. One job: the coordinator and the workers
			// each have one, with an integer minAvailable (Jobs have no
			// scale subresource, so maxUnavailable and percentages do not
			// work). Serve: the worker Deployment has one; the coordinator,
			// one pod that runs for good, none (it would block drains
			// forever; a moved coordinator resumes its jobs).
			budgeted := []string{coord, workers}
			if kd.serve {
				budgeted = []string{workers}
				if pdbs := r.pdbsSelecting(tmpls[coord]); len(pdbs) > 0 {
					t.Errorf("PodDisruptionBudget %s selects the serving coordinator: a drain would wait forever", pdbs[0].Name)
				}
			}
			for _, w := range budgeted {
				pdbs := r.pdbsSelecting(tmpls[w])
				if len(pdbs) == 0 {
					t.Errorf("no PodDisruptionBudget selects the pods of %s (labels %v)", w, tmpls[w].Labels)
				}
				for _, pdb := range pdbs {
					if m := pdb.Spec.MinAvailable; strings.HasPrefix(w, "Job/") && (pdb.Spec.MaxUnavailable != nil || m == nil || m.Type != 0 || m.IntValue() < 1) {
						t.Errorf("PodDisruptionBudget %s: minAvailable %v maxUnavailable %v, want an integer minAvailable >= 1 only",
							pdb.Name, m, pdb.Spec.MaxUnavailable)
					}
				}
			}

			// The token: every container that talks to NATS reads
			// FSL_TOKEN from a Secret, which the example overlay generates
			// (the others leave it to you).
			talkers := []string{coord, workers}
			if kd.serve {
				talkers = append(talkers, "Job/fsl-submit")
			}
			for _, w := range talkers {
				ref := tokenSecret(tmpls[w].Spec.Containers[0])
				if ref == nil {
					t.Errorf("%s: no FSL_TOKEN from a Secret", w)
					continue
				}
				if s, ok := r.secrets[ref.Name]; dir == "k8s/overlays/example" && (!ok || len(s.Data[ref.Key])+len(s.StringData[ref.Key]) == 0) {
					t.Errorf("%s reads FSL_TOKEN from secret %s key %s, which the build does not produce", w, ref.Name, ref.Key)
				}
			}
		})
	}
}

// TestManifestsNameTheJobAndImagesOnce: the job ID and each image name are
// written once in k8s/ (the base's ConfigMap literal and images: blocks);
// manifests use placeholders.
func TestManifestsNameTheJobAndImagesOnce(t *testing.T) {
	r := render(t, "k8s/base")
	id := r.configMaps["fsl-job"].Data["id"]
	var idFiles []string
	images := map[string][]string{}
	err := filepath.WalkDir(filepath.Join(repoRoot, "k8s"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".yaml" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(id)) {
			idFiles = append(idFiles, path)
		}
		for _, m := range regexp.MustCompile(`(?m)^\s*(?:-\s*)?(?:image|newName):\s*(\S+)`).FindAllSubmatch(b, -1) {
			images[string(m[1])] = append(images[string(m[1])], path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(idFiles) != 1 || filepath.Base(idFiles[0]) != "kustomization.yaml" {
		t.Errorf("job ID %q written in %v, want once, in the base kustomization", id, idFiles)
	}
	for img, where := range images {
		if strings.ContainsAny(img, ":/") {
			t.Errorf("image %q in %v: manifests name images by placeholder, images: blocks set name and tag", img, where)
		}
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// mountedFromPVC reports whether path lies under a mount of a volume that
// is an existing PersistentVolumeClaim.
func mountedFromPVC(tmpl *corev1.PodTemplateSpec, c corev1.Container, path string, pvcs map[string]*corev1.PersistentVolumeClaim) bool {
	for _, m := range c.VolumeMounts {
		if !strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/") {
			continue
		}
		for _, v := range tmpl.Spec.Volumes {
			if v.Name == m.Name && v.PersistentVolumeClaim != nil && pvcs[v.PersistentVolumeClaim.ClaimName] != nil {
				return true
			}
		}
	}
	return false
}

// mountedFromConfigMap reports whether path is a file of a rendered
// ConfigMap mounted whole (no items) into c.
func mountedFromConfigMap(tmpl *corev1.PodTemplateSpec, c corev1.Container, path string, cms map[string]*corev1.ConfigMap) bool {
	for _, m := range c.VolumeMounts {
		if filepath.Dir(path) != filepath.Clean(m.MountPath) {
			continue
		}
		for _, v := range tmpl.Spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil || len(v.ConfigMap.Items) > 0 || cms[v.ConfigMap.Name] == nil {
				continue
			}
			if _, ok := cms[v.ConfigMap.Name].Data[filepath.Base(path)]; ok {
				return true
			}
		}
	}
	return false
}

func tokenSecret(c corev1.Container) *corev1.SecretKeySelector {
	for _, e := range c.Env {
		if e.Name == "FSL_TOKEN" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			return e.ValueFrom.SecretKeyRef
		}
	}
	return nil
}

// dockerfile is what the tests need of a Dockerfile.
type dockerfile struct {
	args       map[string]string // ARG defaults before the first FROM
	stages     []string          // stage names (or images) in order
	builds     map[string]string // go build output path -> package
	copied     []string          // sources of COPY --from in the last stage
	user       string            // USER of the last stage
	entrypoint []string          // of the last stage, exec form
	cmd        []string
	health     []string            // HEALTHCHECK CMD of the last stage, exec form
	volumes    []string            // VOLUME instructions of any stage
	runs       map[string][]string // RUN instructions per stage
	first      string              // the file's first line
}

// parseDockerfile reads the instructions we use (continuations joined).
func parseDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if s, ok := strings.CutSuffix(l, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(l)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	df := dockerfile{args: map[string]string{}, builds: map[string]string{}, runs: map[string][]string{}}
	df.first, _, _ = strings.Cut(string(b), "\n")
	execForm := func(instr, rest string) []string {
		var v []string
		if err := json.Unmarshal([]byte(rest), &v); err != nil {
			t.Errorf("%s %s: use the exec (JSON) form: %v", instr, rest, err)
		}
		return v
	}
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "ARG":
			if len(df.stages) == 0 {
				k, v, _ := strings.Cut(rest, "=")
				df.args[k] = v
			}
		case "FROM":
			f := strings.Fields(rest)
			name := f[0]
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				name = f[2]
			}
			df.stages = append(df.stages, name)
			df.copied, df.user, df.entrypoint, df.cmd, df.health = nil, "", nil, nil, nil
		case "VOLUME":
			df.volumes = append(df.volumes, rest)
		case "HEALTHCHECK":
			_, cmd, ok := strings.Cut(rest, "CMD ")
			if !ok {
				t.Errorf("HEALTHCHECK %s: want CMD in exec form", rest)
				break
			}
			df.health = execForm(instr, strings.TrimSpace(cmd))
		case "RUN":
			stage := df.stages[len(df.stages)-1]
			df.runs[stage] = append(df.runs[stage], rest)
			for _, sh := range regexp.MustCompile(`&&|;`).Split(rest, -1) {
				f := strings.Fields(sh)
				i := slices.Index(f, "go")
				if i < 0 || i+1 >= len(f) || f[i+1] != "build" {
					continue
				}
				out := ""
				for j := i + 2; j < len(f); j++ {
					if f[j] == "-o" && j+1 < len(f) {
						out = f[j+1]
					}
				}
				df.builds[out] = f[len(f)-1]
			}
		case "COPY":
			f := strings.Fields(rest)
			if len(f) > 2 && strings.HasPrefix(f[0], "--from=") {
				df.copied = append(df.copied, f[1:len(f)-1]...)
			}
		case "USER":
			df.user = rest
		case "ENTRYPOINT":
			df.entrypoint = execForm(instr, rest)
		case "CMD":
			df.cmd = execForm(instr, rest)
		}
	}
	return df
}

func TestDockerfileBuildsAndRunsOurBinaries(t *testing.T) {
	df := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))

	// Every go build compiles a main package of ours into a file named
	// after it, and the final stage copies each of them.
	if len(df.builds) < 2 {
		t.Fatalf("Dockerfile builds %v, want fsl-coord and fsl-worker", df.builds)
	}
	built := map[string]bool{}
	for out, pkg := range df.builds {
		src, err := os.ReadFile(filepath.Join(repoRoot, pkg, "main.go"))
		if err != nil || !bytes.Contains(src, []byte("package main")) {
			t.Errorf("go build %s: not a main package of this repository (%v)", pkg, err)
		}
		if filepath.Base(out) != filepath.Base(pkg) {
			t.Errorf("go build -o %s %s: the binary should be named after its command", out, pkg)
		}
		if !slices.Contains(df.copied, out) {
			t.Errorf("%s is built but the final stage does not copy it (copies %v)", out, df.copied)
		}
		built[filepath.Base(out)] = true
	}
	if !built["fsl-coord"] || !built["fsl-worker"] {
		t.Errorf("built %v, want fsl-coord and fsl-worker", built)
	}
	// The build context has no .git: the image can say what it holds only
	// if the build writes the revision and version it is given into the
	// binaries (--version, fsl_build_info).
	raw, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ARG REVISION", "ARG VERSION", "-X github.com/fsl-project/fsl/cli.Revision=${REVISION}",
		"-X github.com/fsl-project/fsl/cli.Version=${VERSION}"} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("Dockerfile lacks %q: an image could not say which revision it holds", want)
		}
	}

	// The default target runs as non-root, our binary, with flags it has.
	if last := df.stages[len(df.stages)-1]; last != "cpu" {
		t.Errorf("last (default) stage is %q, want cpu", last)
	}
	if df.user == "" || df.user == "root" || strings.HasPrefix(df.user, "0") {
		t.Errorf("final USER %q, want a non-root uid", df.user)
	}
	if len(df.entrypoint) == 0 || !built[df.entrypoint[0]] {
		t.Fatalf("ENTRYPOINT %q does not run a built binary", df.entrypoint)
	}
	if err := checkArgv(append(slices.Clone(df.entrypoint), df.cmd...)); err != nil {
		t.Errorf("ENTRYPOINT + CMD: %v", err)
	}
	if len(df.health) == 0 {
		t.Errorf("no HEALTHCHECK in the final stage")
	} else if err := checkArgv(df.health); err != nil {
		t.Errorf("HEALTHCHECK: %v", err)
	}

	// It builds where users build: no frontend fetched from a registry
	// (# syntax=), nothing that needs BuildKit (RUN --mount), and no
	// anonymous volume left behind by every container.
	if strings.HasPrefix(strings.ReplaceAll(df.first, " ", ""), "#syntax=") {
		t.Errorf("first line %q fetches a BuildKit frontend from a registry", df.first)
	}
	for stage, runs := range df.runs {
		for _, r := range runs {
			if strings.HasPrefix(r, "--") {
				t.Errorf("stage %s: RUN %s needs BuildKit", stage, r)
			}
		}
	}
	if len(df.volumes) > 0 {
		t.Errorf("VOLUME %v: every container, workers too, gets an anonymous volume", df.volumes)
	}
	// OpenBLAS is opened at run time (model/cpu/blas_cgo.go): the runtime
	// stage installs the library, the build stage needs no -dev package.
	if !slices.ContainsFunc(df.runs["cpu"], func(r string) bool { return strings.Contains(r, "libopenblas0") }) {
		t.Errorf("the cpu stage does not install libopenblas0: %v", df.runs["cpu"])
	}
	if slices.ContainsFunc(df.runs["build"], func(r string) bool { return strings.Contains(r, "libopenblas-dev") }) {
		t.Errorf("the build stage installs libopenblas-dev, which the build does not use")
	}

	// The Go image is the go directive's release.
	mod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	if m == nil || df.args["GO_VERSION"] != string(m[1]) {
		t.Errorf("Dockerfile GO_VERSION %q, go.mod says go %s", df.args["GO_VERSION"], m[1])
	}
}

// composeFile is what the test needs of docker-compose.yml.
type composeFile struct {
	Services map[string]struct {
		Image       string   `yaml:"image"`
		Entrypoint  []string `yaml:"entrypoint"`
		Command     []string `yaml:"command"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Deploy      struct {
			Replicas int `yaml:"replicas"`
		} `yaml:"deploy"`
	} `yaml:"services"`
}

// composeFiles are the compose files at the repository root, and whether
// each is the serve layout (fsl-coord serve and pool workers) rather than
// one job.
var composeFiles = []struct {
	file  string
	serve bool
}{
	{"docker-compose.yml", false},
	{"docker-compose.serve.yml", true},
}

// composeRun matches the `docker compose [-f FILE] run --rm [-T] SERVICE
// ARGS` commands a compose file's comments document, up to a redirection
// or comment.
var composeRun = regexp.MustCompile(`(?m)^#.*\bdocker compose (?:-f (\S+) )?run --rm (?:-T )?([\w-]+) ([^<#\n]*)`)

func TestComposeCommandsUseOurFlags(t *testing.T) {
	df := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	for _, f := range composeFiles {
		t.Run(f.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(repoRoot, f.file))
			if err != nil {
				t.Fatal(err)
			}
			var cf composeFile
			if err := yaml.Unmarshal(b, &cf); err != nil {
				t.Fatalf("%s (commands must be lists): %v", f.file, err)
			}
			coord, ok := cf.Services["coordinator"]
			worker, ok2 := cf.Services["worker"]
			if !ok || !ok2 {
				t.Fatalf("services %v, want coordinator and worker", slices.Sorted(mapsKeys(cf.Services)))
			}
			entrypoint := func(name string) []string {
				if e := cf.Services[name].Entrypoint; e != nil {
					return e
				}
				return df.entrypoint // the image's
			}
			for name, s := range cf.Services {
				if err := checkArgv(append(slices.Clone(entrypoint(name)), s.Command...)); err != nil {
					t.Errorf("service %s: %v", name, err)
				}
				if hc := s.Healthcheck.Test; len(hc) > 1 {
					if err := checkArgv(hc[1:]); err != nil {
						t.Errorf("service %s healthcheck: %v", name, err)
					}
				}
				if s.Environment["FSL_TOKEN"] == "" {
					t.Errorf("service %s has no FSL_TOKEN", name)
				}
				// No default secret: a token comes from the environment or
				// compose refuses to start (${VAR:?message}).
				for k, v := range s.Environment {
					if strings.HasSuffix(k, "TOKEN") && !regexp.MustCompile(`^\$\{`+k+`:\?[^}]+\}$`).MatchString(v) {
						t.Errorf("service %s: %s=%q, want ${%s:?message} (no default secret)", name, k, v, k)
					}
				}
				if slices.Contains(s.Command, "--pprof") {
					t.Errorf("service %s serves pprof: only when asked", name)
				}
			}
			if worker.Deploy.Replicas != 2 {
				t.Errorf("worker replicas %d, want 2", worker.Deploy.Replicas)
			}
			if f.serve {
				// A queue: serve, and pool workers with no job of their own
				// (--job reads FSL_JOB too) that wait for the coordinator
				// however long it is away.
				if len(coord.Command) == 0 || coord.Command[0] != "serve" {
					t.Errorf("coordinator command %q, want serve", coord.Command)
				}
				if got := flagValue(worker.Command, "job"); got != "" || worker.Environment["FSL_JOB"] != "" {
					t.Errorf("worker --job %q, FSL_JOB %q: want a pool worker (neither)", got, worker.Environment["FSL_JOB"])
				}
				if err := isPoolWorker(append(slices.Clone(entrypoint("worker")), worker.Command...)); err != nil {
					t.Errorf("worker: %v", err)
				}
				if d, err := time.ParseDuration(flagValue(worker.Command, "give-up-after")); err != nil || d != 0 {
					t.Errorf("worker --give-up-after %q: want 0 (restart would only start the wait again)", flagValue(worker.Command, "give-up-after"))
				}
			} else if got := flagValue(worker.Command, "job"); got != flagValue(coord.Command, "job") || got == "" {
				t.Errorf("worker --job %q, coordinator --job %q", got, flagValue(coord.Command, "job"))
			}
			if got := flagValue(worker.Command, "nats"); got != "nats://coordinator:4222" || flagValue(coord.Command, "listen") != "0.0.0.0:4222" {
				t.Errorf("worker --nats %q, coordinator --listen %q: workers must reach the embedded server", got, flagValue(coord.Command, "listen"))
			}
			if h := flagValue(coord.Command, "http"); !strings.HasSuffix(h, ":8080") || !slices.ContainsFunc(coord.Ports, func(p string) bool { return strings.HasPrefix(p, "8080:8080") }) {
				t.Errorf("coordinator --http %q and ports %v: the dashboard must be published", h, coord.Ports)
			}

			// The commands its comments document run our binaries with
			// flags they have, on this file's services (a command without
			// -f would run docker-compose.yml's), and reach the
			// coordinator where the workers do.
			var submits int
			for _, m := range composeRun.FindAllStringSubmatch(string(b), -1) {
				file, service, args := m[1], m[2], strings.Fields(m[3])
				if file != f.file && (file != "" || f.file != "docker-compose.yml") {
					t.Errorf("documented %q: -f %q, want this file, %s", strings.TrimSpace(m[0]), file, f.file)
				}
				if _, ok := cf.Services[service]; !ok {
					t.Errorf("documented %q: no service %q", strings.TrimSpace(m[0]), service)
					continue
				}
				if err := checkArgv(append(slices.Clone(entrypoint(service)), args...)); err != nil {
					t.Errorf("documented %q: %v", strings.TrimSpace(m[0]), err)
				}
				if nats := flagValue(args, "nats"); nats != "" && nats != flagValue(worker.Command, "nats") {
					t.Errorf("documented %q: --nats %q, the workers' %q", strings.TrimSpace(m[0]), nats, flagValue(worker.Command, "nats"))
				}
				if len(args) > 0 && args[0] == "submit" {
					submits++
				}
			}
			if f.serve && submits == 0 {
				t.Errorf("%s documents no run ... submit: how are jobs queued?", f.file)
			}
		})
	}
}

// TestDocumentedCommandsUseOurFlags: every fsl-coord and fsl-worker
// command the documents show parses with our flags, under their current
// names: in code blocks (alone, after "go run ./cmd/...", environment
// assignments or kubectl's "--", continued over lines ending in "\\"), in
// inline code, and in the job files' comments.
func TestDocumentedCommandsUseOurFlags(t *testing.T) {
	docs, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	examples, err := filepath.Glob(filepath.Join(repoRoot, "examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, examples...)
	for _, f := range []string{"README.md", "SECURITY.md", "ARCHITECTURE.md", "k8s/README.md", "runs/README.md"} {
		docs = append(docs, filepath.Join(repoRoot, f))
	}
	ours := regexp.MustCompile(`(?:^|kubectl .* -- |^(?:[A-Z_]+=\S+ )+|go run \./cmd/)(fsl-(?:coord|worker)\b.*)`)
	inline := regexp.MustCompile("`((?:go run \\./cmd/)?fsl-(?:coord|worker) [^`]*)`")
	upper := regexp.MustCompile(`^[A-Z]+$`)
	perFile := map[string]int{}
	check := func(doc, cmd string) {
		cmd, _, _ = strings.Cut(cmd, "#")
		cmd, _, _ = strings.Cut(cmd, "<")
		cmd, _, _ = strings.Cut(cmd, "|")
		cmd, _, _ = strings.Cut(cmd, ">")
		cmd, _, _ = strings.Cut(cmd, "&&")
		argv := strings.Fields(strings.TrimPrefix(cmd, "go run ./cmd/"))
		// Placeholders (W, FILE, ...), shell and Kubernetes variables stand
		// for values; --version and --help need no command; an inline
		// mention of one flag ("fsl-coord eval --nats") is not a command.
		placeholder := slices.ContainsFunc(argv, func(a string) bool {
			return upper.MatchString(a) || strings.Contains(a, "$(")
		})
		if len(argv) < 2 || placeholder || strings.Contains(cmd, "...") || strings.Contains(cmd, "[") ||
			slices.Contains(argv, "--version") || slices.Contains(argv, "--help") {
			return
		}
		err := checkArgv(argv)
		if mention := len(argv) == 3 && strings.HasPrefix(argv[2], "--"); mention && err != nil && strings.Contains(err.Error(), "needs an argument") {
			return
		}
		perFile[doc]++
		if err != nil {
			t.Errorf("%s: %q: %v", doc, strings.Join(argv, " "), err)
		}
	}
	for _, path := range docs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := filepath.Rel(repoRoot, path)
		yaml := strings.HasSuffix(path, ".yaml")
		inCode := yaml
		lines := strings.Split(string(b), "\n")
		for i := 0; i < len(lines); i++ {
			line := lines[i]
			if yaml {
				var ok bool
				if line, ok = strings.CutPrefix(strings.TrimSpace(line), "#"); !ok {
					continue
				}
			}
			if strings.HasPrefix(line, "```") {
				inCode = !inCode
				continue
			}
			if !inCode {
				for _, m := range inline.FindAllStringSubmatch(line, -1) {
					check(doc, m[1])
				}
				continue
			}
			m := ours.FindStringSubmatch(strings.TrimSpace(line))
			if m == nil {
				continue
			}
			cmd := m[1]
			for strings.HasSuffix(strings.TrimSpace(cmd), "\\") && i+1 < len(lines) {
				i++
				next := lines[i]
				if yaml {
					next = strings.TrimPrefix(strings.TrimSpace(next), "#")
				}
				cmd = strings.TrimSuffix(strings.TrimSpace(cmd), "\\") + " " + next
			}
			check(doc, cmd)
		}
		if inCode && !yaml {
			t.Errorf("%s: a code fence is never closed: everything after it renders as code", doc)
		}
	}
	for _, doc := range []string{"README.md", "k8s/README.md", "docs/RESULTS.md"} {
		if perFile[doc] < 5 {
			t.Errorf("%s: %d fsl-coord or fsl-worker commands found, want its examples (the parser missed them)", doc, perFile[doc])
		}
	}
	t.Logf("commands checked per document: %v", perFile)
}
