package coordinator

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseSetReadsKeyAndTrimmedValues(t *testing.T) {
	tests := []struct {
		expr string
		want SetExpr
	}{
		{"optimizer.lr=1e-3,5e-4", SetExpr{"optimizer.lr", []string{"1e-3", "5e-4"}}},
		{" optimizer.lr = 1e-3 , 5e-4 ", SetExpr{"optimizer.lr", []string{"1e-3", "5e-4"}}},
		{"loss=proto", SetExpr{"loss", []string{"proto"}}},
		{"triplet.mining=batch-hard,semi-hard", SetExpr{"triplet.mining", []string{"batch-hard", "semi-hard"}}},
		{"seed=1,2,3", SetExpr{"seed", []string{"1", "2", "3"}}},
		{"lease_timeout=30s,1m", SetExpr{"lease_timeout", []string{"30s", "1m"}}},
		{"optimizer.schedule.kind=cosine", SetExpr{"optimizer.schedule.kind", []string{"cosine"}}},
		{"steps=1e4", SetExpr{"steps", []string{"1e4"}}},
	}
	for _, tc := range tests {
		got, err := ParseSet(tc.expr)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseSet(%q) = %+v, %v; want %+v", tc.expr, got, err, tc.want)
		}
	}
}

func TestParseSetRejectsBadExpressionsNamingTheFault(t *testing.T) {
	tests := []struct {
		name, expr string
		want       []string // substrings of the error
	}{
		{"no equals sign", "optimizer.lr", []string{`"optimizer.lr"`, "no '='"}},
		{"empty key", " =1e-3", []string{"key before '=' is empty"}},
		{"empty value", "optimizer.lr=", []string{"value 1 of optimizer.lr is empty"}},
		{"empty value in a list", "optimizer.lr=1e-3,,5e-4", []string{"value 2 of optimizer.lr is empty"}},
		{"repeated value", "steps=10,10", []string{"value 10 of steps is given twice"}},
		{"unknown field of a block", "optimizer.lrr=1", []string{`unknown key "optimizer.lrr"`, `optimizer has no field "lrr"`, "optimizer.lr,"}},
		{"unknown top-level key suggests the nested one", "lr=1e-3", []string{`unknown key "lr"`, "did you mean optimizer.lr", "a job has id, loss"}},
		{"unknown key with nothing like it", "colour=red", []string{`unknown key "colour"`, "optimizer.*"}},
		{"a field of a scalar", "steps.max=3", []string{`unknown key "steps.max"`, "steps is a scalar (int)"}},
		{"a block", "optimizer=adam", []string{`key "optimizer" is a block`, "optimizer.lr"}},
		{"id", "id=a,b", []string{"id cannot be swept", "--name"}},
		{"not a number", "optimizer.lr=fast", []string{"optimizer.lr=fast", "want a finite number"}},
		{"not finite", "optimizer.lr=NaN", []string{"optimizer.lr=NaN", "want a finite number"}},
		{"not whole", "steps=10,1.5", []string{"steps=1.5", "whole number"}},
		{"negative seed", "seed=-1", []string{"seed=-1", "whole number from 0"}},
		{"not a bool", "rotations=yes", []string{"rotations=yes", "true or false"}},
		{"not a duration", "lease_timeout=30", []string{"lease_timeout=30", "want a duration such as 30s", "missing unit"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSet(tc.expr)
			if err == nil {
				t.Fatalf("ParseSet(%q) = nil error, want one containing %q", tc.expr, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ParseSet(%q) error %q does not contain %q", tc.expr, err, w)
				}
			}
		})
	}
}

