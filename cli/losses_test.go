package cli

import (
	"fmt"
	"path/filepath"
	"testing"
)

// TestEveryLossTrainsTheSameParametersWhateverTheWorkers trains each loss
// a few tiny steps three ways — bench train (RunLocal, no NATS), start
// with one local worker and start with three — and wants the same final
// parameters, bit for bit, from all three; and different parameters from
// every loss, so a loss that silently trained another would fail (and
// colour, so a colour job that silently trained in gray would fail).
func TestEveryLossTrainsTheSameParametersWhateverTheWorkers(t *testing.T) {
	common := []string{"--size", "16", "--steps", "3", "--shards", "3", "--seed", "5", "--eval-episodes", "0", "--quiet"}
	losses := []struct {
		name string
		args []string
	}{
		{"proto", []string{"--loss", "proto", "--way", "3", "--shot", "1", "--query", "1"}},
		{"matching", []string{"--loss", "matching", "--way", "3", "--shot", "1", "--query", "1"}},
		{"triplet", []string{"--loss", "triplet", "--triplets", "3"}},
		{"siamese", []string{"--loss", "siamese", "--pairs", "4"}},
		{"batch-hard", []string{"--loss", "triplet", "--mining", "batch-hard", "--classes-per-shard", "3", "--images-per-class", "2"}},
		{"semi-hard", []string{"--loss", "triplet", "--mining", "semi-hard", "--classes-per-shard", "3", "--images-per-class", "2"}},
		// the glyphs drawn in colour through an RGB first layer
		{"proto RGB", []string{"--loss", "proto", "--way", "3", "--shot", "1", "--query", "1", "--channels", "3"}},
		{"siamese RGB", []string{"--loss", "siamese", "--pairs", "4", "--channels", "3"}},
	}
	seen := map[string]string{}
	for _, l := range losses {
		t.Run(l.name, func(t *testing.T) {
			dir := t.TempDir()
			sha := func(how string, args ...string) string {
				t.Helper()
				summary := filepath.Join(dir, how+".json")
				args = append(append(append(args, common...), l.args...), "--summary", summary)
				if out, err := runCoord(t, args...); err != nil {
					t.Fatalf("%s: %v\n%s", how, err, out)
				}
				var s struct {
					ParamsSHA256 string `json:"params_sha256"`
				}
				if err := readJSON(summary, &s); err != nil || len(s.ParamsSHA256) != 64 {
					t.Fatalf("%s: summary %+v, %v", how, s, err)
				}
				return s.ParamsSHA256
			}
			local := sha("bench", "bench", "train", "--job", "b")
			for _, n := range []int{1, 3} {
				got := sha(fmt.Sprintf("start%d", n), "start", "--job", "s", "--local-workers", fmt.Sprint(n), "--listen", "127.0.0.1:0",
					"--http", "", "--db", filepath.Join(dir, fmt.Sprintf("fsl%d.db", n)))
				if got != local {
					t.Errorf("start with %d local workers: params %s, bench train %s", n, got, local)
				}
			}
			if other, ok := seen[local]; ok {
				t.Errorf("params %s equal the %s loss's", local, other)
			}
			seen[local] = l.name
		})
	}
}
