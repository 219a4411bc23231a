package cli

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/urfave/cli/v2"
)

// checkpointsCommand is `fsl-coord checkpoints ls|show|export|import|prune`.
// Reading subcommands open the store read-only and never create it; the
// writing ones hold it only for their one transaction. While a coordinator
// holds the file they fail with a message that says so, after --lock-timeout.
func checkpointsCommand() *cli.Command {
	return &cli.Command{
		Name:  "checkpoints",
		Usage: "list, show, export, import and prune stored checkpoints, or delete a job",
		Description: "Examples:\n" +
			"   fsl-coord checkpoints ls --db fsl.db                    # every job in the store\n" +
			"   fsl-coord checkpoints ls --db fsl.db --job omni         # its checkpoints, best marked\n" +
			"   fsl-coord checkpoints export --db fsl.db --job omni --checkpoint best --format safetensors",
		Subcommands: []*cli.Command{
			{
				Name:  "ls",
				Usage: "list jobs, or with --job the checkpoints of one job",
				Description: "Examples:\n" +
					"   fsl-coord checkpoints ls                               # the jobs in fsl.db\n" +
					"   fsl-coord checkpoints ls --job fsl --json              # one job's checkpoints, with metrics",
				Flags:  []cli.Flag{ckptDBFlag(), ckptJobFlag(false), ckptJSONFlag(), ckptLockFlag()},
				Action: ckptList,
			},
			{
				Name:  "show",
				Usage: "show one checkpoint: step, metrics, and the SHA-256 of its parameters",
				Description: "Examples:\n" +
					"   fsl-coord checkpoints show --job fsl                   # the newest\n" +
					"   fsl-coord checkpoints show --job fsl --checkpoint best --json",
				Flags:  append([]cli.Flag{ckptDBFlag(), ckptJobFlag(true), ckptJSONFlag(), ckptLockFlag()}, ckptStepFlags()...),
				Action: ckptShow,
			},
			{
				Name: "export",
				Usage: "write one checkpoint and its job record to a self-describing file (--format fsl), " +
					"or its parameters and batch-norm statistics for PyTorch (--format safetensors)",
				Description: "Examples:\n" +
					"   fsl-coord checkpoints export --job omni --checkpoint best --out omni-best.fslck\n" +
					"   fsl-coord eval --from omni-best.fslck                 # evaluate it elsewhere\n" +
					"   fsl-coord checkpoints export --job omni --checkpoint best --format safetensors   # for PyTorch",
				Flags: append([]cli.Flag{ckptDBFlag(), ckptJobFlag(true), ckptLockFlag(),
					&cli.StringFlag{Name: "format", Value: "fsl", Usage: "fsl (for import, eval --from) or safetensors " +
						"(PyTorch names such as encoder.0.conv.weight; the model config, job and step in its metadata; eval --from reads it too)"},
					&cli.StringFlag{Name: "out", Usage: "file to write (default JOB-STEP.fslck or JOB-STEP.safetensors)"}}, ckptStepFlags()...),
				Action: ckptExport,
			},
			{
				Name:      "import",
				Usage:     "store a checkpoint from an export file (creating the job and the store if missing)",
				ArgsUsage: "FILE",
				Description: "Examples:\n" +
					"   fsl-coord checkpoints import omni-best.fslck --db other.db",
				Flags:  []cli.Flag{ckptDBFlag(), ckptLockFlag()},
				Action: ckptImport,
			},
			{
				Name:  "prune",
				Usage: "delete all but the newest and best checkpoints of a job (the best checkpoint is always kept)",
				Description: "Examples:\n" +
					"   fsl-coord checkpoints prune --job omni --keep-last 3",
				Flags: []cli.Flag{ckptDBFlag(), ckptJobFlag(true), ckptJSONFlag(), ckptLockFlag(),
					&cli.IntFlag{Name: "keep-last", Value: 5, Usage: "newest valid checkpoints to keep"},
					&cli.IntFlag{Name: "keep-best", Value: 1, Usage: "best checkpoints by the job's metric to keep"}},
				Action: ckptPrune,
			},
			{
				Name:  "rm",
				Usage: "delete a job from the store: its record, every checkpoint, its history and its queue entry (the ID is then free)",
				Description: "For a job of a running serving coordinator use fsl-coord jobs purge instead: it holds the queue.\n\n" +
					"Examples:\n" +
					"   fsl-coord checkpoints rm --db fsl.db --job lr-03",
				Flags:  []cli.Flag{ckptDBFlag(), ckptJobFlag(true), ckptJSONFlag(), ckptLockFlag()},
				Action: ckptRm,
			},
		},
	}
}

