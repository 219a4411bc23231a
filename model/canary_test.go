package model

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/fsl-project/fsl/params"
)

func TestCanaryIsTheSameOnAnyThreadCountAndDiffersAcrossJobs(t *testing.T) {
	kinds := []params.Kind{params.KindEpisode, params.KindPairs, params.KindTriplets}
	seen := map[string]params.Kind{}
	for _, k := range kinds {
		one, err := mustNew(t, Config{Loss: k}).Canary()
		if err != nil {
			t.Fatal(err)
		}
		three, err := mustNew(t, Config{Loss: k}, Threads(3)).Canary()
		if err != nil {
			t.Fatal(err)
		}
		if one != three {
			t.Errorf("%v: canary %s on 1 thread, %s on 3", k, one, three)
		}
		if other, dup := seen[one]; dup {
			t.Errorf("%v and %v have the same canary", k, other)
		}
		seen[one] = k
	}
	small, err := mustNew(t, Config{Size: 20}).Canary()
	if err != nil {
		t.Fatal(err)
	}
	if _, dup := seen[small]; dup {
		t.Error("a 20×20 model has the canary of a 28×28 one")
	}
	colour, err := mustNew(t, Config{Channels: params.RGB}).Canary()
	if err != nil {
		t.Fatal(err)
	}
	colour3, err := mustNew(t, Config{Channels: params.RGB}, Threads(3)).Canary()
	if err != nil {
		t.Fatal(err)
	}
	if colour != colour3 {
		t.Errorf("RGB: canary %s on 1 thread, %s on 3", colour, colour3)
	}
	if _, dup := seen[colour]; dup {
		t.Error("an RGB model has the canary of a grayscale one")
	}
	gray1, err := mustNew(t, Config{Channels: params.Gray}).Canary()
	if err != nil {
		t.Fatal(err)
	}
	if seen[gray1] != params.KindEpisode {
		t.Error("channels 1 and channels 0 have different canaries")
	}
}

func TestClassNamesKernelsAndBLAS(t *testing.T) {
	c := mustNew(t, Config{}).Class()
	for _, want := range []string{"cpu ", "kernels=", "blas="} {
		if !strings.Contains(c, want) {
			t.Errorf("class %q lacks %q", c, want)
		}
	}
}

// TestCanaryTellsAVX512Apart runs this test binary again with AVX-512
// switched off (GODEBUG=cpu.avx512f=off, which golang.org/x/sys/cpu
// honours): the first layer then takes im2col instead of the direct
// AVX-512 kernel, whose bits differ, and the canary must say so.
func TestCanaryTellsAVX512Apart(t *testing.T) {
	if os.Getenv("FSL_CANARY_CHILD") == "1" {
		c, err := mustNew(t, Config{}).Canary()
		if err != nil {
			t.Fatal(err)
		}
		os.Stdout.WriteString("CANARY " + c + " CLASS " + mustNew(t, Config{}).Class() + "\n")
		return
	}
	m := mustNew(t, Config{})
	if !strings.Contains(m.Class(), "avx512") {
		t.Skipf("this CPU runs no AVX-512 kernels (%s)", m.Class())
	}
	here, err := m.Canary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestCanaryTellsAVX512Apart$", "-test.count", "1")
	cmd.Env = append(os.Environ(), "FSL_CANARY_CHILD=1", "GODEBUG=cpu.avx512f=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	_, rest, ok := strings.Cut(string(out), "CANARY ")
	if !ok {
		t.Fatalf("child printed no canary:\n%s", out)
	}
	there, class, _ := strings.Cut(strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0]), " CLASS ")
	if strings.Contains(class, "avx512") {
		t.Fatalf("GODEBUG=cpu.avx512f=off left the child on AVX-512: %s", class)
	}
	if there == here {
		t.Errorf("canary %s both with and without AVX-512 (%s vs %s)", here, m.Class(), class)
	}
}