func TestWithFieldSetsYAMLScalarsAndSpecFieldWritesThem(t *testing.T) {
	tests := []struct {
		key, value string
		want       string // SpecField after WithField
		check      func(JobSpec) bool
	}{
		{"optimizer.lr", "1e-3", "0.001", func(s JobSpec) bool { return s.Optimizer.LR == 1e-3 }},
		{"optimizer.lr", "1e-5", "1e-05", func(s JobSpec) bool { return s.Optimizer.LR == 1e-5 }},
		{"margin", "0.2", "0.2", func(s JobSpec) bool { return s.Margin == 0.2 }},
		{"steps", "1e4", "10000", func(s JobSpec) bool { return s.Steps == 10000 }},
		{"steps", "-3", "-3", func(s JobSpec) bool { return s.Steps == -3 }},
		{"seed", "18446744073709551615", "18446744073709551615", func(s JobSpec) bool { return s.Seed == 1<<64-1 }},
		{"rotations", "True", "true", func(s JobSpec) bool { return s.Rotations }},
		{"optimizer.nesterov", "false", "false", func(s JobSpec) bool { return !s.Optimizer.Nesterov }},
		{"lease_timeout", "90s", "1m30s", func(s JobSpec) bool { return time.Duration(s.LeaseTimeout) == 90*time.Second }},
		{"loss", "triplet", "triplet", func(s JobSpec) bool { return s.Loss == "triplet" }},
		{"triplet.mining", "semi-hard", "semi-hard", func(s JobSpec) bool { return s.Triplet.Mining == "semi-hard" }},
		{"optimizer.schedule.warmup_steps", "50", "50", func(s JobSpec) bool { return s.Optimizer.Schedule.WarmupSteps == 50 }},
		{"id", "job-7", "job-7", func(s JobSpec) bool { return s.ID == "job-7" }},
	}
	for _, tc := range tests {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			base := DefaultSpec()
			s, err := WithField(base, tc.key, tc.value)
			if err != nil {
				t.Fatalf("WithField(%s, %s): %v", tc.key, tc.value, err)
			}
			if !tc.check(s) {
				t.Fatalf("WithField(%s, %s) = %+v: field not set", tc.key, tc.value, s)
			}
			if changes := DiffSpecs(base, s); len(changes) > 1 {
				t.Errorf("WithField(%s, %s) changed more than the field: %v", tc.key, tc.value, changes)
			}
			got, err := SpecField(s, tc.key)
			if err != nil || got != tc.want {
				t.Errorf("SpecField(%s) = %q, %v; want %q", tc.key, got, err, tc.want)
			}
		})
	}
}

func TestSpecKeysAreTheScalarFieldsAndEachReadsBack(t *testing.T) {
	keys := SpecKeys()
	for _, want := range []string{"id", "loss", "steps", "seed", "lease_timeout", "triplet.mining", "optimizer.lr", "optimizer.schedule.kind"} {
		if !slices.Contains(keys, want) {
			t.Errorf("SpecKeys() lacks %s: %v", want, keys)
		}
	}
	for _, block := range []string{"optimizer", "triplet", "optimizer.schedule"} {
		if slices.Contains(keys, block) {
			t.Errorf("SpecKeys() lists the block %s", block)
		}
	}
	// Every key reads back what it writes: SpecField's form is WithField's input.
	s := DefaultSpec()
	for _, k := range keys {
		v, err := SpecField(s, k)
		if err != nil {
			t.Fatalf("SpecField(%s): %v", k, err)
		}
		again, err := WithField(s, k, v)
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Errorf("WithField(%s, SpecField = %q) = %v; want the spec unchanged", k, v, err)
		}
	}
}

