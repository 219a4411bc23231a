package checkpoints

import (
	"testing"
)

var benchModes = []struct {
	name string
	opts []Option
}{
	{"held", nil},
	{"release", []Option{WithReleaseBetweenWrites()}},
}

// BenchmarkSaveCheckpoint saves a 112k-parameter checkpoint with Adam's two
// moment vectors and a small batch-norm state (about 1.3 MB) per iteration,
// each as one fsync'd bbolt transaction; "release" adds the open and close
// of WithReleaseBetweenWrites.
func BenchmarkSaveCheckpoint(b *testing.B) {
	for _, mode := range benchModes {
		b.Run(mode.name, func(b *testing.B) {
			s, _ := tempStore(b, mode.opts...)
			if err := s.PutJob(testJob("bench", modelParams)); err != nil {
				b.Fatal(err)
			}
			c := makeCheckpoint(1, modelParams, modelState)
			raw, err := encodeCheckpoint(c)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(raw)))
			b.ResetTimer()
			for i := range b.N {
				c.Step = uint64(i + 1)
				if err := s.Save("bench", c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoadCheckpoint loads and fully verifies (CRC-32C and the
// parameters' SHA-256) one such checkpoint among ten.
func BenchmarkLoadCheckpoint(b *testing.B) {
	for _, mode := range benchModes {
		b.Run(mode.name, func(b *testing.B) {
			s, _ := tempStore(b, mode.opts...)
			if err := s.PutJob(testJob("bench", modelParams)); err != nil {
				b.Fatal(err)
			}
			for step := uint64(1); step <= 10; step++ {
				if err := s.Save("bench", makeCheckpoint(step, modelParams, modelState)); err != nil {
					b.Fatal(err)
				}
			}
			raw, _ := encodeCheckpoint(makeCheckpoint(5, modelParams, modelState))
			b.SetBytes(int64(len(raw)))
			b.ResetTimer()
			for range b.N {
				if _, err := s.At("bench", 5); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodeCheckpoint and BenchmarkDecodeCheckpoint isolate the codec
// from bbolt.
func BenchmarkEncodeCheckpoint(b *testing.B) {
	c := makeCheckpoint(1, modelParams, modelState)
	raw, _ := encodeCheckpoint(c)
	b.SetBytes(int64(len(raw)))
	for range b.N {
		if _, err := encodeCheckpoint(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeCheckpoint(b *testing.B) {
	raw, _ := encodeCheckpoint(makeCheckpoint(1, modelParams, modelState))
	b.SetBytes(int64(len(raw)))
	for range b.N {
		if _, err := decodeCheckpoint(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkList(b *testing.B) {
	s, _ := tempStore(b)
	if err := s.PutJob(testJob("bench", modelParams)); err != nil {
		b.Fatal(err)
	}
	for step := uint64(1); step <= 20; step++ {
		if err := s.Save("bench", makeCheckpoint(step, modelParams, modelState)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		if infos, err := s.List("bench"); err != nil || len(infos) != 20 {
			b.Fatal(len(infos), err)
		}
	}
}
