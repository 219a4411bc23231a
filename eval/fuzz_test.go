package eval

import (
	"errors"
	"testing"
)

// FuzzLoadOfficialRuns: any bytes as all_runs.zip either load as 20 runs of
// 20 labelled items with every pixel present, or fail with ErrRuns; never
// a panic.
func FuzzLoadOfficialRuns(f *testing.F) {
	valid := zipOf(f, runsFiles(f, testSide))
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add([]byte("not a zip"))
	f.Add([]byte{})
	files := runsFiles(f, testSide)
	files["run01/class_labels.txt"] = []byte("run01/test/item01.png\n\n../../etc/passwd run01/training/class01.png\r\n")
	f.Add(zipOf(f, files))
	f.Add(zipOf(f, map[string][]byte{"run01/class_labels.txt": []byte("run01/test/item01.png run01/training/class01.png\n")}))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ReadOfficialRuns("fuzz.zip", data, testSide)
		if err != nil {
			if !errors.Is(err, ErrRuns) {
				t.Fatalf("error %q does not wrap ErrRuns", err)
			}
			return
		}
		if len(r.Runs) != OfficialRunCount || r.Items() != OfficialRunCount*OfficialRunWay || len(r.Fingerprint()) != 64 {
			t.Fatalf("loaded %d runs, %d items", len(r.Runs), r.Items())
		}
		px := testSide * testSide
		for _, run := range r.Runs {
			if len(run.Classes) != OfficialRunWay || len(run.Training) != OfficialRunWay*px || len(run.Test) != len(run.Items)*px || len(run.Labels) != len(run.Items) {
				t.Fatalf("%s: %d classes, %d items, %d labels, %d+%d pixel bytes", run.Name, len(run.Classes), len(run.Items), len(run.Labels), len(run.Training), len(run.Test))
			}
			for _, l := range run.Labels {
				if l < 0 || l >= len(run.Classes) {
					t.Fatalf("%s: label %d out of range", run.Name, l)
				}
			}
		}
	})
}
