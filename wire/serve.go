package wire

import (
	"encoding/json"
	"fmt"
	"time"
)

// AssignRequest is a Command body on ServeSubjects.Assign: a worker that
// is not pinned to a job asks a serving coordinator which job to work for.
type AssignRequest struct {
	Op     string `json:"op"` // "assign"
	Worker string `json:"worker"`
	// Job, when set, asks only whether the coordinator knows that job (a
	// worker pinned with --job): the reply assigns it, or is an Error with
	// CodeNotFound.
	Job string `json:"job,omitempty"`
	// Avoid lists jobs that refused the worker (another compute class, a
	// ban): the coordinator assigns it none of them.
	Avoid []string `json:"avoid,omitempty"`
}

// Assignment is the Status body that answers an AssignRequest: work for
// Job, for For (zero: until the job ends), then ask again. A coordinator
// with nothing to run answers Wait instead.
type Assignment struct {
	Job string        `json:"job"`
	For time.Duration `json:"for_ns,omitempty"`
	// Last: the coordinator runs this job alone (fsl-coord start); when it
	// ends the worker is done too.
	Last bool `json:"last,omitempty"`
}

// NewCommand returns a Command whose body is v in JSON.
func NewCommand(v any) (*Command, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("wire: command: %w", err)
	}
	return &Command{Body: b}, nil
}

// NewStatus returns a Status whose body is v in JSON.
func NewStatus(v any) (*Status, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("wire: status: %w", err)
	}
	return &Status{Body: b}, nil
}

// DecodeStatus reads a reply that should be a Status with a JSON body
// into v; an Error reply is returned as the error.
func DecodeStatus(m Message, v any) error {
	switch r := m.(type) {
	case *Status:
		if err := json.Unmarshal(r.Body, v); err != nil {
			return fmt.Errorf("wire: status body: %w: %w", ErrMalformed, err)
		}
		return nil
	case *Error:
		return r
	case nil:
		return fmt.Errorf("wire: no reply: %w", ErrMalformed)
	}
	return fmt.Errorf("wire: reply is %s, want status: %w", m.Type(), ErrMalformed)
}
