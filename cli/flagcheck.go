package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/fsl-project/fsl/coordinator/machine"

	"github.com/urfave/cli/v2"

	"gopkg.in/yaml.v3"
)

// atLeast returns an error naming the first of the int flags below min.
// Flags the command does not have read 0, so list only its own.
func atLeast(c *cli.Context, min int, names ...string) error {
	for _, name := range names {
		if v := c.Int(name); v < min {
			return fmt.Errorf("--%s %d: want %d or more", name, v, min)
		}
	}
	return nil
}

// positive returns an error naming the first of the int flags below 1.
func positive(c *cli.Context, names ...string) error { return atLeast(c, 1, names...) }

// nonNegative returns an error naming the first of the int flags below 0.
func nonNegative(c *cli.Context, names ...string) error { return atLeast(c, 0, names...) }

// positiveDuration returns an error naming the first of the duration flags
// that is zero or negative.
func positiveDuration(c *cli.Context, names ...string) error {
	for _, name := range names {
		if v := c.Duration(name); v <= 0 {
			return fmt.Errorf("--%s %v: want a positive duration", name, v)
		}
	}
	return nil
}

// givenJobFlags checks the job flags that were given before their values go
// into a spec: JobSpec.WithDefaults would turn a given 0 into the default,
// so a 0 where 0 means nothing is refused here, naming the flag.
func givenJobFlags(c *cli.Context) error {
	for _, name := range []string{"size", "channels", "way", "shot", "query", "pairs", "triplets", "classes-per-shard", "images-per-class", "shards", "steps", "checkpoint-every"} {
		if c.IsSet(name) {
			if err := positive(c, name); err != nil {
				return err
			}
		}
	}
	if c.IsSet("patience") {
		if err := nonNegative(c, "patience"); err != nil {
			return fmt.Errorf("%w (0: off)", err)
		}
	}
	if v := c.Int("pipeline"); c.IsSet("pipeline") && (v < 0 || v > machine.MaxPipeline) {
		return fmt.Errorf("--pipeline %d: want a depth from 0 (off) to %d", v, machine.MaxPipeline)
	}
	if c.IsSet("eval-every") {
		if err := nonNegative(c, "eval-every"); err != nil {
			return fmt.Errorf("%w (0: never)", err)
		}
	}
	for _, name := range []string{"lease-timeout", "heartbeat-timeout"} {
		if c.IsSet(name) {
			if err := positiveDuration(c, name); err != nil {
				return err
			}
		}
	}
	if v := c.Float64("verify"); c.IsSet("verify") && !(v >= 0 && v <= 1) {
		return fmt.Errorf("--verify %v: want a fraction of shards from 0 (off) to 1", v)
	}
	if c.IsSet("lr") && !(c.Float64("lr") > 0) {
		return fmt.Errorf("--lr %v: want a positive learning rate", c.Float64("lr"))
	}
	if c.IsSet("seed") && c.Uint64("seed") == 0 {
		return errors.New("--seed 0: a job's seed is 1 or more (a spec's 0 stands for the default, 1)")
	}
	return nil
}

// zeroMeansDefault are the YAML fields of a JobSpec (as dotted paths) that
// WithDefaults fills when zero, where 0 itself means nothing: written
// explicitly, a 0 is a mistake, not a request for the default.
var zeroMeansDefault = []string{
	"size", "channels", "way", "shot", "query", "pairs", "triplets", "shards", "steps", "seed",
	"checkpoint_every", "margin", "bn_momentum", "lease_timeout", "heartbeat_timeout", "optimizer.lr",
	"triplet.classes", "triplet.images",
}

// explicitZeros returns an error naming the first field of zeroMeansDefault
// that the YAML job file at path sets to zero ("0", "0.0" or "0s").
func explicitZeros(path string, b []byte) error {
	var doc map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	for _, field := range zeroMeansDefault {
		v, ok := lookup(doc, strings.Split(field, "."))
		if ok && isZero(v) {
			return fmt.Errorf("--config %s: %s is 0: want a positive value, or leave it out for the default", path, field)
		}
	}
	return nil
}

func lookup(m map[string]any, path []string) (any, bool) {
	v, ok := m[path[0]]
	if !ok || len(path) == 1 {
		return v, ok
	}
	sub, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	return lookup(sub, path[1:])
}

func isZero(v any) bool {
	switch v := v.(type) {
	case int:
		return v == 0
	case uint64:
		return v == 0
	case float64:
		return v == 0
	case string: // durations
		d, err := time.ParseDuration(v)
		return err == nil && d == 0
	}
	return false
}