func ckptDBFlag() cli.Flag { return dbFlag("checkpoint store file") }

func ckptJobFlag(required bool) cli.Flag {
	return &cli.StringFlag{Name: "job", EnvVars: []string{"FSL_JOB"}, Usage: "job ID", Required: required}
}

// ckptStepFlags are --checkpoint (as eval names it) and its older name
// --step, hidden.
func ckptStepFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "checkpoint", Value: "latest", Usage: "checkpoint: latest, best or a step number"},
		&cli.StringFlag{Name: "step", Hidden: true, Usage: "older name of --checkpoint"},
	}
}

func ckptJSONFlag() cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: "print JSON instead of a table"}
}

func ckptLockFlag() cli.Flag {
	return &cli.DurationFlag{Name: "lock-timeout", Value: 5 * time.Second,
		Usage: "how long to wait for another process using the store (a coordinator holds it only while it writes)"}
}

func ckptOpen(c *cli.Context, write bool) (*checkpoints.Store, error) {
	if err := positiveDuration(c, "lock-timeout"); err != nil {
		return nil, err
	}
	opts := []checkpoints.Option{
		checkpoints.WithLockTimeout(c.Duration("lock-timeout")),
		checkpoints.WithLogger(slog.New(slog.NewTextHandler(c.App.ErrWriter, nil))),
		// Hold the file only per transaction, so a coordinator is never
		// blocked for long by this command.
		checkpoints.WithReleaseBetweenWrites(),
	}
	if !write {
		opts = append(opts, checkpoints.WithReadOnly())
	}
	return checkpoints.Open(c.String("db"), opts...)
}

// ckptResolve loads the checkpoint named by --step.
func ckptResolve(st *checkpoints.Store, job, step string) (*checkpoints.Checkpoint, error) {
	sel, err := checkpoints.ParseSelector(step)
	if err != nil {
		return nil, fmt.Errorf("--checkpoint: %w", err)
	}
	return st.Select(job, sel)
}

// ckptFloat prints NaN and infinities as JSON strings instead of failing.
type ckptFloat float64

func (f ckptFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return json.Marshal(strconv.FormatFloat(v, 'g', -1, 64))
	}
	return json.Marshal(v)
}

func ckptMetrics(m map[string]float64) map[string]ckptFloat {
	out := make(map[string]ckptFloat, len(m))
	for k, v := range m {
		out[k] = ckptFloat(v)
	}
	return out
}

// ckptMetricText prints metrics as "a=1 b=2" in name order.
func ckptMetricText(m map[string]float64) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = k + "=" + strconv.FormatFloat(m[k], 'g', 6, 64)
	}
	return strings.Join(parts, " ")
}

func ckptPrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

type ckptJobRow struct {
	ID          string    `json:"id"`
	Status      string    `json:"status"`
	Dataset     string    `json:"dataset,omitempty"`
	Checkpoints int       `json:"checkpoints"`
	Corrupt     int       `json:"corrupt"`
	Latest      *uint64   `json:"latest_step,omitempty"`
	Best        *uint64   `json:"best_step,omitempty"`
	Updated     time.Time `json:"updated"`
}

type ckptInfoRow struct {
	Step         uint64               `json:"step"`
	Created      time.Time            `json:"created,omitzero"`
	Metrics      map[string]ckptFloat `json:"metrics"`
	Params       int                  `json:"params"`
	State        int                  `json:"state"`
	Optimizer    int                  `json:"optimizer_values"`
	Bytes        int                  `json:"bytes"`
	ParamsSHA256 string               `json:"params_sha256,omitempty"`
	Best         bool                 `json:"best"`
	Error        string               `json:"error,omitempty"`
}

