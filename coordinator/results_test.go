package coordinator

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

// testInterval is a 95% Student's t interval for up to three values (the
// t quantiles of 1 and 2 degrees of freedom from tables), as
// eval.TInterval95 computes it for any number.
func testInterval(xs []float64) (mean, half float64, err error) {
	t975 := map[int]float64{1: 12.7062047, 2: 4.3026527}
	n := len(xs)
	if n == 0 || n > 3 {
		return 0, 0, fmt.Errorf("testInterval of %d values", n)
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(n)
	if n == 1 {
		return mean, math.NaN(), nil
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, t975[n-1] * math.Sqrt(ss/float64(n-1)) / math.Sqrt(float64(n)), nil
}

func TestGroupResultsOfTwoRatesOverThreeSeeds(t *testing.T) {
	lr, err := ParseSet("optimizer.lr=1e-3,5e-4")
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := ExpandSweep(DefaultSpec(), "lr", []uint64{1, 2, 3}, []SetExpr{lr})
	if err != nil {
		t.Fatal(err)
	}
	// lr-1..3 have lr 0.001, lr-4..6 0.0005; val_acc is missing from two jobs.
	metrics := []map[string]float64{
		{"test_acc": 0.95, "val_acc": 0.8}, {"test_acc": 0.96}, {"test_acc": 0.97},
		{"test_acc": 0.90, "val_acc": 0.5}, {"test_acc": 0.94, "val_acc": 0.7}, {"test_acc": 0.92},
	}
	var rows []JobResult
	for i, j := range jobs {
		rows = append(rows, JobResult{ID: j.Spec.ID, Name: "lr", Spec: j.Spec, Params: j.Params, Metrics: metrics[i]})
	}
	groups, err := GroupResults(rows, nil, testInterval)
	if err != nil {
		t.Fatalf("GroupResults: %v", err)
	}
	type want struct {
		key     map[string]string
		jobs    []string
		metrics map[string]MetricCI
	}
	wants := []want{
		// 0.0005 sorts before 0.001 as a number. test_acc: mean 0.92, s 0.02,
		// half 4.302653 * 0.02 / sqrt(3) = 0.0496828; val_acc: mean 0.6,
		// s 0.141421, half 12.706205 * 0.141421 / sqrt(2) = 1.2706205.
		{map[string]string{"optimizer.lr": "0.0005"}, []string{"lr-04", "lr-05", "lr-06"},
			map[string]MetricCI{"test_acc": {0.92, 0.0496828, 3}, "val_acc": {0.6, 1.2706205, 2}}},
		// test_acc: mean 0.96, s 0.01, half 4.302653 * 0.01 / sqrt(3) = 0.0248414;
		// val_acc: one job, no interval.
		{map[string]string{"optimizer.lr": "0.001"}, []string{"lr-01", "lr-02", "lr-03"},
			map[string]MetricCI{"test_acc": {0.96, 0.0248414, 3}, "val_acc": {0.8, math.NaN(), 1}}},
	}
	if len(groups) != len(wants) {
		t.Fatalf("GroupResults made %d groups, want %d: %+v", len(groups), len(wants), groups)
	}
	for i, w := range wants {
		g := groups[i]
		if !reflect.DeepEqual(g.Key, w.key) || !reflect.DeepEqual(g.Jobs, w.jobs) || len(g.Metrics) != len(w.metrics) {
			t.Errorf("group %d = %v %v %v, want %v %v and metrics %v", i, g.Key, g.Jobs, g.Metrics, w.key, w.jobs, w.metrics)
			continue
		}
		for name, wm := range w.metrics {
			m := g.Metrics[name]
			halfOK := math.Abs(m.Half-wm.Half) < 1e-6 || math.IsNaN(m.Half) && math.IsNaN(wm.Half)
			if m.N != wm.N || math.Abs(m.Mean-wm.Mean) > 1e-12 || !halfOK {
				t.Errorf("group %v %s = %+v, want %+v", g.Key, name, m, wm)
			}
		}
	}
}

func TestGroupResultsGroupsAndOrdersByTheKeys(t *testing.T) {
	row := func(id, name string, params map[string]string, set ...string) JobResult {
		s := DefaultSpec()
		for i := 0; i < len(set); i += 2 {
			var err error
			if s, err = WithField(s, set[i], set[i+1]); err != nil {
				t.Fatal(err)
			}
		}
		return JobResult{ID: id, Name: name, Spec: s, Params: params, Metrics: map[string]float64{"acc": 1}}
	}
	lr := func(v string) map[string]string { return map[string]string{"optimizer.lr": v, "seed": "1"} }
	rows := []JobResult{
		row("a-01", "a", lr("0.001"), "optimizer.lr", "0.001", "loss", "proto"),
		row("a-02", "a", lr("5e-05"), "optimizer.lr", "5e-05", "loss", "proto"),
		row("a-03", "a", lr("0.0001"), "optimizer.lr", "0.0001", "loss", "matching"),
		row("b-01", "b", map[string]string{"loss": "matching"}, "optimizer.lr", "0.001", "loss", "matching"),
	}
	tests := []struct {
		name string
		by   []string
		keys []string // each group's values, joined by " "
		jobs []string // each group's jobs, joined by " "
	}{
		{"by a key, string values in order", []string{"loss"}, []string{"matching", "proto"}, []string{"a-03 b-01", "a-01 a-02"}},
		{"by a rate, numbers in numeric order", []string{"optimizer.lr"}, []string{"5e-05", "0.0001", "0.001"}, []string{"a-02", "a-03", "a-01 b-01"}},
		{"by name", []string{"name"}, []string{"a", "b"}, []string{"a-01 a-02 a-03", "b-01"}},
		{"by two keys, the first the slowest", []string{"loss", "optimizer.lr"},
			[]string{"matching 0.0001", "matching 0.001", "proto 5e-05", "proto 0.001"}, []string{"a-03", "b-01", "a-02", "a-01"}},
		// Two sweeps: by name, then by every swept key but seed.
		{"by default", nil, []string{"a matching 0.0001", "a proto 5e-05", "a proto 0.001", "b matching 0.001"},
			[]string{"a-03", "a-02", "a-01", "b-01"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			groups, err := GroupResults(rows, tc.by, testInterval)
			if err != nil {
				t.Fatalf("GroupResults: %v", err)
			}
			by := tc.by
			if by == nil {
				by = DefaultGroupBy(rows)
			}
			var keys, jobs []string
			for _, g := range groups {
				var vals []string
				for _, k := range by {
					vals = append(vals, g.Key[k])
				}
				keys = append(keys, strings.Join(vals, " "))
				jobs = append(jobs, strings.Join(g.Jobs, " "))
			}
			if !reflect.DeepEqual(keys, tc.keys) || !reflect.DeepEqual(jobs, tc.jobs) {
				t.Fatalf("GroupResults by %v = groups %q of jobs %q; want %q of %q", by, keys, jobs, tc.keys, tc.jobs)
			}
		})
	}
	if got, want := DefaultGroupBy(rows), []string{"name", "loss", "optimizer.lr"}; !reflect.DeepEqual(got, want) {
		t.Errorf("DefaultGroupBy = %v, want %v", got, want)
	}
	if got, want := DefaultGroupBy(rows[:3]), []string{"optimizer.lr"}; !reflect.DeepEqual(got, want) {
		t.Errorf("DefaultGroupBy of one sweep = %v, want %v", got, want)
	}
}

func TestGroupResultsRejectsBadGroupingsNamingTheFault(t *testing.T) {
	rows := []JobResult{{ID: "j-01", Spec: DefaultSpec(), Metrics: map[string]float64{"acc": 0.5}}}
	failing := func([]float64) (float64, float64, error) { return 0, 0, errors.New("no interval") }
	tests := []struct {
		name string
		by   []string
		ci   IntervalFunc
		want []string
	}{
		{"an unknown key", []string{"optimizer.rate"}, testInterval, []string{"group by optimizer.rate", `unknown key "optimizer.rate"`}},
		{"a block", []string{"triplet"}, testInterval, []string{"group by triplet", "is a block"}},
		{"a key twice", []string{"loss", "loss"}, testInterval, []string{"group by loss: the key is given twice"}},
		{"no interval function", nil, nil, []string{"no interval function"}},
		{"an interval that fails", []string{"loss"}, failing, []string{"group loss=proto: metric acc over 1 jobs: no interval"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			groups, err := GroupResults(rows, tc.by, tc.ci)
			if err == nil {
				t.Fatalf("GroupResults = %+v, want an error containing %q", groups, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("GroupResults error %q does not contain %q", err, w)
				}
			}
		})
	}
}
