package wire

import "fmt"

// SubjectPrefix is the first token of every fsl subject.
const SubjectPrefix = "fsl"

// MaxJobLen is the longest job ID Subjects accepts, in bytes.
const MaxJobLen = 128

// Subjects are the NATS subjects of one job. Build them with NewSubjects; the
// zero value has empty subjects and must not be used.
type Subjects struct {
	// Job is the validated job ID.
	Job string
	// Join: a worker announces itself (request Join, reply JoinAck).
	Join string
	// Work: a worker asks for a shard (request WorkRequest, reply Lease,
	// Wait or Done).
	Work string
	// Result: workers publish Result messages (chunked).
	Result string
	// Params: a worker asks for a parameter version (request ParamsRequest,
	// reply Params, chunked, or Error with CodeStaleVersion).
	Params string
	// Heartbeat: workers publish Heartbeat messages.
	Heartbeat string
	// Ctl: the coordinator publishes Ctl messages (done, drain).
	Ctl string
	// Status: readers ask for the job's status (request StatusRequest,
	// reply Status).
	Status string
	// Checkpoint: readers ask for a checkpoint while training runs (request
	// CheckpointRequest, reply Checkpoint, chunked).
	Checkpoint string
}

// NewSubjects returns the subjects of job. A job ID is 1..MaxJobLen bytes of
// ASCII letters, digits, '-' and '_': dots would add subject tokens, '*' and
// '>' are NATS wildcards and whitespace ends a subject, so all are refused
// with an error wrapping ErrInvalidJob.
func NewSubjects(job string) (Subjects, error) {
	if err := ValidateJob(job); err != nil {
		return Subjects{}, err
	}
	p := SubjectPrefix + "." + job + "."
	return Subjects{
		Job:        job,
		Join:       p + "join",
		Work:       p + "work",
		Result:     p + "result",
		Params:     p + "params",
		Heartbeat:  p + "hb",
		Ctl:        p + "ctl",
		Status:     p + "status",
		Checkpoint: p + "ckpt",
	}, nil
}

// ValidateJob reports whether job can be used as a job ID (see NewSubjects).
func ValidateJob(job string) error {
	if job == "" {
		return fmt.Errorf("job ID is empty: %w", ErrInvalidJob)
	}
	if len(job) > MaxJobLen {
		return fmt.Errorf("job ID %.20q... is %d bytes, longer than %d: %w", job, len(job), MaxJobLen, ErrInvalidJob)
	}
	for i := 0; i < len(job); i++ {
		c := job[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		if !ok {
			return fmt.Errorf("job ID %q: byte %d is %q; use only letters, digits, '-' and '_' (no dots, wildcards or spaces): %w",
				job, i, job[i:i+1], ErrInvalidJob)
		}
	}
	return nil
}

// ServeSubjects are the subjects of a serving coordinator (fsl-coord serve),
// shared by all its jobs. Their second token, "$serve", cannot be a job ID,
// so they never collide with a job's subjects.
type ServeSubjects struct {
	// Assign: a worker not pinned to a job asks which job to work for
	// (request Command, reply Status naming the job, or Wait).
	Assign string
	// Jobs: readers list and show the queue's jobs and their results
	// (request Command, reply Status).
	Jobs string
	// Admin: submit, cancel, pause, resume and remove jobs (request
	// Command, reply Status); the coordinator role only.
	Admin string
}

// Serve is the one set of ServeSubjects.
var Serve = ServeSubjects{
	Assign: SubjectPrefix + ".$serve.assign",
	Jobs:   SubjectPrefix + ".$serve.jobs",
	Admin:  SubjectPrefix + ".$serve.admin",
}
