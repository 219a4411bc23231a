package wire

// StatusRequest asks the coordinator for the job's status on
// Subjects.Status; the reply is a Status.
type StatusRequest struct{}

// Type implements Message.
func (*StatusRequest) Type() Type { return TypeStatusRequest }

func (*StatusRequest) sizeHint() int   { return 0 }
func (*StatusRequest) encode(*encoder) {}
func (*StatusRequest) decode(*decoder) {}

// Status carries the job's status in an encoding the coordinator and its
// readers agree on; opaque to wire.
type Status struct {
	Body []byte
}

// Type implements Message.
func (*Status) Type() Type { return TypeStatus }

func (m *Status) sizeHint() int { return 4 + len(m.Body) }

func (m *Status) encode(e *encoder) { e.bytes("body", m.Body) }

func (m *Status) decode(d *decoder) { m.Body = d.bytes("body") }

// CheckpointRequest asks the running coordinator for a checkpoint on
// Subjects.Checkpoint, for readers that cannot open the store while
// training holds it. The reply is a Checkpoint, or an Error with
// CodeNotFound.
type CheckpointRequest struct {
	// Which selects the checkpoint: "latest", "best" or a step number.
	Which string
}

// Type implements Message.
func (*CheckpointRequest) Type() Type { return TypeCheckpointRequest }

func (m *CheckpointRequest) sizeHint() int { return 4 + len(m.Which) }

func (m *CheckpointRequest) encode(e *encoder) { e.str("which", m.Which) }

func (m *CheckpointRequest) decode(d *decoder) { m.Which = d.str("which") }

// Checkpoint carries one checkpoint in the store's export encoding; opaque
// to wire.
type Checkpoint struct {
	Step uint64
	Body []byte
}

// Type implements Message.
func (*Checkpoint) Type() Type { return TypeCheckpoint }

func (m *Checkpoint) sizeHint() int { return 12 + len(m.Body) }

func (m *Checkpoint) encode(e *encoder) {
	e.U64(m.Step)
	e.bytes("body", m.Body)
}

func (m *Checkpoint) decode(d *decoder) {
	m.Step = d.U64("step")
	m.Body = d.bytes("body")
}

// Command is a request to a serving coordinator (fsl-coord serve) on one of
// the ServeSubjects: an assignment asked for by a pool worker, or a query
// or change of its job queue. Its body is in an encoding the coordinator
// and its clients agree on (JSON); opaque to wire. The reply is a Status
// (its body likewise), a Wait, or an Error.
type Command struct {
	Body []byte
}

// Type implements Message.
func (*Command) Type() Type { return TypeCommand }

func (m *Command) sizeHint() int { return 4 + len(m.Body) }

func (m *Command) encode(e *encoder) { e.bytes("body", m.Body) }

func (m *Command) decode(d *decoder) { m.Body = d.bytes("body") }
