package main

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fsl-project/fsl/params"
	"github.com/fsl-project/fsl/wire"
	"github.com/fsl-project/fsl/wire/transport"
)

// floodSteps is the flooded job's length: long enough to be still running
// when the flood ends (150 steps were not any more: the job ended during
// the junk flood, its embedded server with it, and the rogue's flush failed).
const floodSteps = 600

// TestFloodLeavesTheCoordinatorBoundedAndExact floods a running
// coordinator for 25s with malformed payloads and invalid results, then
// with 1.2 GB of chunked messages that never complete, and checks that its
// log stays under 1 MB, its peak RSS under 256 MiB, and that the job ends
// with the parameters bench train computes. It takes minutes: it runs only
// with FSL_FLOOD=1 (scripts/flood.sh).
func TestFloodLeavesTheCoordinatorBoundedAndExact(t *testing.T) {
	if os.Getenv("FSL_FLOOD") == "" {
		t.Skip("set FSL_FLOOD=1 to flood a coordinator (minutes; scripts/flood.sh)")
	}
	build(t)
	dir := t.TempDir()
	args := jobArgs(filepath.Join(dir, "fsl.db"), filepath.Join(dir, "summary.json"))
	for i := range args {
		if args[i] == "--steps" {
			args[i+1] = strconv.Itoa(floodSteps)
		}
	}
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	c := start(t, "coord", bins.coord, append(args, "--listen", fmt.Sprintf("127.0.0.1:%d", port))...)
	obs := observer(t, url)
	w := start(t, "worker", bins.worker, workerArgs(url, "w0")...)

	// peak RSS: the kernel's high-water mark, read until the process ends
	peak := make(chan int64, 1)
	go func() {
		var hwm int64
		path := fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid)
		for {
			if b, err := os.ReadFile(path); err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
						if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
							hwm = kb << 10
						}
					}
				}
			}
			select {
			case <-c.done:
				peak <- hwm
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()

	waitStep(t, obs, 1)
	rogue, err := transport.Connect(url, transport.ConnectOptions{Name: "rogue", Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rogue.Close)
	subj, _ := wire.NewSubjects(testJob)
	targets := []string{subj.Result, subj.Heartbeat, subj.Join, subj.Params, subj.Status}

	// 25s of malformed payloads and of well-framed results that are
	// invalid, from 200 made-up workers.
	rng := rand.New(rand.NewPCG(1, 2))
	junk := make([]byte, 512)
	bad := &wire.Result{Result: params.Result{Step: 1 << 40, Grads: params.Vector{1, 2, 3}, LayoutHash: 1}}
	sent := 0
	for end := time.Now().Add(25 * time.Second); time.Now().Before(end); sent++ {
		if sent%4 == 3 {
			bad.Worker = fmt.Sprintf("rogue-%d", sent%200)
			err = rogue.Send(subj.Result, bad)
		} else {
			for i := range junk {
				junk[i] = byte(rng.Uint32())
			}
			err = rogue.PublishBytes(targets[sent%len(targets)], junk[:1+rng.IntN(len(junk))])
		}
		if err != nil {
			t.Fatal(err)
		}
		if sent%256 == 255 {
			if err := rogue.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	afterJunk := step(obs)

	// 1.2 GB of chunked messages of 2 chunks each, only the first sent
	const chunkData = 512 << 10
	data := make([]byte, chunkData)
	var chunks int
	for total := 0; total < 1200<<20; total += chunkData {
		frame := chunkFrame(rng.Uint64(), uint64(chunks), 0, 2, 2*chunkData, data)
		if err := rogue.PublishBytes(targets[chunks%2], frame); err != nil {
			t.Fatal(err)
		}
		chunks++
		if chunks%16 == 0 {
			if err := rogue.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := rogue.Flush(); err != nil {
		t.Fatal(err)
	}
	afterChunks := step(obs)

	c.wait(t, 10*time.Minute)
	w.wait(t, 30*time.Second)
	hwm := <-peak
	logBytes := len(c.out.String())
	s := readSummary(t, filepath.Join(dir, "summary.json"))
	ref := benchTrain(t, dir, args)
	t.Logf("flood: %d junk payloads and invalid results in 25s (job at step %d after), %d incomplete chunked messages of %d KiB = %d MiB (job at step %d after)",
		sent, afterJunk, chunks, chunkData>>10, chunks*chunkData>>20, afterChunks)
	t.Logf("coordinator: log %d bytes, peak RSS %.1f MiB, %d payloads dropped; final sha256 %s, bench train %s",
		logBytes, float64(hwm)/(1<<20), s.Dropped, s.ParamsSHA256, ref)
	if logBytes >= 1<<20 {
		t.Errorf("coordinator wrote %d bytes of log, want < 1 MB", logBytes)
	}
	if hwm >= 256<<20 || hwm == 0 {
		t.Errorf("coordinator's peak RSS %d bytes, want < 256 MiB", hwm)
	}
	if s.Version != floodSteps || s.ParamsSHA256 != ref {
		t.Errorf("job ended at version %d with sha256 %s, want %d and %s", s.Version, s.ParamsSHA256, floodSteps, ref)
	}
	if afterChunks >= floodSteps {
		t.Logf("note: the job had finished before the chunk flood did")
	}
}

// chunkFrame is wire's chunk frame, written out here as a hostile client
// would: magic, version, sender, id, index, count, total, data, CRC-32C.
func chunkFrame(sender, id uint64, index, count, total uint32, data []byte) []byte {
	b := []byte{0xC5, wire.ProtocolVersion}
	b = binary.LittleEndian.AppendUint64(b, sender)
	b = binary.LittleEndian.AppendUint64(b, id)
	b = binary.LittleEndian.AppendUint32(b, index)
	b = binary.LittleEndian.AppendUint32(b, count)
	b = binary.LittleEndian.AppendUint32(b, total)
	b = append(b, data...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}
