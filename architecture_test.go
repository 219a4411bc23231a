package fsl_test

// The import rules of ARCHITECTURE.md, checked on the source: every
// non-test Go file of every package, whatever its build tags (the CUDA
// files too), is parsed and its imports compared with what its package may
// import. A package that is not in the table fails the test until it is
// added here and to ARCHITECTURE.md.

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/fsl-project/fsl"

// rule says what one package (a folder relative to the module root) may
// import besides the standard library: other fsl packages by folder, and
// third-party modules by path prefix.
type rule struct {
	fsl   []string
	third []string
}

var rules = map[string]rule{
	// The vocabulary of a step: nothing but the standard library.
	"params": {},
	"episodes": {
		fsl:   []string{"params"},
		third: []string{"golang.org/x/image/"},
	},
	// The network and losses on Gorgonia; no NATS, bbolt or episodes.
	"model": {
		fsl:   []string{"params", "model/cpu", "model/gpu"},
		third: []string{"gorgonia.org/", "github.com/chewxy/"},
	},
	// CPU kernels: plain slices in and out.
	"model/cpu": {
		fsl:   []string{"model/cpu/internal/simd"},
		third: []string{"gonum.org/v1/gonum/", "golang.org/x/sys/cpu"},
	},
	"model/cpu/internal/simd": {third: []string{"golang.org/x/sys/cpu"}},
	// The CUDA backend: the driver API through cgo only.
	"model/gpu":   {},
	"checkpoints": {fsl: []string{"params"}, third: []string{"go.etcd.io/bbolt"}},
	// The protocol: subjects, messages, their codec; no NATS code.
	"wire": {fsl: []string{"params"}},
	// The one package that knows NATS.
	"wire/transport": {fsl: []string{"params", "wire"}, third: []string{"github.com/nats-io/"}},
	// The job's state machine: pure (see machineStdlib and clockCalls).
	"coordinator/machine": {fsl: []string{"params"}},
	"coordinator": {
		fsl:   []string{"params", "episodes", "checkpoints", "wire", "wire/transport", "model", "coordinator/machine"},
		third: []string{"github.com/prometheus/client_golang/"},
	},
	"worker": {fsl: []string{"params", "model", "wire", "wire/transport"}},
	"eval":   {fsl: []string{"params", "model", "episodes"}},
	// The process wiring: flags, config files, output.
	"cli": {
		fsl:   []string{"params", "episodes", "model", "model/cpu", "checkpoints", "wire", "wire/transport", "coordinator", "coordinator/machine", "worker", "eval"},
		third: []string{"github.com/urfave/cli/v2", "gopkg.in/yaml.v3", "github.com/schollz/progressbar/"},
	},
	"cmd/fsl-coord":  {fsl: []string{"cli"}},
	"cmd/fsl-worker": {fsl: []string{"cli"}},
}

// machineStdlib is what coordinator/machine, the job's state machine, may
// import besides params: pure standard-library packages (encoding/json and
// reflect for the counters' JSON). It never reads the clock.
var machineStdlib = []string{"cmp", "encoding/json", "errors", "fmt", "maps", "math", "reflect", "slices", "sort", "strconv", "strings", "time"}

// clockCalls are the time functions that read or wait on the clock.
var clockCalls = []string{"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "Tick", "NewTimer", "NewTicker"}

// goFiles maps each package folder (relative to the module root) to its
// non-test Go files.
func goFiles(t *testing.T) map[string][]string {
	t.Helper()
	pkgs := map[string][]string{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			dir := filepath.ToSlash(filepath.Dir(path))
			pkgs[dir] = append(pkgs[dir], path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

func isStdlib(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// allowed reports whether a package under r may import path.
func (r rule) allowed(path string) bool {
	if path == "C" || isStdlib(path) {
		return true
	}
	if rel, ok := strings.CutPrefix(path, module+"/"); ok {
		return slices.Contains(r.fsl, rel)
	}
	for _, p := range r.third {
		if path == strings.TrimSuffix(p, "/") || strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

func TestImportsFollowArchitecture(t *testing.T) {
	arch, err := os.ReadFile("ARCHITECTURE.md")
	if err != nil {
		t.Fatalf("the import rules are documented in ARCHITECTURE.md: %v", err)
	}
	pkgs := goFiles(t)
	for dir, files := range pkgs {
		r, ok := rules[dir]
		if !ok {
			t.Errorf("package %s is not in the import rules: add it to ARCHITECTURE.md and to rules in architecture_test.go", dir)
			continue
		}
		if !strings.Contains(string(arch), "`"+dir+"/`") {
			t.Errorf("ARCHITECTURE.md does not describe package `%s/`", dir)
		}
		for _, file := range files {
			f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if !r.allowed(path) {
					t.Errorf("%s imports %s: package %s may import only the standard library, fsl's %v and %v (ARCHITECTURE.md)",
						file, path, dir, r.fsl, r.third)
				}
			}
		}
	}
	for dir := range rules {
		if _, ok := pkgs[dir]; !ok {
			t.Errorf("rules name package %s, which has no Go files: remove it here and in ARCHITECTURE.md", dir)
		}
	}
}

func TestCoordinatorStateMachineDoesNoIOAndReadsNoClock(t *testing.T) {
	files, err := filepath.Glob("coordinator/machine/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no coordinator/machine files: %v", err)
	}
	machine := 0
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		machine++
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path != module+"/params" && !slices.Contains(machineStdlib, path) {
				t.Errorf("%s (the state machine) imports %s: it may import only params and %v", file, path, machineStdlib)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "time" && slices.Contains(clockCalls, sel.Sel.Name) {
				t.Errorf("%s: %s (the state machine) uses time.%s: the machine takes now from its caller",
					fset.Position(sel.Pos()), file, sel.Sel.Name)
			}
			return true
		})
	}
	if machine < 5 {
		t.Fatalf("found %d state-machine files in coordinator/machine/, expected the machine's (machine.go, lease.go, result.go, ...)", machine)
	}
}