func TestExpandSweepOfTwoRatesAndThreeSeeds(t *testing.T) {
	base := DefaultSpec()
	base.ID = "base"
	lr, err := ParseSet("optimizer.lr=1e-3,5e-4")
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := ExpandSweep(base, "lr-sweep", []uint64{1, 2, 3}, []SetExpr{lr})
	if err != nil {
		t.Fatalf("ExpandSweep: %v", err)
	}
	want := []struct {
		id   string
		lr   float64
		seed uint64
	}{
		{"lr-sweep-01", 1e-3, 1}, {"lr-sweep-02", 1e-3, 2}, {"lr-sweep-03", 1e-3, 3},
		{"lr-sweep-04", 5e-4, 1}, {"lr-sweep-05", 5e-4, 2}, {"lr-sweep-06", 5e-4, 3},
	}
	if len(jobs) != len(want) {
		t.Fatalf("ExpandSweep made %d jobs, want %d", len(jobs), len(want))
	}
	for i, w := range want {
		j := jobs[i]
		wantSpec := base
		wantSpec.ID, wantSpec.Optimizer.LR, wantSpec.Seed = w.id, w.lr, w.seed
		if !reflect.DeepEqual(j.Spec, wantSpec) {
			t.Errorf("job %d: spec differs from the base by %v, want ID %s lr %v seed %d", i, DiffSpecs(base, j.Spec), w.id, w.lr, w.seed)
		}
		wantParams := map[string]string{"optimizer.lr": fmt.Sprint(w.lr), "seed": fmt.Sprint(w.seed)}
		if !reflect.DeepEqual(j.Params, wantParams) {
			t.Errorf("job %s: params %v, want %v", j.Spec.ID, j.Params, wantParams)
		}
	}
}

