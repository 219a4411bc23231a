package cli

import "testing"

func TestParseMachineCPU(t *testing.T) {
	for _, tc := range []struct {
		name, stat string
		want       machineCPU
	}{
		{"a Linux /proc/stat", "cpu  10 20 30 400 5 6 7 8 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n",
			machineCPU{busy: 10 + 20 + 30 + 6 + 7 + 8, all: 10 + 20 + 30 + 6 + 7 + 8 + 400 + 5, ok: true}},
		{"an old kernel without steal", "cpu  10 20 30 400 5 6 7\n", machineCPU{}},
		{"not the cpu line first", "intr 1 2 3 4 5 6 7 8 9\n", machineCPU{}},
		{"a field that is not a number", "cpu  10 x 30 400 5 6 7 8\n", machineCPU{}},
		{"a negative field", "cpu  10 -1 30 400 5 6 7 8\n", machineCPU{}},
		{"empty", "", machineCPU{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseMachineCPU([]byte(tc.stat)); got != tc.want {
				t.Errorf("parseMachineCPU(%q) = %+v, want %+v", tc.stat, got, tc.want)
			}
		})
	}
	before := machineCPU{busy: 100, all: 400, ok: true}
	for _, tc := range []struct {
		name  string
		after machineCPU
		want  float64
	}{
		{"half busy", machineCPU{busy: 150, all: 500, ok: true}, 0.5},
		{"no time passed", before, -1},
		{"a failed reading", machineCPU{}, -1},
	} {
		t.Run("since/"+tc.name, func(t *testing.T) {
			if got := tc.after.since(before); got != tc.want {
				t.Errorf("since = %v, want %v", got, tc.want)
			}
		})
	}
}
