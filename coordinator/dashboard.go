package coordinator

import (
	"embed"
	"encoding/json"
	"io/fs"
	"math"
	"sync"
	"time"
)

// dashboardFiles is the live dashboard: plain HTML, CSS and JavaScript
// served from the binary, with no CDN and no network of its own. It polls
// /status and /history.
//
//go:embed dashboard
var dashboardFiles embed.FS

// DashboardFS returns the dashboard's static files (index.html at the root).
func DashboardFS() fs.FS {
	sub, err := fs.Sub(dashboardFiles, "dashboard")
	if err != nil { // the folder is embedded above: cannot happen
		panic(err)
	}
	return sub
}

// DefaultHistoryPoints bounds the per-step series a History keeps.
const DefaultHistoryPoints = 2048

// StepPoint is one applied step in a History.
type StepPoint struct {
	Step    int     `json:"step"`
	Loss    float64 `json:"loss"`
	Images  int     `json:"images"`    // images since this process started
	Elapsed float64 `json:"elapsed_s"` // seconds since this process started
	// ImagesPerSecond is the throughput, smoothed over about
	// throughputWindow of wall time.
	ImagesPerSecond float64 `json:"images_per_s"`
	Workers         int     `json:"workers"`
}

// MarshalJSON writes a non-finite loss as null (JSON has no NaN).
func (p StepPoint) MarshalJSON() ([]byte, error) {
	type plain StepPoint
	return json.Marshal(struct {
		plain
		Loss            *float64 `json:"loss"`
		ImagesPerSecond *float64 `json:"images_per_s"`
	}{plain(p), finite(p.Loss), finite(p.ImagesPerSecond)})
}

// ValidationPoint is one validation in a History.
type ValidationPoint struct {
	Step    int                `json:"step"`
	Metrics map[string]float64 `json:"metrics"`
}

// CheckpointPoint is one checkpoint write in a History.
type CheckpointPoint struct {
	Step    int     `json:"step"`
	Seconds float64 `json:"seconds"`
}

// HistorySnapshot is what /history serves, as JSON.
type HistorySnapshot struct {
	// Stride is the number of steps between kept points (1 until the
	// series first fills up; it doubles each time it does).
	Stride      int               `json:"stride"`
	Steps       []StepPoint       `json:"steps"`
	Validation  []ValidationPoint `json:"validation"`
	Checkpoints []CheckpointPoint `json:"checkpoints"`
}

// throughputWindow is the time constant of the smoothed throughput.
const throughputWindow = 2 * time.Second

// History keeps the series the dashboard draws, bounded in memory: at most
// limit step points, and as many validation and checkpoint points. When a
// series fills up, every other point is dropped and the stride doubles, so
// it always spans the whole run at a coarser grain; the newest step is
// always kept. It is an Observer, safe for concurrent use.
type History struct {
	mu     sync.Mutex
	limit  int
	stride int
	steps  []StepPoint
	last   StepPoint // newest step, kept even when the stride skips it
	seen   bool
	rate   float64
	val    []ValidationPoint
	ckpt   []CheckpointPoint
}

// NewHistory returns a history keeping at most limit points per series
// (DefaultHistoryPoints when limit < 4).
func NewHistory(limit int) *History {
	if limit < 4 {
		limit = DefaultHistoryPoints
	}
	return &History{limit: limit, stride: 1}
}

// halve drops every other point of s, keeping the first.
func halve[T any](s []T) []T {
	n := 0
	for i := 0; i < len(s); i += 2 {
		s[n] = s[i]
		n++
	}
	clear(s[n:])
	return s[:n]
}

// StepApplied implements Observer.
func (h *History) StepApplied(p Progress) {
	h.mu.Lock()
	defer h.mu.Unlock()
	el := p.Elapsed.Seconds()
	if h.seen {
		dt := el - h.last.Elapsed
		if dt > 0 {
			inst := float64(p.Images-h.last.Images) / dt
			// An exponential moving average whose weight follows wall time,
			// so the curve's smoothness does not depend on the step rate.
			a := 1 - math.Exp(-dt/throughputWindow.Seconds())
			h.rate += a * (inst - h.rate)
		}
	} else if el > 0 {
		h.rate = float64(p.Images) / el
	}
	pt := StepPoint{Step: p.Step, Loss: p.Loss, Images: p.Images, Elapsed: el, ImagesPerSecond: h.rate, Workers: p.Workers}
	h.last, h.seen = pt, true
	if n := len(h.steps); n > 0 && p.Step-h.steps[n-1].Step < h.stride {
		return
	}
	if len(h.steps) >= h.limit {
		h.steps = halve(h.steps)
		h.stride *= 2
	}
	h.steps = append(h.steps, pt)
}

// Checkpointed implements Observer.
func (h *History) Checkpointed(step int, took time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.ckpt) >= h.limit {
		h.ckpt = halve(h.ckpt)
	}
	h.ckpt = append(h.ckpt, CheckpointPoint{Step: step, Seconds: took.Seconds()})
}

// Validated implements Observer; metrics is copied.
func (h *History) Validated(step int, metrics map[string]float64) {
	cp := make(map[string]float64, len(metrics))
	for k, v := range metrics {
		if finite(v) != nil { // JSON has no NaN
			cp[k] = v
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.val) >= h.limit {
		h.val = halve(h.val)
	}
	h.val = append(h.val, ValidationPoint{Step: step, Metrics: cp})
}

// Snapshot returns a copy of the series, the newest step last. Its slices
// are never nil, so they encode as JSON arrays.
func (h *History) Snapshot() HistorySnapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := HistorySnapshot{
		Stride:      h.stride,
		Steps:       make([]StepPoint, len(h.steps), len(h.steps)+1),
		Validation:  make([]ValidationPoint, len(h.val)),
		Checkpoints: make([]CheckpointPoint, len(h.ckpt)),
	}
	copy(s.Steps, h.steps)
	if n := len(s.Steps); h.seen && (n == 0 || s.Steps[n-1].Step != h.last.Step) {
		s.Steps = append(s.Steps, h.last)
	}
	// Validation metrics maps are never written after Validated copied
	// them, so sharing them is safe.
	copy(s.Validation, h.val)
	copy(s.Checkpoints, h.ckpt)
	return s
}
