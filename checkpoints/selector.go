package checkpoints

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrBadSelector: a checkpoint selector is not latest, best or a step
// number.
var ErrBadSelector = errors.New("checkpoints: bad selector")

// Selector names one checkpoint of a job: the latest, the best (by the
// job's metric) or the one at a step. The zero Selector is the latest.
type Selector struct {
	best   bool
	atStep bool
	step   uint64
}

// ParseSelector reads "latest" (or ""), "best" or a step number. Its error
// wraps ErrBadSelector.
func ParseSelector(s string) (Selector, error) {
	switch s {
	case "", "latest":
		return Selector{}, nil
	case "best":
		return Selector{best: true}, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return Selector{}, fmt.Errorf("checkpoint %q: want latest, best or a step number: %w", s, ErrBadSelector)
	}
	return Selector{atStep: true, step: n}, nil
}

// String is the selector as ParseSelector reads it.
func (sel Selector) String() string {
	switch {
	case sel.best:
		return "best"
	case sel.atStep:
		return strconv.FormatUint(sel.step, 10)
	}
	return "latest"
}

// Select loads job's checkpoint that sel names (see Latest, Best and At).
func (s *Store) Select(job string, sel Selector) (*Checkpoint, error) {
	switch {
	case sel.best:
		return s.Best(job)
	case sel.atStep:
		return s.At(job, sel.step)
	}
	return s.Latest(job)
}
