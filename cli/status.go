package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/coordinator/machine"
	"github.com/fsl-project/fsl/wire"
	"github.com/fsl-project/fsl/wire/transport"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show a running job: step, loss, images/s, workers and counters",
		Description: "Asks a running coordinator over NATS (the job's status subject; --nats, --token or --creds, --job)\n" +
			"or over its HTTP server (--http URL, e.g. http://coord:8080), and prints a table or, with --json,\n" +
			"the job's status as JSON.\n\n" +
			"Examples:\n" +
			"   fsl-coord status                                        # job fsl on this machine's coordinator\n" +
			"   fsl-coord status --nats nats://coord:4222 --token \"$T\" --job omni\n" +
			"   fsl-coord status --http http://coord:8080 --json",
		Flags: append([]cli.Flag{
			natsFlag("nats://127.0.0.1:4222", "NATS server the coordinator serves the job on"),
			tokenFlag("shared token of the NATS server"),
			credsFlag(),
			nkeyFlag(transport.RoleReader),
			jobFlag("fsl", "job ID"),
			&cli.StringFlag{Name: "http", Usage: "ask the coordinator's HTTP server at this URL instead of NATS"},
			httpTokenFlag("bearer token of the HTTP server (start --http-token)"),
			&cli.BoolFlag{Name: "json", Usage: "print the status as JSON"},
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Second, Usage: "how long to wait for an answer"},
		}, tlsClientFlags()...),
		Action: runStatus,
	}
}

func runStatus(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("status takes no arguments, got %q", c.Args().Slice())
	}
	if err := positiveDuration(c, "timeout"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	var raw []byte
	var err error
	if u := c.String("http"); u != "" {
		raw, err = statusOverHTTP(ctx, u, c.String("http-token"))
	} else {
		raw, err = statusOverNATS(ctx, c)
	}
	if err != nil {
		return err
	}
	var st coordinator.JobStatus
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("status of job %q: not a job status: %w", c.String("job"), err)
	}
	if c.Bool("json") {
		// The coordinator's answer as it came, indented: fields this build
		// does not know (a newer coordinator's) are kept.
		var b bytes.Buffer
		if err := json.Indent(&b, raw, "", "  "); err != nil {
			return fmt.Errorf("status of job %q: %w", c.String("job"), err)
		}
		_, err = fmt.Fprintf(c.App.Writer, "%s\n", bytes.TrimSpace(b.Bytes()))
		return err
	}
	return printStatus(c.App.Writer, st, time.Now())
}

// statusOverHTTP GETs base/status from a coordinator's HTTP server,
// presenting token (when set) as a bearer token.
func statusOverHTTP(ctx context.Context, base, token string) ([]byte, error) {
	return httpCall(ctx, base, token, http.MethodGet, "/status", nil)
}

