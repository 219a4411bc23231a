package model

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"

	"github.com/fsl-project/fsl/model/cpu"
	"github.com/fsl-project/fsl/params"
)

// canarySeed fixes the canary's parameters and pixels.
const canarySeed = 0xfe11

// canaryImages is the canary batch's size: large enough that every kernel
// path a job's shards take at this image size (Winograd, the direct first
// layer, chunked gemms) runs.
const canaryImages = 60

// Canary is the hex SHA-256 of one fixed training step of m — the loss,
// gradients and statistics, bit for bit, of a 60-image synthetic batch of
// m's kind and size at parameters m.Init derives from a fixed seed. Two
// workers whose canaries match compute the same bits for the same shard;
// the coordinator checks a joining worker's canary against the job's
// class, because what a worker reports of itself (Class) does not decide
// its bits alone: the same BLAS build gives other bits with another kernel
// set, and two CPU models of one family can differ.
func (m *Model) Canary() (string, error) {
	p, state := m.Init(canarySeed)
	r, err := m.Grad(p, state, canaryBatch(m.cfg))
	if err != nil {
		return "", fmt.Errorf("canary step: %w", err)
	}
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], math.Float64bits(r.Loss))
	h.Write(b[:])
	binary.LittleEndian.PutUint64(b[:], uint64(r.Count))
	h.Write(b[:])
	for _, v := range []params.Vector{r.Grads, r.Stats} {
		for _, x := range v {
			binary.LittleEndian.PutUint32(b[:4], math.Float32bits(x))
			h.Write(b[:4])
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// canaryBatch is the canary's fixed batch for cfg's kind, size and
// channels.
func canaryBatch(cfg Config) *params.Batch {
	rng := rand.New(rand.NewPCG(canarySeed, 3))
	b := &params.Batch{Kind: cfg.Loss, Size: cfg.Size, Channels: cfg.Channels}
	switch cfg.Loss {
	case params.KindTriplets:
		for t := 0; t < canaryImages/3; t++ {
			c := int32(2 * t)
			b.Labels = append(b.Labels, c, c, c+1)
		}
	case params.KindPairs:
		for i := 0; i < canaryImages/2; i++ {
			c := int32(2 * i)
			b.Labels = append(b.Labels, c, c+int32(i%2))
			b.Same = append(b.Same, uint8(1-i%2))
		}
	case params.KindClasses: // 15 classes × 4 images
		for i := 0; i < canaryImages; i++ {
			b.Labels = append(b.Labels, int32(3*(i/4)))
		}
	default: // a 5-way 1-shot episode with 11 queries per class
		b.Way, b.Shot, b.Query = 5, 1, canaryImages/5-1
		for c := 0; c < b.Way; c++ {
			b.Labels = append(b.Labels, int32(c))
		}
		for c := 0; c < b.Way; c++ {
			for q := 0; q < b.Query; q++ {
				b.Labels = append(b.Labels, int32(c))
			}
		}
	}
	// grayscale draws the pixels it drew before colour existed
	b.Pixels = make([]uint8, len(b.Labels)*b.BytesPerImage())
	for i := range b.Pixels {
		b.Pixels[i] = uint8(rng.IntN(256))
	}
	return b
}

// Class describes what decides the bits m computes: the device (a GPU's
// name and driver) or, on the CPU, the architecture, the kernel set and
// the BLAS library with its kernels, e.g. "cpu amd64 kernels=avx512+winograd
// blas=openblas/Haswell". Two workers of one job should report the same
// class; the Canary says whether they really compute alike.
func (m *Model) Class() string {
	if info := m.be.info(); info != "" {
		return "gpu " + info
	}
	return fmt.Sprintf("cpu %s kernels=%s blas=%s/%s", runtime.GOARCH, m.k.Set(), cpu.BLASName(), cpu.BLASCore())
}
