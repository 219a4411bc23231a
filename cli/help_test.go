package cli

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fsl-project/fsl/coordinator"
)

// helpOf renders `app args... --help`.
func helpOf(t *testing.T, app *cli.App, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	app.Writer, app.ErrWriter = &out, &out
	app.ExitErrHandler = func(*cli.Context, error) {}
	if err := app.RunContext(context.Background(), append(append([]string{app.Name}, args...), "--help")); err != nil {
		t.Fatalf("%s %s --help: %v", app.Name, strings.Join(args, " "), err)
	}
	return out.String()
}

// commandPaths lists every visible command and subcommand of cmds.
func commandPaths(prefix []string, cmds []*cli.Command) [][]string {
	var out [][]string
	for _, c := range cmds {
		if c.Hidden {
			continue
		}
		p := append(append([]string{}, prefix...), c.Name)
		out = append(out, p)
		out = append(out, commandPaths(p, c.Subcommands)...)
	}
	return out
}

func TestHelpPrintsEachDefaultOnce(t *testing.T) {
	type page struct {
		name string
		text string
	}
	pages := []page{{"fsl-worker", helpOf(t, NewWorkerApp())}}
	for _, p := range commandPaths(nil, NewCoordApp().Commands) {
		pages = append(pages, page{"fsl-coord " + strings.Join(p, " "), helpOf(t, NewCoordApp(), p...)})
	}
	for _, p := range pages {
		for _, line := range strings.Split(p.text, "\n") {
			if n := strings.Count(strings.ToLower(line), "default"); n > 1 {
				t.Errorf("%s --help: %d defaults on one line: %q", p.name, n, strings.TrimSpace(line))
			}
		}
	}
}

func TestJobFlagsShowTheSpecDefaults(t *testing.T) {
	d := coordinator.DefaultSpec()
	want := map[string]string{
		"--job":               fmt.Sprintf("(default: %q)", d.ID),
		"--loss":              fmt.Sprintf("(default: %q)", d.Loss),
		"--data":              fmt.Sprintf("(default: %q)", d.Dataset),
		"--split":             fmt.Sprintf("(default: %q)", d.Split),
		"--size":              fmt.Sprintf("(default: %d)", d.Size),
		"--way":               fmt.Sprintf("(default: %d)", d.Way),
		"--shot":              fmt.Sprintf("(default: %d)", d.Shot),
		"--query":             fmt.Sprintf("(default: %d)", d.Query),
		"--pairs":             fmt.Sprintf("(default: %d)", d.Pairs),
		"--triplets":          fmt.Sprintf("(default: %d)", d.Triplets),
		"--shards":            fmt.Sprintf("(default: %d)", d.Shards),
		"--steps":             fmt.Sprintf("(default: %d)", d.Steps),
		"--seed":              fmt.Sprintf("(default: %d)", d.Seed),
		"--optimizer":         fmt.Sprintf("(default: %q)", d.Optimizer.Name),
		"--lr":                fmt.Sprintf("(default: %v)", d.Optimizer.LR),
		"--checkpoint-every":  fmt.Sprintf("(default: %d)", d.CheckpointEvery),
		"--lease-timeout":     fmt.Sprintf("(default: %v)", time.Duration(d.LeaseTimeout)),
		"--heartbeat-timeout": fmt.Sprintf("(default: %v)", time.Duration(d.HeartbeatTimeout)),
	}
	for _, cmd := range [][]string{{"start"}, {"bench", "train"}, {"bench", "cluster"}} {
		lines := map[string]string{}
		for _, line := range strings.Split(helpOf(t, NewCoordApp(), cmd...), "\n") {
			if f := strings.Fields(line); len(f) > 0 {
				lines[f[0]] = line
			}
		}
		envVars := regexp.MustCompile(` \[\$[A-Z_]+(, \$[A-Z_]+)*\]$`) // as urfave/cli prints EnvVars
		for flag, def := range want {
			if !strings.HasSuffix(envVars.ReplaceAllString(lines[flag], ""), def) {
				t.Errorf("%s --help: %s line %q, want it to end with %s", strings.Join(cmd, " "), flag, lines[flag], def)
			}
		}
	}
}

func TestEveryCommandsHelpHasExamplesAndNoJargon(t *testing.T) {
	jargon := regexp.MustCompile(`release-between-writes|coordinator\.[A-Z]|model\.[A-Z]|JobSpec|JobStatus|Trainer|\bGrad\b`)
	pages := map[string]string{"fsl-worker": helpOf(t, NewWorkerApp()), "fsl-coord": helpOf(t, NewCoordApp())}
	var walk func(prefix []string, cmds []*cli.Command)
	walk = func(prefix []string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden {
				continue
			}
			p := append(append([]string{}, prefix...), c.Name)
			// runnable commands and groups (bench, checkpoints, ...) alike
			pages["fsl-coord "+strings.Join(p, " ")] = helpOf(t, NewCoordApp(), p...)
			walk(p, c.Subcommands)
		}
	}
	walk(nil, NewCoordApp().Commands)
	for _, c := range NewWorkerApp().Commands {
		page := helpOf(t, NewWorkerApp(), c.Name)
		pages["fsl-worker "+c.Name] = page
		if strings.Contains(page, "fsl-coord") {
			t.Errorf("fsl-worker %s --help names fsl-coord:\n%s", c.Name, page)
		}
	}
	if len(pages) < 15 {
		t.Fatalf("only %d help pages", len(pages))
	}
	for name, text := range pages {
		if !strings.Contains(text, "Examples:\n") {
			t.Errorf("%s --help: no Examples section:\n%s", name, text)
		}
		if j := jargon.FindString(text); j != "" {
			t.Errorf("%s --help: %q", name, j)
		}
	}
}

func TestEnvVarsOnEveryFlagOfTheirName(t *testing.T) {
	env := map[string]string{"nats": "FSL_NATS", "token": "FSL_TOKEN", "creds": "FSL_CREDS", "nkey": "FSL_NKEY", "job": "FSL_JOB", "db": "FSL_DB"}
	// bench train's --db is an extra output, not the store of a job at
	// hand: an exported FSL_DB must not switch it on.
	except := map[string]bool{"fsl-coord bench train --db": true}
	checked := 0
	check := func(path string, flags []cli.Flag) {
		for _, f := range flags {
			name := f.Names()[0]
			want, ok := env[name]
			if !ok || except[path+" --"+name] {
				continue
			}
			checked++
			ev, _ := f.(interface{ GetEnvVars() []string })
			if ev == nil || !slices.Contains(ev.GetEnvVars(), want) {
				t.Errorf("%s --%s does not read %s", path, name, want)
			}
		}
	}
	check("fsl-worker", NewWorkerApp().Flags)
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden {
				continue
			}
			check(prefix+" "+c.Name, c.Flags)
			walk(prefix+" "+c.Name, c.Subcommands)
		}
	}
	walk("fsl-coord", NewCoordApp().Commands)
	if checked < 20 {
		t.Errorf("only %d flags checked", checked)
	}
	t.Setenv("FSL_JOB", "from-env")
	t.Setenv("FSL_DB", filepath.Join(t.TempDir(), "env.db"))
	if _, err := runCoord(t, "checkpoints", "show"); err == nil || !strings.Contains(err.Error(), "env.db") {
		t.Errorf("checkpoints show with FSL_JOB and FSL_DB: %v, want the store of FSL_DB (and no missing --job)", err)
	}
}
