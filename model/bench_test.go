package model

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/fsl-project/fsl/params"
)

// peakRSSKiB reads VmHWM (the process's peak resident set) from
// /proc/self/status; 0 where that file does not exist.
func peakRSSKiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			v, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return v
		}
	}
	return 0
}

// benchStep measures Grad on one 60-image 28×28 batch of kind k, with one
// BLAS thread (run with GOMAXPROCS=1 for the one-core figure).
func benchStep(b *testing.B, k params.Kind, batch *params.Batch) {
	benchStepOf(b, Config{Loss: k}, batch)
}

// benchStepOf is benchStep for any config.
func benchStepOf(b *testing.B, cfg Config, batch *params.Batch) {
	m := mustNew(b, cfg)
	p, s := m.Init(1)
	if _, err := m.Grad(p, s, batch); err != nil { // build the graph outside the timer
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := cpuSeconds()
	for i := 0; i < b.N; i++ {
		if _, err := m.Grad(p, s, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(batch.Images()*b.N)/b.Elapsed().Seconds(), "images/s")
	// images per CPU-second: on a shared machine wall time includes waiting
	// for a core; with GOMAXPROCS=1 and one BLAS thread this is the speed
	// of one dedicated core
	if cpu := cpuSeconds() - cpu0; cpu > 0 {
		b.ReportMetric(float64(batch.Images()*b.N)/cpu, "images/cpu-s")
	}
	b.ReportMetric(peakRSSKiB()/1024, "peakRSS_MiB")
}

// BenchmarkConv4TripletStep: 20 triplets (60 images), 28×28.
func BenchmarkConv4TripletStep(b *testing.B) {
	benchStep(b, params.KindTriplets, synthBatch(params.KindTriplets, 28, 20, 1))
}

// BenchmarkConv4SiameseStep: 30 pairs (60 images), 28×28.
func BenchmarkConv4SiameseStep(b *testing.B) {
	benchStep(b, params.KindPairs, synthBatch(params.KindPairs, 28, 30, 1))
}

// BenchmarkConv4ProtoStep: 5-way 1-shot with 11 queries per class
// (60 images), 28×28.
func BenchmarkConv4ProtoStep(b *testing.B) {
	benchStep(b, params.KindEpisode, synthEpisode(28, 5, 1, 11, 1))
}

// BenchmarkConv4ProtoStepRGB84: the proto step of 60 images, 84×84×3
// (miniImageNet's size, in colour).
func BenchmarkConv4ProtoStepRGB84(b *testing.B) {
	benchStepOf(b, Config{Loss: params.KindEpisode, Size: 84, Channels: params.RGB},
		inColour(synthEpisode(84, 5, 1, 11, 1), params.RGB, 1))
}

// BenchmarkConv4Embed: 60 images, 28×28, evaluation mode.
func BenchmarkConv4Embed(b *testing.B) {
	m := mustNew(b, Config{Loss: params.KindEpisode})
	p, s := m.Init(1)
	batch := synthEpisode(28, 5, 1, 11, 1)
	if _, err := m.Embed(p, s, batch.Pixels, 60); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Embed(p, s, batch.Pixels, 60); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(60*b.N)/b.Elapsed().Seconds(), "images/s")
}
