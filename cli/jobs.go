package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/wire"
	"github.com/fsl-project/fsl/wire/transport"
)

// queueFlags are the flags of the commands that talk to a serving
// coordinator over NATS.
func queueFlags(role transport.Role) []cli.Flag {
	return append([]cli.Flag{
		natsFlag("nats://127.0.0.1:4222", "NATS server of the serving coordinator (fsl-coord serve)"),
		tokenFlag("shared token of the NATS server"),
		credsFlag(),
		nkeyFlag(role),
		&cli.DurationFlag{Name: "timeout", Value: 10 * time.Second, Usage: "how long to wait for an answer"},
		&cli.StringFlag{Name: "http", Usage: "ask the serving coordinator's HTTP server at this URL (serve --http) instead of NATS"},
		httpTokenFlag("bearer token of the HTTP server (serve --http-token)"),
	}, tlsClientFlags()...)
}

// askServe sends a Command with body v on subject and returns the Status
// reply's body.
func askServe(c *cli.Context, subject string, v any) ([]byte, error) {
	if err := positiveDuration(c, "timeout"); err != nil {
		return nil, err
	}
	if base := c.String("http"); base != "" {
		body, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		path := map[string]string{wire.Serve.Jobs: "/api/jobs", wire.Serve.Admin: "/api/admin"}[subject]
		ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
		defer cancel()
		return httpCall(ctx, base, c.String("http-token"), http.MethodPost, path, body)
	}
	tlsCfg, err := tlsConfig(c, false)
	if err != nil {
		return nil, err
	}
	url := c.String("nats")
	log := slog.New(slog.NewTextHandler(io.Discard, nil)) // errors come back as the command's error
	// the queue's reads are a reader's requests, its changes the coordinator role's
	role := transport.RoleReader
	if subject == wire.Serve.Admin {
		role = transport.RoleCoordinator
	}
	nc, err := transport.Connect(url, transport.ConnectOptions{Name: "fsl-coord " + c.Command.Name, Token: c.String("token"), CredsFile: c.String("creds"),
		NKeyFile: c.String("nkey"), Role: role, TLS: tlsCfg, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("--nats %s: %w", url, err)
	}
	defer nc.Close()
	cmd, err := wire.NewCommand(v)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	m, err := nc.Request(ctx, subject, cmd)
	if errors.Is(err, transport.ErrNoResponders) {
		return nil, fmt.Errorf("no serving coordinator on %s (start one with fsl-coord serve, or check --nats): %w", url, err)
	}
	if err != nil {
		return nil, fmt.Errorf("serving coordinator on %s: %w", url, err)
	}
	switch r := m.(type) {
	case *wire.Status:
		return r.Body, nil
	case *wire.Error:
		return nil, errors.New(r.Text)
	}
	return nil, fmt.Errorf("serving coordinator on %s: unexpected answer %s", url, m.Type())
}

func submitCommand() *cli.Command {
	return &cli.Command{
		Name:      "submit",
		Usage:     "add a job, or a sweep of jobs, to a serving coordinator's queue",
		ArgsUsage: "JOB.yaml",
		Description: "Reads the job file (the fields of fsl-coord start --config), expands the sweep — one job per\n" +
			"combination of --set values and --seeds — validates every job, queues them all (or none) and prints\n" +
			"their IDs. A sweep's jobs are named --name-01, --name-02, ... (--name defaults to the file's id).\n\n" +
			"Examples:\n" +
			"   fsl-coord submit job.yaml\n" +
			"   fsl-coord submit job.yaml --seeds 1,2,3 --set optimizer.lr=1e-3,5e-4 --name lr-sweep\n" +
			"   fsl-coord submit job.yaml --set loss=proto,matching --priority 10 --max-workers 2",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "seeds", Usage: "comma-separated seeds: one job per seed (per combination of --set)"},
			&cli.StringSliceFlag{Name: "set", Usage: "KEY=V1,V2,...: sweep a field of the job file (its YAML path: optimizer.lr, loss, way, ...); repeat for more fields"},
			&cli.StringFlag{Name: "name", Usage: "the sweep's name, the prefix of its job IDs (default: the file's id)"},
			&cli.IntFlag{Name: "priority", Usage: "higher runs first and takes workers first"},
			&cli.Float64Flag{Name: "weight", Value: 1, Usage: "share of workers among running jobs of the same priority"},
			&cli.IntFlag{Name: "max-workers", Usage: "at most this many workers at once per job (0: as many as it has shards)"},
			&cli.BoolFlag{Name: "json", Usage: "print the job IDs as JSON"},
		}, queueFlags(transport.RoleCoordinator)...),
		Action: runSubmit,
	}
}

