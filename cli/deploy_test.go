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

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	if len(argv) == 0 {
		return errors.New("empty command")
	}
	var app *cli.App
	switch filepath.Base(argv[0]) {
	case "fsl-coord":
		app = NewCoordApp()
	case "fsl-worker":
		app = NewWorkerApp()
	default:
		return fmt.Errorf("%q is not one of our binaries (fsl-coord, fsl-worker)", argv[0])
	}
	path, flags, cmds, args := app.Name, app.Flags, app.Commands, argv[1:]
	hasAction := app.Action != nil
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") && len(cmds) > 0 {
		i := slices.IndexFunc(cmds, func(c *cli.Command) bool { return c.HasName(args[0]) })
		if i < 0 {
			return fmt.Errorf("%s has no command %q", path, args[0])
		}
		c := cmds[i]
		path, flags, cmds, args, hasAction = path+" "+c.Name, c.Flags, c.Subcommands, args[1:], c.Action != nil
	}
	if !hasAction {
		return fmt.Errorf("%q names no runnable command", strings.Join(argv, " "))
	}
	set := flag.NewFlagSet(path, flag.ContinueOnError)
	set.SetOutput(io.Discard)
	for _, f := range flags {
		if err := f.Apply(set); err != nil {
			return fmt.Errorf("%s: flag %v: %w", path, f.Names(), err)
		}
	}
	if err := set.Parse(args); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if set.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", path, set.Args())
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

func TestEveryManifestDecodesStrictly(t *testing.T) {
	var manifests, kustomizations int
	err := filepath.WalkDir(filepath.Join(repoRoot, "k8s"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || (filepath.Ext(path) != ".yaml" && filepath.Ext(path) != ".yml") {
			return err
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
	jobs       map[string]*batchv1.Job
	services   map[string]*corev1.Service
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	pvcs       map[string]*corev1.PersistentVolumeClaim
}

func render(t *testing.T, dir string) rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot, dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	r := rendered{map[string]*batchv1.Job{}, map[string]*corev1.Service{}, map[string]*corev1.ConfigMap{},
		map[string]*corev1.Secret{}, map[string]*corev1.PersistentVolumeClaim{}}
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
		case *corev1.Service:
			r.services[o.Name] = o
		case *corev1.ConfigMap:
			r.configMaps[o.Name] = o
		case *corev1.Secret:
			r.secrets[o.Name] = o
		case *corev1.PersistentVolumeClaim:
			r.pvcs[o.Name] = o
		}
	}
	return r
}

// containerArgv is a container's command followed by its args.
func containerArgv(c corev1.Container) []string { return append(slices.Clone(c.Command), c.Args...) }

