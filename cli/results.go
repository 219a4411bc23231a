package cli

import (
	"encoding/csv"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/eval"
	"github.com/fsl-project/fsl/wire/transport"
)

func resultsCommand() *cli.Command {
	return &cli.Command{
		Name:  "results",
		Usage: "tabulate finished jobs' figures, and per group of seeds their mean with a 95% confidence interval",
		Description: "Lists each finished job of a serving coordinator's queue (over NATS, or from the store with --db)\n" +
			"with its final loss and its evaluation (the spec's eval: block: N-way K-shot accuracy over random\n" +
			"episodes of the test split, each with its own 95% CI over episodes). Then, for each group of jobs\n" +
			"(by --group-by; by default by every swept field but the seed), the mean over its jobs and a 95%\n" +
			"confidence interval across them (Student's t with n-1 degrees of freedom: the spread between\n" +
			"seeds, not within one run's episodes).\n\n" +
			"Examples:\n" +
			"   fsl-coord results --name lr-sweep\n" +
			"   fsl-coord results --group-by loss,optimizer.lr --csv > results.csv\n" +
			"   fsl-coord results --db fsl.db --json          # from the store, with no coordinator running",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "name", Usage: "only the jobs of this sweep (submit --name)"},
			&cli.StringFlag{Name: "group-by", Usage: "comma-separated fields to group by (YAML paths of the job: loss, optimizer.lr, ...; or name)"},
			&cli.StringFlag{Name: "db", EnvVars: []string{"FSL_DB"}, Usage: "read the queue from this store instead of asking a serving coordinator"},
			&cli.BoolFlag{Name: "json", Usage: "print the jobs and groups as JSON"},
			&cli.BoolFlag{Name: "csv", Usage: "print the groups as CSV"},
		}, queueFlags(transport.RoleReader)...),
		Action: runResults,
	}
}

func runResults(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("results takes no arguments, got %q", c.Args().Slice())
	}
	if c.Bool("json") && c.Bool("csv") {
		return fmt.Errorf("--json and --csv: choose one")
	}
	jobs, err := fetchJobs(c)
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	var rows []coordinator.JobResult
	for _, j := range jobs {
		if j.State != coordinator.StateDone || j.Outcome == nil || (c.String("name") != "" && j.Name != c.String("name")) {
			continue
		}
		m := map[string]float64{"loss": j.Outcome.Loss}
		for k, v := range j.Outcome.Metrics {
			if !strings.HasSuffix(k, "_ci95") { // a run's own CI over episodes is not a figure to average
				m[k] = v
			}
		}
		rows = append(rows, coordinator.JobResult{ID: j.ID, Name: j.Name, Spec: j.Spec, Params: j.Params, Metrics: m})
	}
	if len(rows) == 0 {
		return fmt.Errorf("results: no finished job%s (fsl-coord jobs ls shows where they are)", map[bool]string{true: " in sweep " + strconv.Quote(c.String("name")), false: ""}[c.String("name") != ""])
	}
	var by []string
	if g := c.String("group-by"); g != "" {
		for _, k := range strings.Split(g, ",") {
			by = append(by, strings.TrimSpace(k))
		}
	}
	groups, err := coordinator.GroupResults(rows, by, eval.TInterval95)
	if err != nil {
		return fmt.Errorf("--group-by: %w", err)
	}
	switch {
	case c.Bool("json"):
		return printJSON(c.App.Writer, struct {
			Jobs   []coordinator.JobResult   `json:"jobs"`
			Groups []coordinator.ResultGroup `json:"groups"`
		}{rows, groups})
	case c.Bool("csv"):
		return writeResultsCSV(c, groups)
	}
	return printResults(c, rows, groups)
}

// groupMetrics are the metrics the groups have, loss first then the rest
// sorted.
func groupMetrics(groups []coordinator.ResultGroup) []string {
	set := map[string]bool{}
	for _, g := range groups {
		for k := range g.Metrics {
			set[k] = true
		}
	}
	names := slices.Sorted(maps.Keys(set))
	if i := slices.Index(names, "loss"); i > 0 {
		names = append([]string{"loss"}, slices.Delete(names, i, i+1)...)
	}
	return names
}