func TestExpandSweepOrderAndNames(t *testing.T) {
	base := DefaultSpec()
	base.ID = "mine"
	loss := SetExpr{"loss", []string{"proto", "matching"}}
	shot := SetExpr{"shot", []string{"1", "5"}}
	tests := []struct {
		name   string
		sweep  string
		seeds  []uint64
		sets   []SetExpr
		ids    []string
		params []map[string]string
	}{
		{"one job without a name keeps the base ID", "", nil, nil, []string{"mine"}, []map[string]string{{}}},
		{"one value without a name keeps the base ID", "", nil, []SetExpr{{"steps", []string{"10"}}},
			[]string{"mine"}, []map[string]string{{"steps": "10"}}},
		{"one job with a name is numbered", "try", nil, nil, []string{"try-01"}, []map[string]string{{}}},
		{"the name defaults to the base ID", "", []uint64{4, 5}, nil,
			[]string{"mine-01", "mine-02"}, []map[string]string{{"seed": "4"}, {"seed": "5"}}},
		{"earlier sets vary slowest", "grid", nil, []SetExpr{loss, shot},
			[]string{"grid-01", "grid-02", "grid-03", "grid-04"},
			[]map[string]string{{"loss": "proto", "shot": "1"}, {"loss": "proto", "shot": "5"},
				{"loss": "matching", "shot": "1"}, {"loss": "matching", "shot": "5"}}},
		{"a seed set by --set is a param", "s", nil, []SetExpr{{"seed", []string{"7", "8"}}},
			[]string{"s-01", "s-02"}, []map[string]string{{"seed": "7"}, {"seed": "8"}}},
		{"params hold the values after defaults", "d", nil, []SetExpr{{"optimizer.lr", []string{"0", "0.01"}}},
			[]string{"d-01", "d-02"}, []map[string]string{{"optimizer.lr": "0.001"}, {"optimizer.lr": "0.01"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			jobs, err := ExpandSweep(base, tc.sweep, tc.seeds, tc.sets)
			if err != nil {
				t.Fatalf("ExpandSweep: %v", err)
			}
			var ids []string
			var params []map[string]string
			for _, j := range jobs {
				ids = append(ids, j.Spec.ID)
				params = append(params, j.Params)
			}
			if !slices.Equal(ids, tc.ids) || !reflect.DeepEqual(params, tc.params) {
				t.Fatalf("ExpandSweep = IDs %v params %v; want %v %v", ids, params, tc.ids, tc.params)
			}
		})
	}
}

func TestExpandSweepPadsIDsToTheCount(t *testing.T) {
	seeds := make([]uint64, 120)
	for i := range seeds {
		seeds[i] = uint64(i + 1)
	}
	jobs, err := ExpandSweep(DefaultSpec(), "wide", seeds, nil)
	if err != nil {
		t.Fatal(err)
	}
	if first, last := jobs[0].Spec.ID, jobs[len(jobs)-1].Spec.ID; first != "wide-001" || last != "wide-120" {
		t.Fatalf("IDs %s..%s, want wide-001..wide-120", first, last)
	}
}

func TestExpandSweepRejectsBadSweepsNamingTheFault(t *testing.T) {
	many := func(n int) []string {
		var v []string
		for i := range n {
			v = append(v, fmt.Sprint(i+1))
		}
		return v
	}
	tests := []struct {
		name  string
		sweep string
		seeds []uint64
		sets  []SetExpr
		want  []string
	}{
		{"a value of the wrong type", "s", nil, []SetExpr{{"optimizer.lr", []string{"1e-3", "fast"}}},
			[]string{"--set optimizer.lr", "optimizer.lr=fast", "finite number"}},
		{"an unknown key", "s", nil, []SetExpr{{"optimiser.lr", []string{"1"}}}, []string{`unknown key "optimiser.lr"`}},
		{"the ID", "s", nil, []SetExpr{{"id", []string{"a", "b"}}}, []string{"id cannot be swept"}},
		{"a key twice", "s", nil, []SetExpr{{"steps", []string{"1"}}, {"steps", []string{"2"}}}, []string{"--set steps is given twice"}},
		{"seed by --set and --seeds", "s", []uint64{1, 2}, []SetExpr{{"seed", []string{"3"}}}, []string{"--set seed and --seeds"}},
		{"a set of no values", "s", nil, []SetExpr{{"steps", nil}}, []string{"--set steps has no values"}},
		{"a job that does not validate", "v", []uint64{1, 2}, []SetExpr{{"verify", []string{"0.5", "2"}}},
			[]string{"sweep job v-03 (verify=2 seed=1)", "verify 2, want 0 (off) to 1"}},
		{"a name that is no job ID", "lr.sweep", []uint64{1, 2}, nil, []string{`--name "lr.sweep"`, "no dots"}},
		{"too many jobs", "s", nil, []SetExpr{{"steps", many(11)}, {"shot", many(10)}, {"way", many(10)}},
			[]string{"more than 1000 jobs", "steps 11 × shot 10 × way 10"}},
		{"too many seeds", "s", make([]uint64, 1001), nil, []string{"more than 1000 jobs", "seeds 1001"}},
		{"two values that are one", "s", nil, []SetExpr{{"optimizer.lr", []string{"1e-3", "0.001"}}},
			[]string{"s-01 (optimizer.lr=0.001) and s-02 (optimizer.lr=0.001) would train the same spec"}},
		{"a zero seed is the default seed", "s", []uint64{0, 1}, nil, []string{"s-01 (seed=1) and s-02 (seed=1)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			jobs, err := ExpandSweep(DefaultSpec(), tc.sweep, tc.seeds, tc.sets)
			if err == nil {
				t.Fatalf("ExpandSweep made %d jobs, want an error containing %q", len(jobs), tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ExpandSweep error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestExpandSweepNamesTheBaseIDWhenItNamesNoJobs(t *testing.T) {
	base := DefaultSpec()
	base.ID = "a b"
	_, err := ExpandSweep(base, "", []uint64{1, 2}, nil)
	if err == nil || !strings.Contains(err.Error(), `--name "a b" (default: the job's ID)`) {
		t.Fatalf("ExpandSweep of base ID %q = %v, want an error naming --name", base.ID, err)
	}
}

// FuzzParseSet checks that no --set panics, and that every value of one
// that parses sets its field and reads back through SpecField.
func FuzzParseSet(f *testing.F) {
	for _, s := range []string{"optimizer.lr=1e-3,5e-4", "steps=1e4", "seed=18446744073709551615", "lease_timeout=30s",
		"optimizer.=1", "a..b=2", "=", ",=,", "rotations=TRUE", "steps=9223372036854775807,-1e300"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		set, err := ParseSet(expr)
		if err != nil {
			return
		}
		for _, v := range set.Values {
			s, err := WithField(DefaultSpec(), set.Key, v)
			if err != nil {
				t.Fatalf("ParseSet(%q) accepted %q, which WithField rejects: %v", expr, v, err)
			}
			if _, err := SpecField(s, set.Key); err != nil {
				t.Fatalf("SpecField(%s) after ParseSet(%q): %v", set.Key, expr, err)
			}
		}
	})
}