func ckptList(c *cli.Context) error {
	st, err := ckptOpen(c, false)
	if err != nil {
		return err
	}
	defer st.Close()
	w := c.App.Writer
	if job := c.String("job"); job != "" {
		infos, err := st.List(job)
		if err != nil {
			return err
		}
		rows := make([]ckptInfoRow, len(infos))
		for i, in := range infos {
			rows[i] = ckptInfoRow{Step: in.Step, Created: in.Created, Metrics: ckptMetrics(in.Metrics),
				Params: in.ParamCount, State: in.StateCount, Optimizer: in.OptimizerCount, Bytes: in.Bytes, Best: in.Best}
			if in.Err != nil {
				rows[i].Error = in.Err.Error()
			} else {
				rows[i].ParamsSHA256 = in.ParamsHash()
			}
		}
		if c.Bool("json") {
			return ckptPrintJSON(w, rows)
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "STEP\tCREATED\tMETRICS\tPARAMS\tBYTES\tPARAMS SHA256\tBEST\tSTATUS")
		for i, r := range rows {
			status, hash := "ok", r.ParamsSHA256
			if r.Error != "" {
				status, hash = "CORRUPT", "-"
			} else if len(hash) > 16 {
				hash = hash[:16]
			}
			best, created := "", "-"
			if r.Best {
				best = "*"
			}
			if !r.Created.IsZero() {
				created = r.Created.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", r.Step, created,
				ckptMetricText(infos[i].Metrics), r.Params, r.Bytes, hash, best, status)
		}
		return tw.Flush()
	}

	jobs, err := st.Jobs()
	if err != nil {
		return err
	}
	rows := make([]ckptJobRow, len(jobs))
	for i, j := range jobs {
		rows[i] = ckptJobRow{ID: j.ID, Status: string(j.Status), Dataset: j.Dataset, Updated: j.Updated}
		infos, err := st.List(j.ID)
		if err != nil {
			return err
		}
		for _, in := range infos {
			if in.Err != nil {
				rows[i].Corrupt++
				continue
			}
			rows[i].Checkpoints++
			step := in.Step
			rows[i].Latest = &step
			if in.Best {
				rows[i].Best = &step
			}
		}
	}
	if c.Bool("json") {
		return ckptPrintJSON(w, rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSTATUS\tCHECKPOINTS\tCORRUPT\tLATEST\tBEST\tUPDATED\tDATASET")
	opt := func(p *uint64) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatUint(*p, 10)
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", r.ID, r.Status, r.Checkpoints, r.Corrupt,
			opt(r.Latest), opt(r.Best), r.Updated.Format(time.RFC3339), r.Dataset)
	}
	return tw.Flush()
}

type ckptVectorRow struct {
	Name   string `json:"name"`
	Length int    `json:"length"`
}

type ckptShowOutput struct {
	Job          string               `json:"job"`
	Step         uint64               `json:"step"`
	Created      time.Time            `json:"created"`
	Metrics      map[string]ckptFloat `json:"metrics"`
	Params       int                  `json:"params"`
	ParamsSHA256 string               `json:"params_sha256"`
	State        int                  `json:"state"`
	Optimizer    struct {
		Kind    string               `json:"kind"`
		Step    uint64               `json:"step"`
		Scalars map[string]ckptFloat `json:"scalars"`
		Vectors []ckptVectorRow      `json:"vectors"`
	} `json:"optimizer"`
}

func ckptShow(c *cli.Context) error {
	st, err := ckptOpen(c, false)
	if err != nil {
		return err
	}
	defer st.Close()
	job := c.String("job")
	cp, err := ckptResolve(st, job, stringOf(c, "checkpoint", "step"))
	if err != nil {
		return err
	}
	sum := cp.ParamsSHA256()
	out := ckptShowOutput{Job: job, Step: cp.Step, Created: cp.Created, Metrics: ckptMetrics(cp.Metrics),
		Params: len(cp.Params), ParamsSHA256: hex.EncodeToString(sum[:]), State: len(cp.State)}
	out.Optimizer.Kind, out.Optimizer.Step = cp.Optimizer.Kind, cp.Optimizer.Step
	out.Optimizer.Scalars = ckptMetrics(cp.Optimizer.Scalars)
	for _, v := range cp.Optimizer.Vectors {
		out.Optimizer.Vectors = append(out.Optimizer.Vectors, ckptVectorRow{v.Name, len(v.Values)})
	}
	w := c.App.Writer
	if c.Bool("json") {
		return ckptPrintJSON(w, out)
	}
	vecs := make([]string, len(out.Optimizer.Vectors))
	for i, v := range out.Optimizer.Vectors {
		vecs[i] = fmt.Sprintf("%s[%d]", v.Name, v.Length)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "job\t%s\n", out.Job)
	fmt.Fprintf(tw, "step\t%d\n", out.Step)
	fmt.Fprintf(tw, "created\t%s\n", out.Created.Format(time.RFC3339Nano))
	fmt.Fprintf(tw, "metrics\t%s\n", ckptMetricText(cp.Metrics))
	fmt.Fprintf(tw, "params\t%d values\n", out.Params)
	fmt.Fprintf(tw, "params sha256\t%s\n", out.ParamsSHA256)
	fmt.Fprintf(tw, "state\t%d values\n", out.State)
	fmt.Fprintf(tw, "optimizer\t%s step %d; vectors %s; scalars %s\n", out.Optimizer.Kind, out.Optimizer.Step,
		strings.Join(vecs, " "), ckptMetricText(cp.Optimizer.Scalars))
	return tw.Flush()
}

