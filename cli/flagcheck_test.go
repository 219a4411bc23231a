package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestMeaninglessNumbersAreErrorsNamingTheFlag(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "x.db")
	yaml := func(body string) string {
		p := filepath.Join(dir, strings.NewReplacer(":", "", " ", "", "\n", "").Replace(body)+".yaml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	start := []string{"start", "--db", db, "--listen", "127.0.0.1:0", "--http", ""}
	noListen := func(cmd ...string) []string { return append(cmd, "--db", db, "--http", "") }
	cases := []struct {
		args []string // after the command's fixed ones
		want string
	}{
		// start: a given 0 is not the default
		{append(start, "--shards", "0"), "--shards 0"},
		{append(start, "--steps", "0"), "--steps 0"},
		{append(start, "--steps", "-3"), "--steps -3"},
		{append(start, "--way", "0"), "--way 0"},
		{append(start, "--shot", "0"), "--shot 0"},
		{append(start, "--query", "-1"), "--query -1"},
		{append(start, "--size", "0"), "--size 0"},
		{append(start, "--channels", "0"), "--channels 0"},
		{append(start, "--channels", "2"), "channels 2, want 1 (grayscale) or 3 (RGB)"},
		{append(start, "--pairs", "0"), "--pairs 0"},
		{append(start, "--triplets", "0"), "--triplets 0"},
		{append(start, "--classes-per-shard", "0"), "--classes-per-shard 0"},
		{append(start, "--images-per-class", "0"), "--images-per-class 0"},
		{append(start, "--checkpoint-every", "0"), "--checkpoint-every 0"},
		{append(start, "--eval-every", "-1"), "--eval-every -1"},
		{append(start, "--patience", "-1"), "--patience -1"},
		{append(start, "--pipeline", "-1"), "--pipeline -1"},
		{append(start, "--pipeline", "5"), "--pipeline 5"},
		{append(start, "--patience", "3"), "patience 3 with eval_every 0"},
		{append(start, "--lease-timeout", "0s"), "--lease-timeout"},
		{append(start, "--lease-timeout", "-1s"), "--lease-timeout"},
		{append(start, "--heartbeat-timeout", "-5s"), "--heartbeat-timeout"},
		{append(start, "--lr", "0"), "--lr 0"},
		{append(start, "--verify", "-0.1"), "--verify -0.1"},
		{append(start, "--verify", "1.5"), "--verify 1.5"},
		{append(start, "--lr", "-0.1"), "--lr -0.1"},
		{append(start, "--seed", "0"), "--seed 0"},
		{append(start, "--threads", "-1"), "--threads -1"},
		{append(start, "--local-workers", "-1"), "--local-workers -1"},
		{append(start, "--val-episodes", "-1"), "--val-episodes -1"},
		{append(start, "--eval-episodes", "-1"), "--eval-episodes -1"},
		{append(start, "--way", "1"), "--way 1"},
		{append(start, "--loss", "matching", "--way", "1"), "--way 1"},
		{append(start, "--eval-every", "10", "--val-episodes", "0"), "--val-episodes 0 with --eval-every 10"},
		{append(noListen("start"), "--listen", "127.0.0.1:abc"), `--listen "127.0.0.1:abc"`},
		{append(noListen("start"), "--listen", "127.0.0.1"), `--listen "127.0.0.1"`},
		{append(noListen("start"), "--listen", ":-1"), `--listen ":-1"`},
		{append(noListen("start"), "--listen", ":70000"), `--listen ":70000"`},
		{append(noListen("serve"), "--listen", ":70000"), `--listen ":70000"`},
		{append(noListen("serve"), "--listen", "localhost"), `--listen "localhost"`},
		{append(noListen("serve"), "--val-episodes", "0"), "--val-episodes 0"},
		// --config: a 0 written out is not the default either
		{append(start, "--config", yaml("shards: 0\n")), "shards is 0"},
		{append(start, "--config", yaml("steps: 0\n")), "steps is 0"},
		{append(start, "--config", yaml("channels: 0\n")), "channels is 0"},
		{append(start, "--config", yaml("channels: 4\n")), "channels 4"},
		{append(start, "--config", yaml("lease_timeout: 0s\n")), "lease_timeout is 0"},
		{append(start, "--config", yaml("optimizer:\n  lr: 0\n")), "optimizer.lr is 0"},
		{append(start, "--config", yaml("triplet:\n  images: 0\n")), "triplet.images is 0"},
		{append(start, "--config", yaml("heartbeat_timeout: -1s\n")), "heartbeat_timeout"},
		{append(start, "--config", yaml("eval_every: -2\n")), "eval_every"},
		{append(start, "--config", yaml("way: 1\n")), "way 1"},
		{append(start, "--config", yaml("eval:\n  way: [5, 1]\n")), "eval.way [5 1]"},
		{append(start, "--config", yaml("eval_every: 10\n"), "--val-episodes", "0"), "--val-episodes 0 with --eval-every 10"},
		// the other commands
		{[]string{"status", "--timeout", "0s"}, "--timeout"},
		{[]string{"eval", "--db", db, "--job", "j", "--episodes", "0"}, "--episodes 0"},
		{[]string{"eval", "--db", db, "--job", "j", "--way", "0"}, "--way 0"},
		{[]string{"eval", "--db", db, "--job", "j", "--query", "0"}, "--query 0"},
		{[]string{"eval", "--db", db, "--job", "j", "--nats-timeout", "-1s"}, "--nats-timeout"},
		{[]string{"bench", "step", "--runs", "0"}, "--runs 0"},
		{[]string{"bench", "step", "--images", "0"}, "--images 0"},
		{[]string{"bench", "step", "--size", "-28"}, "--size -28"},
		{[]string{"bench", "step", "--steps", "0"}, "--steps 0"},
		{[]string{"bench", "step", "--channels", "2"}, "--channels 2"},
		{[]string{"bench", "train", "--channels", "0"}, "--channels 0"},
		{[]string{"bench", "cluster", "--workers", "0"}, "--workers 0"},
		{[]string{"bench", "cluster", "--prefetch", "3"}, "--prefetch 3"},
		{[]string{"bench", "cluster", "--runs", "0"}, "--runs 0"},
		{[]string{"bench", "cluster", "--warmup", "-1"}, "--warmup -1"},
		{[]string{"bench", "scale", "--workers", "-4"}, "--workers -4"},
		{[]string{"bench", "train", "--threads", "0"}, "--threads 0"},
		{[]string{"bench", "train", "--shards", "0"}, "--shards 0"},
		{[]string{"bench", "train", "--pipeline", "9"}, "--pipeline 9"},
		{[]string{"bench", "train", "--eval-episodes", "-1"}, "--eval-episodes -1"},
		{[]string{"checkpoints", "prune", "--db", db, "--job", "j", "--keep-last", "-1"}, "--keep-last -1"},
		{[]string{"checkpoints", "ls", "--db", db, "--lock-timeout", "0s"}, "--lock-timeout"},
		{[]string{"dataset", "inspect", "--size", "0", "glyphs"}, "--size 0"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, err := runCoord(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("fsl-coord %v: error %v, want one naming %q\n%s", tc.args, err, tc.want, out)
			}
		})
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--threads", "-1"}, "--threads -1"},
		{[]string{"--threads", "0"}, "--threads 0"},
		{[]string{"--gpu", "-2"}, "--gpu -2"},
		{[]string{"--prefetch", "2"}, "--prefetch 2"},
		{[]string{"--prefetch", "-1"}, "--prefetch -1"},
	} {
		t.Run("fsl-worker "+strings.Join(tc.args, " "), func(t *testing.T) {
			app := NewWorkerApp()
			app.Writer, app.ErrWriter = &strings.Builder{}, &strings.Builder{}
			app.ExitErrHandler = func(*cli.Context, error) {}
			err := app.RunContext(context.Background(), append([]string{"fsl-worker", "--nats", "nats://127.0.0.1:1"}, tc.args...))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("fsl-worker %v: error %v, want one naming %q", tc.args, err, tc.want)
			}
		})
	}
}
