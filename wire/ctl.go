package wire

import "fmt"

// CtlKind says what a Ctl message asks of workers.
type CtlKind uint8

const (
	// CtlDone: the job has finished; workers stop.
	CtlDone CtlKind = iota + 1
	// CtlDrain: finish the current lease, ask for no more, then exit.
	CtlDrain
	// CtlHello: a coordinator process has started serving the job with
	// Epoch. A worker that knew another epoch stops waiting on requests
	// to the old process and asks the new one at once.
	CtlHello
)

// String names the kind for logs.
func (k CtlKind) String() string {
	switch k {
	case CtlDone:
		return "done"
	case CtlDrain:
		return "drain"
	case CtlHello:
		return "hello"
	}
	return fmt.Sprintf("ctl(%d)", uint8(k))
}

// Ctl is a control message the coordinator publishes on Subjects.Ctl.
type Ctl struct {
	Kind CtlKind
	// Worker is the WorkerID addressed, or "" for every worker.
	Worker string
	// FinalVersion is the job's last parameter version (CtlDone).
	FinalVersion uint64
	// Reason says why, for logs.
	Reason string
	// Epoch identifies the coordinator process that sent the message:
	// random, new at every start (see JoinAck.Epoch).
	Epoch uint64
}

// Type implements Message.
func (*Ctl) Type() Type { return TypeCtl }

func (m *Ctl) sizeHint() int { return 28 + len(m.Worker) + len(m.Reason) }

func (m *Ctl) encode(e *encoder) {
	e.U8(uint8(m.Kind))
	e.str("worker", m.Worker)
	e.U64(m.FinalVersion)
	e.str("reason", m.Reason)
	e.U64(m.Epoch)
}

func (m *Ctl) decode(d *decoder) {
	m.Kind = CtlKind(d.U8("kind"))
	if d.Err() == nil && (m.Kind < CtlDone || m.Kind > CtlHello) {
		d.Failf("kind", "unknown control kind %d", uint8(m.Kind))
	}
	m.Worker = d.str("worker")
	m.FinalVersion = d.U64("final_version")
	m.Reason = d.str("reason")
	m.Epoch = d.U64("epoch")
}