func ckptExport(c *cli.Context) error {
	st, err := ckptOpen(c, false)
	if err != nil {
		return err
	}
	defer st.Close()
	job, out, format := c.String("job"), c.String("out"), c.String("format")
	if format != "fsl" && format != "safetensors" {
		return fmt.Errorf("--format %q: want fsl or safetensors", format)
	}
	cp, err := ckptResolve(st, job, stringOf(c, "checkpoint", "step"))
	if err != nil {
		return err
	}
	if out == "" {
		ext := map[string]string{"fsl": "fslck", "safetensors": "safetensors"}[format]
		out = fmt.Sprintf("%s-%d.%s", strings.NewReplacer("/", "_", `\`, "_").Replace(job), cp.Step, ext)
	}
	if format == "safetensors" {
		rec, err := st.Job(job)
		if err != nil {
			return err
		}
		s, err := safetensorsOf(rec, cp)
		if err != nil {
			return err
		}
		if err := checkpoints.WriteSafetensorsFile(out, s); err != nil {
			return err
		}
	} else if err := st.ExportFile(job, cp.Step, out); err != nil {
		return err
	}
	sum := cp.ParamsSHA256()
	fmt.Fprintf(c.App.Writer, "exported job %s step %d to %s (params sha256 %s)\n", job, cp.Step, out, hex.EncodeToString(sum[:]))
	return nil
}

func ckptImport(c *cli.Context) error {
	if c.NArg() != 1 {
		return errors.New("import: want exactly one FILE argument")
	}
	file := c.Args().First()
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := ckptOpen(c, true)
	if err != nil {
		return err
	}
	defer st.Close()
	job, step, err := st.Import(f)
	if err != nil {
		return fmt.Errorf("import %q: %w", file, err)
	}
	fmt.Fprintf(c.App.Writer, "imported job %s step %d into %s\n", job, step, c.String("db"))
	return nil
}

func ckptRm(c *cli.Context) error {
	st, err := ckptOpen(c, true)
	if err != nil {
		return err
	}
	defer st.Close()
	job := c.String("job")
	n, err := st.DeleteJob(job)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return ckptPrintJSON(c.App.Writer, struct {
			Job         string `json:"job"`
			Checkpoints int    `json:"checkpoints_deleted"`
		}{job, n})
	}
	fmt.Fprintf(c.App.Writer, "deleted job %s: %d checkpoints, its history and queue entry\n", job, n)
	return nil
}

func ckptPrune(c *cli.Context) error {
	if err := nonNegative(c, "keep-last", "keep-best"); err != nil {
		return err
	}
	st, err := ckptOpen(c, true)
	if err != nil {
		return err
	}
	defer st.Close()
	job := c.String("job")
	deleted, err := st.Prune(job, c.Int("keep-last"), c.Int("keep-best"))
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return ckptPrintJSON(c.App.Writer, struct {
			Job     string   `json:"job"`
			Deleted []uint64 `json:"deleted"`
		}{job, append([]uint64{}, deleted...)})
	}
	steps := make([]string, len(deleted))
	for i, s := range deleted {
		steps[i] = strconv.FormatUint(s, 10)
	}
	fmt.Fprintf(c.App.Writer, "pruned job %s: deleted %d checkpoints %s\n", job, len(deleted), strings.Join(steps, " "))
	return nil
}