func runSubmit(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("submit takes one job file, got %q (fsl-coord submit JOB.yaml)", c.Args().Slice())
	}
	if err := nonNegative(c, "max-workers"); err != nil {
		return err
	}
	if !(c.Float64("weight") > 0) {
		return fmt.Errorf("--weight %v: want more than 0", c.Float64("weight"))
	}
	path := c.Args().First()
	base, err := readJobFile(path)
	if err != nil {
		return err
	}
	var seeds []uint64
	if s := c.String("seeds"); s != "" {
		for _, f := range strings.Split(s, ",") {
			v, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
			if err != nil || v == 0 {
				return fmt.Errorf("--seeds %q: %q is not a seed (a positive integer)", s, f)
			}
			seeds = append(seeds, v)
		}
	}
	var sets []coordinator.SetExpr
	for _, s := range setArgs(c.StringSlice("set")) {
		e, err := coordinator.ParseSet(s)
		if err != nil {
			return fmt.Errorf("--set %q: %w", s, err)
		}
		sets = append(sets, e)
	}
	sweep, err := coordinator.ExpandSweep(base, c.String("name"), seeds, sets)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	name := c.String("name")
	if name == "" && len(sweep) > 1 {
		name = base.WithDefaults().ID
	}
	req := coordinator.AdminRequest{Op: "submit"}
	for _, j := range sweep {
		req.Jobs = append(req.Jobs, coordinator.Submitted{Spec: j.Spec, Name: name, Params: j.Params,
			Priority: c.Int("priority"), Weight: c.Float64("weight"), MaxWorkers: c.Int("max-workers")})
	}
	body, err := askServe(c, wire.Serve.Admin, req)
	if err != nil {
		return fmt.Errorf("submit %s: %w", path, err)
	}
	var ids []string
	if err := json.Unmarshal(body, &ids); err != nil {
		return fmt.Errorf("submit %s: the coordinator's answer: %w", path, err)
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, ids)
	}
	for _, id := range ids {
		fmt.Fprintln(c.App.Writer, id)
	}
	return nil
}

// setArgs undoes urfave/cli's split of a slice flag's value at commas
// ("--set optimizer.lr=1e-3,5e-4" arrives as "optimizer.lr=1e-3", "5e-4"):
// a part without '=' continues the one before it.
func setArgs(parts []string) []string {
	var out []string
	for _, p := range parts {
		if !strings.Contains(p, "=") && len(out) > 0 {
			out[len(out)-1] += "," + p
			continue
		}
		out = append(out, p)
	}
	return out
}

// unknownFieldRE matches yaml.v3's complaint about a field a Go type lacks.
var unknownFieldRE = regexp.MustCompile(`line (\d+): field (\S+) not found in type \S+`)

// explainYAML rewrites yaml.v3's "field X not found in type
// coordinator.JobSpec" (Go's type names mean nothing to a user) as the
// unknown field, with the dotted job-file keys it may have meant: flags
// like --mining and --temperature live in blocks (triplet.mining,
// matching.temperature).
func explainYAML(err error) error {
	msg := unknownFieldRE.ReplaceAllStringFunc(err.Error(), func(m string) string {
		sub := unknownFieldRE.FindStringSubmatch(m)
		line, field := sub[1], sub[2]
		var like []string
		for _, k := range coordinator.SpecKeys() {
			last := k[strings.LastIndex(k, ".")+1:]
			if k != field && (last == field || strings.HasPrefix(field, last+"_") || strings.HasSuffix(field, "_"+last)) {
				like = append(like, k)
			}
		}
		out := fmt.Sprintf("line %s: unknown field %q", line, field)
		if len(like) > 0 && len(like) <= 3 {
			out += " (did you mean " + strings.Join(like, " or ") + "?)"
		}
		return out
	})
	if msg == err.Error() {
		return err
	}
	return fmt.Errorf("%s; fsl-coord start --help (--config) says where the flags' fields are", msg)
}

// readJobFile reads a YAML job file as start --config does (unknown fields
// and zeros that would become defaults are errors).
func readJobFile(path string) (coordinator.JobSpec, error) {
	var spec coordinator.JobSpec
	b, err := os.ReadFile(path)
	if err != nil {
		return spec, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&spec); err != nil && !errors.Is(err, io.EOF) {
		return spec, fmt.Errorf("%s: %w", path, explainYAML(err))
	}
	if err := explicitZeros(path, b); err != nil {
		return spec, err
	}
	return spec, nil
}

