package wire

import "fmt"

// Code classifies an Error reply.
type Code uint8

const (
	// CodeStaleVersion: the requested version or step is no longer current.
	CodeStaleVersion Code = iota + 1
	// CodeNotFound: the requested item does not exist.
	CodeNotFound
	// CodeBadRequest: the request was invalid (unknown worker, wrong job).
	CodeBadRequest
	// CodeUnavailable: the responder cannot answer now; retry later.
	CodeUnavailable
	// CodeInternal: the responder failed.
	CodeInternal
	// CodeWrongClass: the worker computes other bits than the job's
	// workers (another compute class); it must not work for the job.
	CodeWrongClass
	// CodeBanned: the job banned the worker (a result of it differed from
	// the bits two other workers agreed on); it must not work for the job.
	CodeBanned
)

// String names the code for errors and logs.
func (c Code) String() string {
	switch c {
	case CodeStaleVersion:
		return "stale version"
	case CodeNotFound:
		return "not found"
	case CodeBadRequest:
		return "bad request"
	case CodeUnavailable:
		return "unavailable"
	case CodeInternal:
		return "internal error"
	case CodeWrongClass:
		return "wrong compute class"
	case CodeBanned:
		return "banned"
	}
	return fmt.Sprintf("code(%d)", uint8(c))
}

// Error is a negative reply to a request. It is also a Go error: Request
// returns it as the error, and errors.Is matches it against ErrStaleVersion
// (CodeStaleVersion), ErrNotFound (CodeNotFound), ErrWrongClass
// (CodeWrongClass), ErrBanned (CodeBanned) or ErrRejected (any code).
type Error struct {
	Code Code
	// Text explains the refusal to a human.
	Text string
}

// Type implements Message.
func (*Error) Type() Type { return TypeError }

// Error implements error.
func (m *Error) Error() string {
	if m.Text == "" {
		return "wire: rejected: " + m.Code.String()
	}
	return "wire: rejected: " + m.Code.String() + ": " + m.Text
}

// Is makes errors.Is(err, ErrStaleVersion) and friends work on replies.
func (m *Error) Is(target error) bool {
	switch target {
	case ErrRejected:
		return true
	case ErrStaleVersion:
		return m.Code == CodeStaleVersion
	case ErrNotFound:
		return m.Code == CodeNotFound
	case ErrWrongClass:
		return m.Code == CodeWrongClass
	case ErrBanned:
		return m.Code == CodeBanned
	}
	return false
}

func (m *Error) sizeHint() int { return 5 + len(m.Text) }

func (m *Error) encode(e *encoder) {
	e.U8(uint8(m.Code))
	e.str("text", m.Text)
}

func (m *Error) decode(d *decoder) {
	m.Code = Code(d.U8("code"))
	m.Text = d.str("text")
}