// httpCall sends method path (with a JSON body when not nil) to the
// coordinator's HTTP server at base with the bearer token, and returns the
// body of a 200 answer; any other status is an error holding the answer.
func httpCall(ctx context.Context, base, token, method, path string, body []byte) ([]byte, error) {
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+path, rd)
	if err != nil {
		return nil, fmt.Errorf("--http %s: %w", base, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("--http %s: %w", base, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("--http %s: %w", base, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("--http %s: %s %s: %s: %s", base, method, path, resp.Status, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// statusOverNATS asks the job's status subject, as the driver answers it.
func statusOverNATS(ctx context.Context, c *cli.Context) ([]byte, error) {
	job, url := c.String("job"), c.String("nats")
	subj, err := wire.NewSubjects(job)
	if err != nil {
		return nil, fmt.Errorf("--job %q: %w", job, err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil)) // errors come back as the command's error
	tlsCfg, err := tlsConfig(c, false)
	if err != nil {
		return nil, err
	}
	nc, err := transport.Connect(url, transport.ConnectOptions{Name: "fsl-coord status", Token: c.String("token"), CredsFile: c.String("creds"), NKeyFile: c.String("nkey"), Role: transport.RoleReader, TLS: tlsCfg, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("--nats %s: %w", url, err)
	}
	defer nc.Close()
	m, err := nc.Request(ctx, subj.Status, &wire.StatusRequest{})
	if err != nil {
		return nil, fmt.Errorf("status of job %q on %s: %w (is its coordinator running? check --job and --nats)", job, url, err)
	}
	switch m := m.(type) {
	case *wire.Status:
		return m.Body, nil
	case *wire.Error:
		return nil, fmt.Errorf("status of job %q on %s: coordinator answered: %s", job, url, m.Text)
	default:
		return nil, fmt.Errorf("status of job %q on %s: unexpected answer %s", job, url, m.Type())
	}
}

// printStatus writes st as a table; now dates the workers' last contact.
func printStatus(w io.Writer, st coordinator.JobStatus, now time.Time) error {
	state := st.Status.Phase.String()
	if st.Done {
		state = "done"
	}
	pct := 0.0
	if st.Steps > 0 {
		pct = 100 * float64(st.Step) / float64(st.Steps)
	}
	rate := 0.0
	if st.Elapsed > 0 {
		rate = float64(st.Images) / st.Elapsed
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "job\t%s (%s)\n", st.Job, state)
	fmt.Fprintf(tw, "step\t%d/%d (%.0f%%)\n", st.Step, st.Steps, pct)
	fmt.Fprintf(tw, "loss\t%.4f\n", st.Loss)
	fmt.Fprintf(tw, "images\t%d in %s (%.0f images/s)\n", st.Images, (time.Duration(st.Elapsed * float64(time.Second))).Round(time.Second), rate)
	if len(st.Validation) > 0 {
		keys := make([]string, 0, len(st.Validation))
		for k := range st.Validation {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s %.4f", k, st.Validation[k])
		}
		fmt.Fprintf(tw, "validation\t%s\n", strings.Join(parts, ", "))
	}
	cn := st.Status.Counters
	fmt.Fprintf(tw, "shards\tleased %d, backups %d, expired %d, returned %d\n", cn.Leased, cn.Backups, cn.Expired, cn.Returned)
	fmt.Fprintf(tw, "results\tapplied %d, late %d, duplicates %d, lost races %d, invalid %d%s\n",
		cn.Applied, cn.Late, cn.Duplicates, cn.LostRaces, cn.InvalidTotal, invalidReasons(cn.Invalid))
	if cn.Held+cn.Bans > 0 {
		fmt.Fprintf(tw, "verification	verified %d, mismatches %d, banned %d, rollbacks %d (%d steps)\n",
			cn.Checks, cn.Mismatches, cn.Bans, cn.Rollbacks, cn.StepsRolledBack)
	}
	fmt.Fprintf(tw, "workers\t%d (joined %d, left %d, lost %d)\n", len(st.Status.Workers), cn.WorkersJoined, cn.WorkersLeft, cn.WorkersLost)
	if st.ComputeCanary != "" { // what --compute-class takes
		fmt.Fprintf(tw, "compute class\t%s (%s)\n", st.ComputeCanary, st.ComputeClass)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(st.Status.Workers) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKER\tLAST SEEN\tJOINED\tSHARDS\tLEASES\tACCEPTED\tEXPIRED\tINVALID")
	for _, wk := range st.Status.Workers {
		shards := "-"
		if len(wk.Shards) > 0 {
			s := make([]string, len(wk.Shards))
			for i, n := range wk.Shards {
				s[i] = fmt.Sprint(n)
			}
			shards = strings.Join(s, ",")
		}
		t := wk.Tally
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", wk.ID, ago(now, wk.LastSeen), ago(now, wk.Joined), shards,
			t.Leased, t.Accepted, t.Expired, t.Invalid)
	}
	return tw.Flush()
}

// invalidReasons is " (reason n, ...)" for a non-empty map, sorted by reason.
func invalidReasons(m map[machine.Reason]int) string {
	if len(m) == 0 {
		return ""
	}
	rs := make([]machine.Reason, 0, len(m))
	for r := range m {
		rs = append(rs, r)
	}
	slices.Sort(rs)
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%s %d", r, m[r])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// ago is how long before now t was, to 0.1 s; clocks of two hosts may
// disagree a little, so a t after now reads "just now".
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	if d < 100*time.Millisecond {
		return "just now"
	}
	return d.Round(100*time.Millisecond).String() + " ago"
}
