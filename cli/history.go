package cli

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fsl-project/fsl/checkpoints"
)

// historyCommand is `fsl-coord history`: the per-step history a
// coordinator records in the store, as CSV or JSON.
func historyCommand() *cli.Command {
	return &cli.Command{
		Name:  "history",
		Usage: "export a job's training curves (loss, throughput, workers, validation per step) as CSV or JSON",
		Description: "Reads the history the coordinator records in the checkpoint store (--db) every few seconds and at\n" +
			"every checkpoint, also while it runs (between its writes), and writes it to stdout: CSV with a\n" +
			"header line (the default, or --csv) or a JSON array (--json). Validation metrics (val_acc, val_ci95,\n" +
			"...) are columns of their own, empty at steps that were not validated.\n\n" +
			"Examples:\n   fsl-coord history --db fsl.db --job omni --csv > omni.csv\n   fsl-coord history --job fsl --json | jq length",
		Flags: []cli.Flag{
			ckptDBFlag(),
			&cli.StringFlag{Name: "job", Value: "fsl", EnvVars: []string{"FSL_JOB"}, Usage: "job ID"},
			&cli.BoolFlag{Name: "csv", Usage: "write CSV, which is also what is written without --json"},
			&cli.BoolFlag{Name: "json", Usage: "write JSON"},
			ckptLockFlag(),
		},
		Action: runHistory,
	}
}

func runHistory(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("history takes no arguments, got %q", c.Args().Slice())
	}
	if c.Bool("csv") && c.Bool("json") {
		return errors.New("--csv and --json: choose one")
	}
	db, job := c.String("db"), c.String("job")
	st, err := ckptOpen(c, false)
	if err != nil {
		return err
	}
	defer st.Close()
	recs, err := st.History(job)
	if errors.Is(err, checkpoints.ErrNotFound) {
		return fmt.Errorf("job %q is not in %s%s: %w", job, db, jobList(st), err)
	}
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return writeHistoryJSON(c.App.Writer, recs)
	}
	return writeHistoryCSV(c.App.Writer, recs)
}

// metricNames is the sorted union of the records' metric names.
func metricNames(recs []checkpoints.HistoryRecord) []string {
	var names []string
	for _, r := range recs {
		for k := range r.Metrics {
			if !slices.Contains(names, k) {
				names = append(names, k)
			}
		}
	}
	slices.Sort(names)
	return names
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// writeHistoryCSV writes step, time (RFC 3339, UTC), loss, images_per_s,
// workers and one column per metric.
func writeHistoryCSV(w io.Writer, recs []checkpoints.HistoryRecord) error {
	names := metricNames(recs)
	cw := csv.NewWriter(w)
	if err := cw.Write(append([]string{"step", "time", "loss", "images_per_s", "workers"}, names...)); err != nil {
		return err
	}
	for _, r := range recs {
		row := []string{strconv.FormatUint(r.Step, 10), r.Time.UTC().Format(time.RFC3339Nano), formatFloat(r.Loss),
			formatFloat(r.ImagesPerSecond), strconv.Itoa(r.Workers)}
		for _, k := range names {
			v, ok := r.Metrics[k]
			if ok {
				row = append(row, formatFloat(v))
			} else {
				row = append(row, "")
			}
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// historyJSON is one record as --json writes it; JSON has no NaN or
// infinity, so those are null.
type historyJSON struct {
	Step            uint64              `json:"step"`
	Time            time.Time           `json:"time"`
	Loss            *float64            `json:"loss"`
	ImagesPerSecond *float64            `json:"images_per_s"`
	Workers         int                 `json:"workers"`
	Metrics         map[string]*float64 `json:"metrics,omitempty"`
}

func jsonFloat(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}

func writeHistoryJSON(w io.Writer, recs []checkpoints.HistoryRecord) error {
	out := make([]historyJSON, len(recs))
	for i, r := range recs {
		out[i] = historyJSON{Step: r.Step, Time: r.Time.UTC(), Loss: jsonFloat(r.Loss), ImagesPerSecond: jsonFloat(r.ImagesPerSecond), Workers: r.Workers}
		if len(r.Metrics) > 0 {
			out[i].Metrics = make(map[string]*float64, len(r.Metrics))
			for k, v := range r.Metrics {
				out[i].Metrics[k] = jsonFloat(v)
			}
		}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