func TestKustomizationsRenderARunnableDeployment(t *testing.T) {
	for _, dir := range []string{"k8s/base", "k8s/overlays/example", "k8s/overlays/external-nats"} {
		t.Run(dir, func(t *testing.T) {
			r := render(t, dir)
			coord, workers, ev := r.jobs["fsl-coordinator"], r.jobs["fsl-worker"], r.jobs["fsl-eval"]
			if coord == nil || workers == nil || ev == nil {
				t.Fatalf("rendered jobs %v, want fsl-coordinator, fsl-worker and fsl-eval", slices.Sorted(mapsKeys(r.jobs)))
			}

			// Every container runs one of our binaries with flags it has,
			// and asks for resources.
			for _, j := range r.jobs {
				for _, c := range j.Spec.Template.Spec.Containers {
					if err := checkArgv(containerArgv(c)); err != nil {
						t.Errorf("job %s container %s: %v", j.Name, c.Name, err)
					}
					if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
						t.Errorf("job %s container %s has no cpu and memory requests", j.Name, c.Name)
					}
					if c.Image == "" {
						t.Errorf("job %s container %s has no image", j.Name, c.Name)
					}
				}
			}

			// The job spec in the ConfigMap is one the coordinator accepts,
			// and every Job works on that job ID.
			cc := coord.Spec.Template.Spec.Containers[0]
			cm := r.configMaps["fsl-job"]
			if cm == nil {
				t.Fatal("no fsl-job ConfigMap")
			}
			if got := flagValue(cc.Args, "config"); got != "/etc/fsl/job.yaml" {
				t.Errorf("coordinator --config %q, want the mounted /etc/fsl/job.yaml", got)
			}
			dec := yaml.NewDecoder(strings.NewReader(cm.Data["job.yaml"]))
			dec.KnownFields(true)
			var spec coordinator.JobSpec
			if err := dec.Decode(&spec); err != nil {
				t.Fatalf("ConfigMap fsl-job job.yaml: %v", err)
			}
			if err := spec.WithDefaults().Validate(); err != nil {
				t.Errorf("ConfigMap fsl-job job.yaml: %v", err)
			}
			for _, j := range []*batchv1.Job{workers, ev} {
				if got := flagValue(j.Spec.Template.Spec.Containers[0].Args, "job"); got != spec.ID {
					t.Errorf("job %s works on --job %q, the ConfigMap's job is %q", j.Name, got, spec.ID)
				}
			}

			// Coordinator: embedded NATS and HTTP on the Service's ports,
			// probes on the HTTP server, the store on the PVC.
			svc := r.services["fsl-coordinator"]
			if svc == nil {
				t.Fatal("no fsl-coordinator Service")
			}
			for k, v := range svc.Spec.Selector {
				if coord.Spec.Template.Labels[k] != v {
					t.Errorf("Service selector %s=%s does not select the coordinator pod (labels %v)", k, v, coord.Spec.Template.Labels)
				}
			}
			svcPort := map[string]int32{}
			for _, p := range svc.Spec.Ports {
				svcPort[p.Name] = p.Port
			}
			external := flagValue(cc.Args, "nats")
			if got := flagValue(cc.Args, "http"); got != fmt.Sprintf("0.0.0.0:%d", svcPort["http"]) {
				t.Errorf("coordinator --http %q, want 0.0.0.0:%d (the Service's http port)", got, svcPort["http"])
			}
			if got := flagValue(cc.Args, "listen"); external == "" && got != fmt.Sprintf("0.0.0.0:%d", svcPort["nats"]) {
				t.Errorf("coordinator --listen %q, want 0.0.0.0:%d (the Service's nats port)", got, svcPort["nats"])
			}
			if p := cc.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "http" {
				t.Errorf("coordinator liveness probe %+v, want GET /healthz on the http port", p)
			}
			if p := cc.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
				t.Errorf("coordinator readiness probe %+v, want GET /readyz", p)
			}
			if db := flagValue(cc.Args, "db"); !mountedFromPVC(coord, cc, db, r.pvcs) {
				t.Errorf("coordinator --db %q is not on a mounted PersistentVolumeClaim", db)
			}
			if db := flagValue(ev.Spec.Template.Spec.Containers[0].Args, "db"); !mountedFromPVC(ev, ev.Spec.Template.Spec.Containers[0], db, r.pvcs) {
				t.Errorf("eval --db %q is not on a mounted PersistentVolumeClaim", db)
			}

			// Workers: one GPU each, parallel, pointed at the Service.
			wc := workers.Spec.Template.Spec.Containers[0]
			if q, ok := wc.Resources.Limits["nvidia.com/gpu"]; !ok || q.Value() != 1 {
				t.Errorf("worker limits %v, want nvidia.com/gpu: 1", wc.Resources.Limits)
			}
			if flagValue(wc.Args, "gpu") != "0" {
				t.Errorf("worker --gpu %q, want 0", flagValue(wc.Args, "gpu"))
			}
			if p := workers.Spec.Parallelism; p == nil || *p < 2 || workers.Spec.Completions != nil {
				t.Errorf("worker Job parallelism %v completions %v, want N >= 2 peers and no completions", p, workers.Spec.Completions)
			}
			// Workers reach the coordinator's NATS: its embedded server
			// through the Service, or the same external cluster.
			if external != "" {
				if got := flagValue(wc.Args, "nats"); got != external {
					t.Errorf("worker --nats %q, coordinator --nats %q: not the same cluster", got, external)
				}
			} else {
				u, err := url.Parse(flagValue(wc.Args, "nats"))
				if err != nil || u.Scheme != "nats" || u.Hostname() != svc.Name || u.Port() != strconv.Itoa(int(svcPort["nats"])) {
					t.Errorf("worker --nats %q, want nats://%s:%d", flagValue(wc.Args, "nats"), svc.Name, svcPort["nats"])
				}
			}

			// The token: both binaries read FSL_TOKEN from a Secret, which
			// the example overlay generates (the others leave it to you).
			for _, j := range []*batchv1.Job{coord, workers} {
				ref := tokenSecret(j.Spec.Template.Spec.Containers[0])
				if ref == nil {
					t.Errorf("job %s: no FSL_TOKEN from a Secret", j.Name)
					continue
				}
				if s, ok := r.secrets[ref.Name]; dir == "k8s/overlays/example" && (!ok || len(s.Data[ref.Key])+len(s.StringData[ref.Key]) == 0) {
					t.Errorf("job %s reads FSL_TOKEN from secret %s key %s, which the build does not produce", j.Name, ref.Name, ref.Key)
				}
			}
		})
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
func mountedFromPVC(j *batchv1.Job, c corev1.Container, path string, pvcs map[string]*corev1.PersistentVolumeClaim) bool {
	for _, m := range c.VolumeMounts {
		if !strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/") {
			continue
		}
		for _, v := range j.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.PersistentVolumeClaim != nil && pvcs[v.PersistentVolumeClaim.ClaimName] != nil {
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
	df := dockerfile{args: map[string]string{}, builds: map[string]string{}}
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
			df.copied, df.user, df.entrypoint, df.cmd = nil, "", nil, nil
		case "RUN":
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

func TestComposeCommandsUseOurFlags(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(b, &cf); err != nil {
		t.Fatalf("docker-compose.yml (commands must be lists): %v", err)
	}
	df := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	coord, ok := cf.Services["coordinator"]
	worker, ok2 := cf.Services["worker"]
	if !ok || !ok2 {
		t.Fatalf("services %v, want coordinator and worker", slices.Sorted(mapsKeys(cf.Services)))
	}
	for name, s := range cf.Services {
		entry := s.Entrypoint
		if entry == nil {
			entry = df.entrypoint // the image's
		}
		if err := checkArgv(append(slices.Clone(entry), s.Command...)); err != nil {
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
	}
	if worker.Deploy.Replicas != 2 {
		t.Errorf("worker replicas %d, want 2", worker.Deploy.Replicas)
	}
	if got := flagValue(worker.Command, "job"); got != flagValue(coord.Command, "job") || got == "" {
		t.Errorf("worker --job %q, coordinator --job %q", got, flagValue(coord.Command, "job"))
	}
	if got := flagValue(worker.Command, "nats"); got != "nats://coordinator:4222" || flagValue(coord.Command, "listen") != "0.0.0.0:4222" {
		t.Errorf("worker --nats %q, coordinator --listen %q: workers must reach the embedded server", got, flagValue(coord.Command, "listen"))
	}
	if h := flagValue(coord.Command, "http"); !strings.HasSuffix(h, ":8080") || !slices.ContainsFunc(coord.Ports, func(p string) bool { return strings.HasPrefix(p, "8080:8080") }) {
		t.Errorf("coordinator --http %q and ports %v: the dashboard must be published", h, coord.Ports)
	}
}
