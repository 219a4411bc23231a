package coordinator

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// JobResult is one job's final metrics, as fsl-coord results lists them.
type JobResult struct {
	// ID is the job's ID and Name its sweep's name ("" for a job of no
	// sweep).
	ID, Name string
	Spec     JobSpec
	// Params are the job's swept values (SweepJob.Params).
	Params map[string]string
	// Metrics are the job's final figures by name ("test_acc").
	Metrics map[string]float64
}

// MetricCI is one metric over the jobs of a group: its mean and the
// half-width of its confidence interval over N jobs (NaN when N is 1).
type MetricCI struct {
	Mean, Half float64
	N          int
}

// ResultGroup is the jobs that share the values of the group-by keys.
type ResultGroup struct {
	// Key maps each group-by key to the group's value, as SpecField
	// writes it.
	Key map[string]string
	// Jobs are the IDs of the group's jobs, in the order of the rows.
	Jobs []string
	// Metrics summarise each metric over the jobs that have it.
	Metrics map[string]MetricCI
}

// IntervalFunc returns the mean of a sample and the half-width of its
// confidence interval; eval.TInterval95 is the one fsl-coord results uses
// (coordinator may not import eval).
type IntervalFunc func(xs []float64) (mean, half float64, err error)

// GroupResults groups rows by the values of the keys in by, each a key of
// SpecKeys (read from the row's Spec) or "name" (the row's Name); an empty
// by means DefaultGroupBy(rows). For each group and metric, ci summarises
// the metric over the group's rows that have it. Groups are sorted by their
// values in the order of by, numbers as numbers.
func GroupResults(rows []JobResult, by []string, ci IntervalFunc) ([]ResultGroup, error) {
	if ci == nil {
		return nil, errors.New("group results: no interval function")
	}
	if len(by) == 0 {
		by = DefaultGroupBy(rows)
	}
	for i, k := range by {
		if slices.Contains(by[:i], k) {
			return nil, fmt.Errorf("group by %s: the key is given twice", k)
		}
		if k == "name" {
			continue
		}
		if _, err := SpecField(JobSpec{}, k); err != nil {
			return nil, fmt.Errorf("group by %s: %w", k, err)
		}
	}

	var groups []ResultGroup
	var metrics []map[string][]float64 // per group: metric → values, in the order of the rows
	index := map[string]int{}          // a group's values, joined → its index in groups
	for _, r := range rows {
		key := make(map[string]string, len(by))
		parts := make([]string, len(by))
		for i, k := range by {
			v := r.Name
			if k != "name" {
				var err error
				if v, err = SpecField(r.Spec, k); err != nil {
					return nil, fmt.Errorf("job %s: group by %s: %w", r.ID, k, err)
				}
			}
			key[k], parts[i] = v, v
		}
		joined := strings.Join(parts, "\x00")
		g, ok := index[joined]
		if !ok {
			g = len(groups)
			index[joined] = g
			groups = append(groups, ResultGroup{Key: key, Metrics: map[string]MetricCI{}})
			metrics = append(metrics, map[string][]float64{})
		}
		groups[g].Jobs = append(groups[g].Jobs, r.ID)
		for name, x := range r.Metrics {
			metrics[g][name] = append(metrics[g][name], x)
		}
	}
	for g := range groups {
		for _, name := range slices.Sorted(maps.Keys(metrics[g])) {
			xs := metrics[g][name]
			mean, half, err := ci(xs)
			if err != nil {
				return nil, fmt.Errorf("group %s: metric %s over %d jobs: %w", describeKey(by, groups[g].Key), name, len(xs), err)
			}
			groups[g].Metrics[name] = MetricCI{Mean: mean, Half: half, N: len(xs)}
		}
	}
	slices.SortStableFunc(groups, func(a, b ResultGroup) int {
		for _, k := range by {
			if c := compareValues(a.Key[k], b.Key[k]); c != 0 {
				return c
			}
		}
		return 0
	})
	return groups, nil
}

// DefaultGroupBy is GroupResults' grouping when none is given: every key
// that a row's sweep varied except seed (the seeds of one setting are what
// a group's interval is over), in sorted order, after "name" when the rows
// come from more than one sweep, so that no group mixes sweeps.
func DefaultGroupBy(rows []JobResult) []string {
	var keys []string
	names := map[string]bool{}
	for _, r := range rows {
		names[r.Name] = true
		for k := range r.Params {
			if k != "seed" && !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	if len(names) > 1 {
		keys = append([]string{"name"}, keys...)
	}
	return keys
}

// compareValues orders two group values: as numbers when both are, else
// as strings.
func compareValues(a, b string) int {
	fa, errA := strconv.ParseFloat(a, 64)
	fb, errB := strconv.ParseFloat(b, 64)
	if errA == nil && errB == nil {
		if c := cmp.Compare(fa, fb); c != 0 {
			return c
		}
	}
	return strings.Compare(a, b)
}

// describeKey writes a group's values in the order of by: "loss=proto
// optimizer.lr=0.001".
func describeKey(by []string, key map[string]string) string {
	if len(by) == 0 {
		return "of all jobs"
	}
	parts := make([]string, len(by))
	for i, k := range by {
		parts[i] = k + "=" + key[k]
	}
	return strings.Join(parts, " ")
}
