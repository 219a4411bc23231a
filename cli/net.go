package cli

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/eval"
	"github.com/fsl-project/fsl/model"
)

// hostOf and portOf split a --listen address; a bad one gives port -1,
// which StartServer refuses with a message naming it.
func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

func portOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return -1
	}
	return n
}

// loadNet opens a job's checkpoint (latest, best or a step) from a store
// and builds the network it belongs to.
func loadNet(db, job, which string) (eval.Net, error) {
	st, err := checkpoints.Open(db, checkpoints.WithReadOnly())
	if err != nil {
		return eval.Net{}, err
	}
	defer st.Close()
	rec, err := st.Job(job)
	if err != nil {
		return eval.Net{}, fmt.Errorf("job %q in %s: %w", job, db, err)
	}
	var spec coordinator.JobSpec
	if err := json.Unmarshal(rec.Spec, &spec); err != nil {
		return eval.Net{}, fmt.Errorf("job %q in %s: spec: %w", job, db, err)
	}
	c, err := ckptResolve(st, job, which)
	if err != nil {
		return eval.Net{}, err
	}
	m, err := model.New(spec.WithDefaults().ModelConfig())
	if err != nil {
		return eval.Net{}, err
	}
	if len(c.Params) != m.NumParams() {
		return eval.Net{}, fmt.Errorf("checkpoint %d of job %s has %d parameters, the model %d", c.Step, job, len(c.Params), m.NumParams())
	}
	return eval.Net{Model: m, Params: c.Params, State: c.State}, nil
}
