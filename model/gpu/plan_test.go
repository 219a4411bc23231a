package gpu

import (
	_ "embed"
	"strings"
	"testing"
)

//go:embed kernels.ptx
var committedPTX string

func TestCommittedPTXHasEveryKernelAndRunsOnDriver580(t *testing.T) {
	for _, k := range kernelNames {
		if !strings.Contains(committedPTX, ".entry "+k+"(") {
			t.Errorf("kernels.ptx has no entry %s: regenerate it with scripts/cuda/build.sh", k)
		}
	}
	need, isa := ptxNeeds(committedPTX)
	if need == 0 || need > 13000 {
		t.Errorf("kernels.ptx (PTX ISA %s) needs CUDA %s; driver 580 (CUDA 13.0) must load it", isa, cudaVersion(need))
	}
	if !strings.Contains(committedPTX, ".target sm_80") {
		t.Error("kernels.ptx does not target sm_80 (compute_80), which Device checks for")
	}
}

func TestPTXNeedsMapsISAToCUDA(t *testing.T) {
	cases := []struct {
		src  string
		want int
	}{
		{"//\n.version 7.8\n.target sm_80", 11080},
		{".version 8.5\n", 12050},
		{".version 9.0\n", 13000},
		{".version 6.4\n", 0}, // unknown: left to the module load
		{"no version line", 0},
	}
	for _, c := range cases {
		if got, _ := ptxNeeds(c.src); got != c.want {
			t.Errorf("ptxNeeds(%q) = %d, want %d", c.src, got, c.want)
		}
	}
	if got := cudaVersion(11080); got != "11.8" {
		t.Errorf("cudaVersion(11080) = %q, want 11.8", got)
	}
}

func TestSplitKCoversKInChunksOf16(t *testing.T) {
	cases := []struct{ m, n, k int }{
		{64, 9, 470400}, {64, 576, 117600}, {64, 576, 5400}, {64, 470400, 576}, {576, 47040, 64}, {1, 1, 1},
	}
	for _, c := range cases {
		parts, chunk := splitK(c.m, c.n, c.k)
		if parts < 1 || parts > maxSplits {
			t.Errorf("splitK(%d, %d, %d) = %d parts, want 1..%d", c.m, c.n, c.k, parts, maxSplits)
			continue
		}
		if parts == 1 {
			if chunk != c.k {
				t.Errorf("splitK(%d, %d, %d): one part of %d, want all %d", c.m, c.n, c.k, chunk, c.k)
			}
			continue
		}
		// every part non-empty, together exactly k
		if chunk%16 != 0 || (parts-1)*chunk >= c.k || parts*chunk < c.k {
			t.Errorf("splitK(%d, %d, %d) = %d parts of %d: do not cover k exactly", c.m, c.n, c.k, parts, chunk)
		}
	}
	if parts, _ := splitK(64, 9, 470400); parts < 100 {
		t.Errorf("block 1's weight gradient (one 64×9 tile, k = 470400) split in %d parts, want ≥ 100 for a full GPU", parts)
	}
}

func TestChunksCoverM(t *testing.T) {
	for _, m := range []int{1, 9, 8192, 8193, 470400, 1 << 28} {
		parts, chunk := chunks(m)
		if parts < 1 || parts > maxChunks || (parts-1)*chunk >= m || parts*chunk < m {
			t.Errorf("chunks(%d) = %d parts of %d, want 1..%d non-empty parts covering m", m, parts, chunk, maxChunks)
		}
	}
}
