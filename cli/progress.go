package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fsl-project/fsl/coordinator"
)

// progressOn reads --progress (and the older --quiet): whether this
// command shows progress on w, its stderr. auto shows it only when w is a
// terminal, so output piped or logged stays free of it.
func progressOn(c *cli.Context, w io.Writer) (bool, error) {
	if c.Bool("quiet") {
		return false, nil
	}
	switch mode := c.String("progress"); mode {
	case "", "auto":
		return isTerminal(w), nil
	case "always":
		return true, nil
	case "never":
		return false, nil
	default:
		return false, fmt.Errorf("--progress %q: want auto, always or never", mode)
	}
}

// isTerminal says whether w is a terminal: a character device, not a
// file or pipe (/dev/null counts as one; what goes there is lost anyway).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressLine prints the live training line: step/total, loss, images/s,
// workers, ETA. On a terminal it rewrites one line; elsewhere (--progress
// always into a log) it prints a line every 10% of the job, so the loss is
// seen going down; with --log-format json those lines are JSON records.
type progressLine struct {
	w       io.Writer
	on      bool
	tty     bool
	json    *slog.Logger // with --log-format json: lines as records
	last    time.Time
	from    int // the step this process started at (a resumed job's checkpoint)
	seen    bool
	printed int // last step printed on a non-terminal
	open    bool
}

// newProgressLine makes the progress line of a command with --progress
// (and --log-format, when it has one), on its stderr.
func newProgressLine(c *cli.Context) (*progressLine, error) {
	w := c.App.ErrWriter
	on, err := progressOn(c, w)
	if err != nil {
		return nil, err
	}
	p := &progressLine{w: w, on: on, tty: isTerminal(w)}
	if c.String("log-format") == "json" {
		p.json, p.tty = slog.New(slog.NewJSONHandler(w, nil)), false
	}
	return p, nil
}

func (p *progressLine) step(pr coordinator.Progress) {
	if !p.seen {
		p.seen, p.from, p.printed = true, pr.Step-1, pr.Step-1
	}
	if !p.on {
		return
	}
	last := pr.Step == pr.Steps
	if p.tty {
		if !last && time.Since(p.last) < 200*time.Millisecond {
			return
		}
		p.last = time.Now()
		fmt.Fprintf(p.w, "\r\033[K%s", formatProgress(pr, p.from))
		p.open = true
		return
	}
	every := max(1, pr.Steps/10)
	if !last && pr.Step-p.printed < every {
		return
	}
	p.printed = pr.Step
	if p.json != nil {
		args := []any{"step", pr.Step, "steps", pr.Steps, "loss", pr.Loss, "images_per_s", imagesPerSecond(pr), "workers", pr.Workers}
		if eta, ok := progressETA(pr, p.from); ok {
			args = append(args, "eta_s", eta.Seconds())
		}
		if acc, ok := pr.Validation["val_acc"]; ok {
			args = append(args, "val_acc", acc)
		}
		p.json.Info("progress", args...)
		return
	}
	fmt.Fprintln(p.w, formatProgress(pr, p.from))
}

func (p *progressLine) finish() {
	if p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
}

func imagesPerSecond(pr coordinator.Progress) float64 {
	if pr.Elapsed <= 0 {
		return 0
	}
	return float64(pr.Images) / pr.Elapsed.Seconds()
}

// progressETA is the time left at the pace of this process: pr.Elapsed
// over the steps done since from (a resumed job's steps before from took
// no time here).
func progressETA(pr coordinator.Progress, from int) (time.Duration, bool) {
	done := pr.Step - from
	if done < 1 || pr.Elapsed <= 0 {
		return 0, false
	}
	return pr.Elapsed / time.Duration(done) * time.Duration(pr.Steps-pr.Step), true
}

func formatProgress(pr coordinator.Progress, from int) string {
	eta := "?"
	if left, ok := progressETA(pr, from); ok {
		eta = left.Round(time.Second).String()
	}
	val := ""
	if acc, ok := pr.Validation["val_acc"]; ok {
		val = fmt.Sprintf("  val %.1f%%", 100*acc)
	}
	return fmt.Sprintf("step %d/%d  loss %.4f%s  %.0f images/s  workers %d  ETA %s",
		pr.Step, pr.Steps, pr.Loss, val, imagesPerSecond(pr), pr.Workers, eta)
}
