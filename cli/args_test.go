package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/urfave/cli/v2"
)

func TestFlagsFirstMovesFlagsBeforeArguments(t *testing.T) {
	tests := []struct {
		args, want string
	}{
		{"dataset fetch omniglot --dir D", "dataset fetch --dir D omniglot"},
		{"dataset inspect glyphs --json", "dataset inspect --json glyphs"},
		{"dataset inspect glyphs --size 16 --json --split=val", "dataset inspect --size 16 --json --split=val glyphs"},
		{"checkpoints import FILE --db X", "checkpoints import --db X FILE"},
		{"checkpoints import --lock-timeout 1s FILE --db X", "checkpoints import --lock-timeout 1s --db X FILE"},
		{"dataset inspect a -- --json", "dataset inspect a -- --json"}, // after --: arguments
		{"dataset inspect glyphs --json --generate-bash-completion", "dataset inspect glyphs --json --generate-bash-completion"},
		{"start --steps 3 --db x.db", "start --steps 3 --db x.db"}, // nothing to move
		{"eval --way 5 --shot 1", "eval --way 5 --shot 1"},
		{"completion bash --help", "completion --help"},
		{"help start", "help start"},
	}
	for _, tc := range tests {
		t.Run(tc.args, func(t *testing.T) {
			got := flagsFirst(NewCoordApp(), append([]string{"fsl-coord"}, strings.Fields(tc.args)...))
			if want := append([]string{"fsl-coord"}, strings.Fields(tc.want)...); !slices.Equal(got, want) {
				t.Errorf("flagsFirst(%q) = %q, want %q", tc.args, got[1:], want[1:])
			}
		})
	}
}

// Every command that takes arguments, run for real with its flags after
// them.
func TestFlagsAfterArgumentsAreRead(t *testing.T) {
	t.Run("dataset inspect", func(t *testing.T) {
		out, err := runCoord(t, "dataset", "inspect", "glyphs:alphabets=5,chars=3,drawers=4", "--json", "--split", "background")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		var s datasetSummary
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("--json after the argument: %v in %q", err, out)
		}
		if s.Classes != 9 {
			t.Errorf("--split background after the argument: %d classes, want 9", s.Classes)
		}
	})
	t.Run("dataset fetch", func(t *testing.T) {
		payload := []byte("not really omniglot")
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(payload) }))
		defer srv.Close()
		sum := sha256.Sum256(payload)
		h := hex.EncodeToString(sum[:])
		dir := t.TempDir()
		out, err := runCoord(t, "dataset", "fetch", "omniglot", "--dir", dir, "--base-url", srv.URL,
			"--sha256", "images_background.zip="+h, "--sha256", "images_evaluation.zip="+h)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "images_background.zip")); err != nil {
			t.Errorf("--dir after the argument: %v", err)
		}
	})
	t.Run("checkpoints import", func(t *testing.T) {
		file := exportOf(t, evalJob(t, glyphSpec(), nil))
		db := filepath.Join(t.TempDir(), "other.db")
		out, err := runCoord(t, "checkpoints", "import", file, "--db", db)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		st, err := checkpoints.Open(db, checkpoints.WithReadOnly())
		if err != nil {
			t.Fatalf("--db after the argument: %v", err)
		}
		defer st.Close()
		if c, err := st.Latest("j"); err != nil || c.Step != 20 {
			t.Errorf("imported into --db: %v, %v", c, err)
		}
	})
	t.Run("completion", func(t *testing.T) {
		out, err := runCoord(t, "completion", "bash", "--help")
		if err != nil || !strings.Contains(out, "bash|zsh") {
			t.Errorf("--help after the argument: %v\n%s", err, out)
		}
	})
}

func TestUnknownCommandsAndHelpTopicsNameTheCommands(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"strat"}, []string{`"strat" is not a command of fsl-coord`, `Did you mean "start"?`, "start, status", "fsl-coord --help"}},
		{[]string{"help", "foo"}, []string{`"foo" is not a command of fsl-coord`, "eval", "checkpoints"}},
		{[]string{"checkpoints", "list"}, []string{`"list" is not a command of fsl-coord checkpoints`, "ls, show, export, import, prune, rm"}},
		{[]string{"help", "dataset", "get"}, []string{`"get" is not a command of fsl-coord dataset`, "inspect, fetch"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, err := runCoord(t, tc.args...)
			if err == nil {
				t.Fatalf("succeeded:\n%s", out)
			}
			if strings.Contains(err.Error()+out, "No help topic") {
				t.Errorf("urfave/cli's own message: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not hold %q", err, w)
				}
			}
			if code := exitStatus(&strings.Builder{}, "fsl-coord", err); code != 2 {
				t.Errorf("exit status %d, want 2 (usage)", code)
			}
		})
	}
	for _, ok := range [][]string{{"help"}, {"help", "checkpoints", "ls"}, {"checkpoints", "help"}, {"h", "eval"}} {
		if out, err := runCoord(t, ok...); err != nil || !strings.Contains(out, "USAGE") {
			t.Errorf("%q: %v\n%s", ok, err, out)
		}
	}
}

// TestEveryCommandWithArgumentsTakesFlagsAfterThem walks both apps: for
// every command that takes positional arguments (ArgsUsage), each of its
// flags written after an argument is moved before it, with its value when
// it takes one. Commands added later are covered without a new table row.
func TestEveryCommandWithArgumentsTakesFlagsAfterThem(t *testing.T) {
	var walk func(path []string, cmds []*cli.Command) [][]string
	checked := 0
	walk = func(path []string, cmds []*cli.Command) [][]string {
		var out [][]string
		for _, c := range cmds {
			p := append(slices.Clone(path), c.Name)
			if c.ArgsUsage != "" && len(c.Subcommands) == 0 {
				for _, f := range c.Flags {
					name := "--" + f.Names()[0]
					if name == "--help" {
						continue
					}
					flag := []string{name}
					if _, isBool := f.(*cli.BoolFlag); !isBool {
						flag = append(flag, "V")
					}
					args := append(append(slices.Clone(p), "ARG"), flag...)
					want := append(append(slices.Clone(p), flag...), "ARG")
					out = append(out, args, want)
				}
			}
			out = append(out, walk(p, c.Subcommands)...)
		}
		return out
	}
	for _, app := range []*cli.App{NewCoordApp(), NewWorkerApp()} {
		cases := walk(nil, app.Commands)
		for i := 0; i+1 < len(cases); i += 2 {
			args, want := cases[i], cases[i+1]
			got := flagsFirst(app, append([]string{app.Name}, args...))
			if !slices.Equal(got[1:], want) {
				t.Errorf("%s %s: flagsFirst gives %q, want %q", app.Name, strings.Join(args, " "), got[1:], want)
			}
			checked++
		}
	}
	// dataset inspect/fetch, checkpoints import, completion, submit and
	// the jobs subcommands that name a job all take arguments.
	t.Logf("%d flag-after-argument cases", checked)
	if checked < 40 {
		t.Errorf("only %d flag-after-argument cases found: the walk missed commands", checked)
	}
	// A real run of a command added after the table above: jobs show with
	// --nats, --timeout and --json after the job asks that (closed) address.
	out, err := runCoord(t, "jobs", "show", "nope", "--nats", "nats://127.0.0.1:1", "--timeout", "1s", "--json")
	if msg := out + fmt.Sprint(err); err == nil || !strings.Contains(msg, "--nats nats://127.0.0.1:1: transport: connect") {
		t.Errorf("jobs show nope --nats nats://127.0.0.1:1 ...: want an error naming that address: %v\n%s", err, out)
	}
}