// keyNames are the group keys, sorted.
func keyNames(groups []coordinator.ResultGroup) []string {
	set := map[string]bool{}
	for _, g := range groups {
		for k := range g.Key {
			set[k] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// protocol names a metric as eval names it ("5-way 1-shot accuracy, ...").
func protocol(name string, spec coordinator.JobSpec) string {
	var way, shot int
	if _, err := fmt.Sscanf(name, "%dway%dshot_acc", &way, &shot); err != nil {
		return name
	}
	e := spec.Eval.WithDefaults()
	return fmt.Sprintf("%s: %d-way %d-shot accuracy, %d random episodes (%d queries per class, seed %d) on split %s",
		name, way, shot, e.Episodes, e.Query, e.Seed, spec.TestSplit)
}

func printResults(c *cli.Context, rows []coordinator.JobResult, groups []coordinator.ResultGroup) error {
	out := c.App.Writer
	metrics, keys := groupMetrics(groups), keyNames(groups)
	for _, m := range metrics {
		if m != "loss" {
			fmt.Fprintln(out, protocol(m, rows[0].Spec))
		}
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "JOB\tSWEEP\tPARAMS\t%s\n", strings.Join(metrics, "\t"))
	for _, r := range rows {
		var ps []string
		for _, k := range slices.Sorted(maps.Keys(r.Params)) {
			ps = append(ps, k+"="+r.Params[k])
		}
		vals := make([]string, len(metrics))
		for i, m := range metrics {
			vals[i] = "-"
			if v, ok := r.Metrics[m]; ok {
				vals[i] = formatMetric(m, v)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, dash(r.Name), dash(strings.Join(ps, " ")), strings.Join(vals, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nmean ± 95% confidence interval across the jobs of each group (Student's t, n-1 degrees of freedom):")
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	head := append(slices.Clone(keys), "N")
	fmt.Fprintf(tw, "%s\t%s\n", strings.ToUpper(strings.Join(head, "\t")), strings.Join(metrics, "\t"))
	for _, g := range groups {
		cells := make([]string, 0, len(keys)+1+len(metrics))
		for _, k := range keys {
			cells = append(cells, dash(g.Key[k]))
		}
		cells = append(cells, strconv.Itoa(len(g.Jobs)))
		for _, m := range metrics {
			ci, ok := g.Metrics[m]
			switch {
			case !ok:
				cells = append(cells, "-")
			case math.IsNaN(ci.Half):
				cells = append(cells, formatMetric(m, ci.Mean)+" (n=1)")
			default:
				cells = append(cells, formatMetric(m, ci.Mean)+" ± "+formatMetric(m, ci.Half))
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// formatMetric prints accuracies in percent, other metrics plain.
func formatMetric(name string, v float64) string {
	if strings.HasSuffix(name, "_acc") {
		return fmt.Sprintf("%.2f%%", 100*v)
	}
	return fmt.Sprintf("%.4f", v)
}

func writeResultsCSV(c *cli.Context, groups []coordinator.ResultGroup) error {
	metrics, keys := groupMetrics(groups), keyNames(groups)
	w := csv.NewWriter(c.App.Writer)
	head := append(slices.Clone(keys), "n")
	for _, m := range metrics {
		head = append(head, m+"_mean", m+"_ci95")
	}
	if err := w.Write(head); err != nil {
		return err
	}
	for _, g := range groups {
		rec := make([]string, 0, len(head))
		for _, k := range keys {
			rec = append(rec, g.Key[k])
		}
		rec = append(rec, strconv.Itoa(len(g.Jobs)))
		for _, m := range metrics {
			ci, ok := g.Metrics[m]
			if !ok {
				rec = append(rec, "", "")
				continue
			}
			rec = append(rec, strconv.FormatFloat(ci.Mean, 'g', -1, 64), strconv.FormatFloat(ci.Half, 'g', -1, 64))
		}
		if err := w.Write(rec); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}