func jobsCommand() *cli.Command {
	one := func(op, usage string) *cli.Command {
		return &cli.Command{
			Name: op, Usage: usage, ArgsUsage: "JOB",
			Description: "Examples:\n" +
				"   fsl-coord jobs " + op + " lr-03\n" +
				"   fsl-coord jobs " + op + " lr-03 --nats nats://coord:4222 --nkey auth/coordinator.nk",
			Flags: append([]cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the answer as JSON"}}, queueFlags(transport.RoleCoordinator)...),
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return fmt.Errorf("jobs %s takes one job ID, got %q", op, c.Args().Slice())
				}
				id := c.Args().First()
				if _, err := askServe(c, wire.Serve.Admin, coordinator.AdminRequest{Op: op, ID: id}); err != nil {
					return fmt.Errorf("jobs %s %s: %w", op, id, err)
				}
				if c.Bool("json") {
					return printJSON(c.App.Writer, map[string]string{"job": id, "op": op})
				}
				fmt.Fprintf(c.App.Writer, "%s: %s\n", id, map[string]string{"cancel": "cancelled", "pause": "paused (it keeps its checkpoint)",
					"resume": "queued to resume", "rm": "removed from the queue (its checkpoints stay in the store: jobs purge deletes them)",
					"purge": "removed from the queue, its checkpoints and history deleted from the store"}[op])
				return nil
			},
		}
	}
	return &cli.Command{
		Name:  "jobs",
		Usage: "list, show, cancel, pause, resume, remove or purge the jobs of a serving coordinator",
		Description: "Examples:\n" +
			"   fsl-coord jobs ls                     # every job: state, progress, workers, share\n" +
			"   fsl-coord jobs show lr-sweep-03 --json\n" +
			"   fsl-coord jobs pause lr-sweep-03      # it checkpoints and stops; resume puts it back in the queue",
		Subcommands: []*cli.Command{
			{
				Name: "ls", Usage: "list the jobs",
				Description: "Examples:\n" +
					"   fsl-coord jobs ls\n" +
					"   fsl-coord jobs ls --json | jq '.[] | {id, state, step}'\n" +
					"   fsl-coord jobs ls --db fsl.db          # from the store, with no coordinator running",
				Flags: append([]cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the jobs as JSON"},
					&cli.StringFlag{Name: "db", EnvVars: []string{"FSL_DB"}, Usage: "read the queue from this store instead of asking a serving coordinator"}}, queueFlags(transport.RoleReader)...),
				Action: runJobsLs,
			},
			{
				Name: "show", Usage: "show one job: its queue entry, spec and outcome (JSON)", ArgsUsage: "JOB",
				Description: "Examples:\n" +
					"   fsl-coord jobs show lr-03\n" +
					"   fsl-coord jobs show lr-03 | jq .outcome",
				Flags: append([]cli.Flag{&cli.BoolFlag{Name: "json", Usage: "accepted as on the other jobs commands: show always prints JSON"}}, queueFlags(transport.RoleReader)...),
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return fmt.Errorf("jobs show takes one job ID, got %q", c.Args().Slice())
					}
					body, err := askServe(c, wire.Serve.Jobs, coordinator.JobsRequest{Op: "show", ID: c.Args().First()})
					if err != nil {
						return fmt.Errorf("jobs show: %w", err)
					}
					var b bytes.Buffer
					if err := json.Indent(&b, body, "", "  "); err != nil {
						return err
					}
					_, err = fmt.Fprintf(c.App.Writer, "%s\n", b.Bytes())
					return err
				},
			},
			one("cancel", "cancel a job (a running one checkpoints and stops; it will not run again)"),
			one("pause", "pause a job (a running one checkpoints and stops) until jobs resume"),
			one("resume", "put a paused job back in the queue; it resumes from its newest checkpoint"),
			one("rm", "remove a job that is not running from the queue (its checkpoints stay in the store)"),
			one("purge", "remove a job that is not running from the queue and delete its checkpoints and history from the store, so its ID is free"),
		},
	}
}

// fetchJobs lists the queue over NATS, or from the store with --db.
func fetchJobs(c *cli.Context) ([]coordinator.JobInfo, error) {
	if db := c.String("db"); db != "" {
		q, err := coordinator.ReadQueue(db, nil)
		if err != nil {
			return nil, err
		}
		out := make([]coordinator.JobInfo, len(q))
		for i, j := range q {
			out[i] = coordinator.InfoOf(j)
		}
		return out, nil
	}
	body, err := askServe(c, wire.Serve.Jobs, coordinator.JobsRequest{Op: "ls"})
	if err != nil {
		return nil, err
	}
	var jobs []coordinator.JobInfo
	if err := json.Unmarshal(body, &jobs); err != nil {
		return nil, fmt.Errorf("the coordinator's list of jobs: %w", err)
	}
	return jobs, nil
}

func runJobsLs(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("jobs ls takes no arguments, got %q", c.Args().Slice())
	}
	jobs, err := fetchJobs(c)
	if err != nil {
		return fmt.Errorf("jobs ls: %w", err)
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, jobs)
	}
	applied := 0
	for _, j := range jobs {
		applied += j.Applied
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSWEEP\tSTATE\tPRIORITY\tSTEP\tWORKERS\tSHARDS\tSHARE\tOUTCOME")
	for _, j := range jobs {
		share := "-"
		if applied > 0 && j.Applied > 0 {
			share = fmt.Sprintf("%.0f%%", 100*float64(j.Applied)/float64(applied))
		}
		outcome := j.Error
		if o := j.Outcome; o != nil {
			outcome = fmt.Sprintf("loss %.4f", o.Loss)
			if acc, ok := o.Metrics["5way1shot_acc"]; ok {
				outcome += fmt.Sprintf(", 5-way 1-shot %.2f%%", 100*acc)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d/%d\t%d\t%d\t%s\t%s\n", j.ID, dash(j.Name), j.State, j.Priority, j.Step, j.Steps, j.Workers, j.Applied, share, outcome)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
