package coordinator

import (
	"embed"
	"encoding/json"
	"io/fs"
	"math"
	"sync"
	"time"

	"github.com/fsl-project/fsl/checkpoints"
)

// dashboardFiles is the live dashboard: plain HTML, CSS and JavaScript
// served from the binary, with no CDN and no network of its own. It polls
// /status, /history, /checkpoints and /evaluation.
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
	Images  int     `json:"images"`    // images since this process started (0 when restored)
	Elapsed float64 `json:"elapsed_s"` // seconds since this process started (negative when restored)
	// Time is when the step was applied, in seconds since the Unix epoch.
	Time float64 `json:"time"`
	// ImagesPerSecond is the throughput, smoothed over about
	// throughputWindow of wall time.
	ImagesPerSecond float64 `json:"images_per_s"`
	Workers         int     `json:"workers"`
	// Restored marks a step applied before this process started, read
	// back from the checkpoint store's history.
	Restored bool `json:"restored,omitempty"`
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
	Step     int                `json:"step"`
	Metrics  map[string]float64 `json:"metrics"`
	Restored bool               `json:"restored,omitempty"`
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
	start  time.Time // Elapsed 0: when the history was made
	limit  int
	stride int
	steps  []StepPoint
	last   StepPoint // newest step, kept even when the stride skips it
	seen   bool
	rate   throughput
	val    []ValidationPoint
	ckpt   []CheckpointPoint
}

// NewHistory returns a history keeping at most limit points per series
// (DefaultHistoryPoints when limit < 4), its Elapsed 0 now.
func NewHistory(limit int) *History {
	if limit < 4 {
		limit = DefaultHistoryPoints
	}
	return &History{start: time.Now(), limit: limit, stride: 1}
}

// throughput is images per second, an exponential moving average whose
// weight follows wall time, so the curve's smoothness does not depend on
// the step rate.
type throughput struct {
	images  int
	elapsed float64
	seen    bool
	rate    float64
}

// update takes the images computed and the seconds elapsed since the
// process started, after a step, and returns the smoothed rate.
func (t *throughput) update(images int, elapsed float64) float64 {
	if t.seen {
		if dt := elapsed - t.elapsed; dt > 0 {
			inst := float64(images-t.images) / dt
			a := 1 - math.Exp(-dt/throughputWindow.Seconds())
			t.rate += a * (inst - t.rate)
		}
	} else if elapsed > 0 {
		t.rate = float64(images) / elapsed
	}
	t.images, t.elapsed, t.seen = images, elapsed, true
	return t.rate
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

// StepApplied implements Observer. A step at or before the newest one kept
// (a resumed job recomputing steps after its checkpoint) replaces it and
// every later point.
func (h *History) StepApplied(p Progress) {
	h.mu.Lock()
	defer h.mu.Unlock()
	el := p.Elapsed.Seconds()
	rate := h.rate.update(p.Images, el)
	t := h.start.Add(p.Elapsed)
	h.add(StepPoint{Step: p.Step, Loss: p.Loss, Images: p.Images, Elapsed: el, ImagesPerSecond: rate, Workers: p.Workers,
		Time: float64(t.UnixNano()) / 1e9})
}

func (h *History) add(pt StepPoint) {
	for n := len(h.steps); n > 0 && h.steps[n-1].Step >= pt.Step; n-- {
		h.steps = h.steps[:n-1]
	}
	for n := len(h.val); n > 0 && h.val[n-1].Step > pt.Step; n-- {
		h.val = h.val[:n-1]
	}
	h.last, h.seen = pt, true
	if n := len(h.steps); n > 0 && pt.Step-h.steps[n-1].Step < h.stride {
		return
	}
	if len(h.steps) >= h.limit {
		h.steps = halve(h.steps)
		h.stride *= 2
	}
	h.steps = append(h.steps, pt)
}

// Restore puts steps applied before this process started, from the
// checkpoint store (checkpoints.Store.History), before the live ones; call
// it before the first step. Each is marked Restored.
func (h *History) Restore(recs []checkpoints.HistoryRecord) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range recs {
		pt := StepPoint{Step: int(r.Step), Loss: r.Loss, Elapsed: r.Time.Sub(h.start).Seconds(), Time: float64(r.Time.UnixNano()) / 1e9,
			ImagesPerSecond: r.ImagesPerSecond, Workers: r.Workers, Restored: true}
		h.add(pt)
		if len(r.Metrics) > 0 {
			h.addValidation(ValidationPoint{Step: pt.Step, Metrics: finiteMetrics(r.Metrics), Restored: true})
		}
	}
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
	h.addValidation(ValidationPoint{Step: step, Metrics: cp})
}

// addValidation appends v, replacing points at or after its step.
func (h *History) addValidation(v ValidationPoint) {
	for n := len(h.val); n > 0 && h.val[n-1].Step >= v.Step; n-- {
		h.val = h.val[:n-1]
	}
	if len(h.val) >= h.limit {
		h.val = halve(h.val)
	}
	h.val = append(h.val, v)
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
