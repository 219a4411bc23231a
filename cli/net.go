package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/eval"
	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/wire"
	"github.com/fsl-project/fsl/wire/transport"
)

// hostOf is the host of an address ("" for ":4222"), or the address
// itself when it has no port.
func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

// listenAddr splits --listen into the embedded server's host and port,
// refusing an address without a port, a port that is not a number and
// one out of 0..65535: each would otherwise start the server on a random
// port (or wait for one that cannot be bound).
func listenAddr(c *cli.Context) (host string, port int, err error) {
	addr := c.String("listen")
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("--listen %q: want HOST:PORT (127.0.0.1:4222; port 0: any free port): %w", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("--listen %q: port %q, want a number from 0 (any free port) to 65535", addr, p)
	}
	return h, n, nil
}

// loadedCheckpoint is one checkpoint with the record of its job, where it
// was read from and why it was chosen (for messages).
type loadedCheckpoint struct {
	rec    checkpoints.JobRecord
	ckpt   *checkpoints.Checkpoint
	source string
	why    string
}

// chosenBecause says why ckpt is the checkpoint sel asked for: "the
// newest", "best by val_acc 0.93", "step 300, as asked".
func chosenBecause(sel checkpoints.Selector, rec checkpoints.JobRecord, ckpt *checkpoints.Checkpoint) string {
	switch sel.String() {
	case "best":
		metric := rec.BestMetric
		if metric == "" {
			metric = checkpoints.DefaultBestMetric
		}
		if v, ok := ckpt.Metrics[metric]; ok {
			return fmt.Sprintf("best by %s %.4g", metric, v)
		}
		return "best by " + metric
	case "latest":
		return "the newest"
	}
	return fmt.Sprintf("step %d, as asked", ckpt.Step)
}

// loadNet opens a job's checkpoint (latest, best or a step) from a store
// and builds the network it belongs to.
func loadNet(db, job string, which checkpoints.Selector) (eval.Net, error) {
	lc, err := readCheckpoint(db, job, which, 0)
	if err != nil {
		return eval.Net{}, err
	}
	net, _, err := buildNet(lc)
	return net, err
}

// readCheckpoint reads job's checkpoint which from the store db, opened
// read-only; lockTimeout <= 0 keeps the store's default. A store held by a
// running coordinator gives an error wrapping checkpoints.ErrLocked.
func readCheckpoint(db, job string, which checkpoints.Selector, lockTimeout time.Duration) (loadedCheckpoint, error) {
	st, err := checkpoints.Open(db, checkpoints.WithReadOnly(), checkpoints.WithLockTimeout(lockTimeout))
	if err != nil {
		return loadedCheckpoint{}, err
	}
	defer st.Close()
	rec, err := st.Job(job)
	if errors.Is(err, checkpoints.ErrNotFound) {
		return loadedCheckpoint{}, fmt.Errorf("job %q is not in %s%s: %w", job, db, jobList(st), err)
	}
	if err != nil {
		return loadedCheckpoint{}, fmt.Errorf("job %q in %s: %w", job, db, err)
	}
	c, err := st.Select(job, which)
	if errors.Is(err, checkpoints.ErrNotFound) && which.String() == "best" {
		// No validation has run: the newest checkpoint, saying so.
		if c, lerr := st.Latest(job); lerr == nil {
			return loadedCheckpoint{rec: rec, ckpt: c, source: db,
				why: "the newest, as no checkpoint of the job is validated (start --eval-every N validates and keeps the best)"}, nil
		}
	}
	if err != nil {
		return loadedCheckpoint{}, fmt.Errorf("job %q in %s: checkpoint %s: %w", job, db, which, err)
	}
	return loadedCheckpoint{rec: rec, ckpt: c, source: db, why: chosenBecause(which, rec, c)}, nil
}

// jobList names the jobs a store holds, for an unknown-job message.
func jobList(st *checkpoints.Store) string {
	jobs, err := st.Jobs()
	if err != nil {
		return ""
	}
	if len(jobs) == 0 {
		return " (it holds no jobs)"
	}
	ids := make([]string, 0, len(jobs))
	for _, j := range jobs {
		ids = append(ids, strconv.Quote(j.ID))
	}
	if len(ids) > 10 {
		ids = append(ids[:10], "...")
	}
	return " (it holds " + strings.Join(ids, ", ") + ")"
}

// readExportFile reads a checkpoint export (fsl-coord checkpoints export,
// in fsl's format or as safetensors).
func readExportFile(path string) (loadedCheckpoint, error) {
	lc, err := readCheckpointFile(path)
	if err != nil {
		return loadedCheckpoint{}, fmt.Errorf("--from: %w", err)
	}
	return lc, nil
}

// readExport verifies and decodes an export.
func readExport(name string, r io.Reader) (loadedCheckpoint, error) {
	rec, c, err := checkpoints.ReadExport(r)
	if err != nil {
		return loadedCheckpoint{}, fmt.Errorf("%s: %w", name, err)
	}
	return loadedCheckpoint{rec: rec, ckpt: c, source: name}, nil
}

// fetchCheckpoint asks the coordinator of job at url, connected with conn,
// for checkpoint which.
func fetchCheckpoint(ctx context.Context, url string, conn transport.ConnectOptions, job, which string, timeout time.Duration) (loadedCheckpoint, error) {
	subj, err := wire.NewSubjects(job)
	if err != nil {
		return loadedCheckpoint{}, fmt.Errorf("job %q: %w", job, err)
	}
	nc, err := transport.Connect(url, conn)
	if err != nil {
		return loadedCheckpoint{}, fmt.Errorf("--nats %s: %w", url, err)
	}
	defer nc.Close()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	reply, err := nc.Request(ctx, subj.Checkpoint, &wire.CheckpointRequest{Which: which})
	if err != nil {
		return loadedCheckpoint{}, fmt.Errorf("ask the coordinator of job %q for checkpoint %s: %w", job, which, err)
	}
	m, ok := reply.(*wire.Checkpoint)
	if !ok {
		return loadedCheckpoint{}, fmt.Errorf("ask the coordinator of job %q for checkpoint %s: reply is a %s, want a checkpoint", job, which, reply.Type())
	}
	lc, err := readExport("the coordinator's reply", bytes.NewReader(m.Body))
	if err != nil {
		return lc, err
	}
	if lc.rec.ID != job {
		return lc, fmt.Errorf("asked the coordinator for job %q, got job %q", job, lc.rec.ID)
	}
	lc.source = "the coordinator at " + url
	return lc, nil
}

// buildNet decodes a job's spec and builds the network of its checkpoint,
// refusing parameters that do not fit the network the spec describes.
func buildNet(lc loadedCheckpoint) (eval.Net, coordinator.JobSpec, error) {
	spec, err := coordinator.DecodeSpec(lc.rec)
	if err != nil {
		return eval.Net{}, spec, fmt.Errorf("%s: %w", lc.source, err)
	}
	m, err := model.New(spec.ModelConfig())
	if err != nil {
		return eval.Net{}, spec, fmt.Errorf("job %q in %s: %w", lc.rec.ID, lc.source, err)
	}
	net, err := eval.NewNet(m, lc.rec.Layout, lc.ckpt.Params, lc.ckpt.State)
	if err != nil {
		return net, spec, fmt.Errorf("job %q in %s, checkpoint %d, spec (loss %s, %d×%d images): %w",
			lc.rec.ID, lc.source, lc.ckpt.Step, spec.Loss, spec.Size, spec.Size, err)
	}
	return net, spec, nil
}
