package cli

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/fsl-project/fsl/coordinator"
)

// progressLine prints the live training line: step/total, loss, images/s,
// workers, ETA. On a terminal it rewrites one line; elsewhere (logs, CI) it
// prints a line every 10% of the job, so the loss is seen going down.
type progressLine struct {
	w       io.Writer
	quiet   bool
	tty     bool
	last    time.Time
	printed int // last step printed on a non-terminal
	open    bool
}

func newProgressLine(w io.Writer, quiet bool) *progressLine {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil {
			tty = st.Mode()&os.ModeCharDevice != 0
		}
	}
	return &progressLine{w: w, quiet: quiet, tty: tty}
}

func (p *progressLine) step(pr coordinator.Progress) {
	if p.quiet {
		return
	}
	last := pr.Step == pr.Steps
	if p.tty {
		if !last && time.Since(p.last) < 200*time.Millisecond {
			return
		}
		p.last = time.Now()
		fmt.Fprintf(p.w, "\r\033[K%s", formatProgress(pr))
		p.open = true
		return
	}
	every := max(1, pr.Steps/10)
	if !last && pr.Step-p.printed < every {
		return
	}
	p.printed = pr.Step
	fmt.Fprintln(p.w, formatProgress(pr))
}

func (p *progressLine) finish() {
	if p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
}

func formatProgress(pr coordinator.Progress) string {
	rate := float64(pr.Images) / pr.Elapsed.Seconds()
	eta := "?"
	if pr.Step > 0 && pr.Elapsed > 0 {
		perStep := pr.Elapsed / time.Duration(max(1, pr.Images))
		left := time.Duration(pr.Steps-pr.Step) * perStep * time.Duration(pr.Images/max(1, pr.Step))
		eta = left.Round(time.Second).String()
	}
	val := ""
	if acc, ok := pr.Validation["val_acc"]; ok {
		val = fmt.Sprintf("  val %.1f%%", 100*acc)
	}
	return fmt.Sprintf("step %d/%d  loss %.4f%s  %.0f images/s  workers %d  ETA %s",
		pr.Step, pr.Steps, pr.Loss, val, rate, pr.Workers, eta)
}
