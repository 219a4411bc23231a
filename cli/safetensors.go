package cli

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/coordinator"
	"github.com/fsl-project/fsl/model"
	"github.com/fsl-project/fsl/model/cpu"
)

// Metadata keys of an fsl safetensors export (checkpoints export --format
// safetensors); all values are strings, as the format requires.
const (
	stMetaJob        = "fsl.job"           // job ID
	stMetaStep       = "fsl.step"          // checkpoint step
	stMetaSpec       = "fsl.spec"          // the job's spec as stored (JSON)
	stMetaSpecFormat = "fsl.spec_format"   // how fsl.spec is written ("json")
	stMetaDataset    = "fsl.dataset"       // the training data's fingerprint
	stMetaLoss       = "fsl.loss"          // proto, triplet or siamese
	stMetaSize       = "fsl.size"          // input side in pixels
	stMetaChannels   = "fsl.channels"      // input colour planes; written only when not 1
	stMetaFilters    = "fsl.filters"       // filters of each conv block
	stMetaMargin     = "fsl.margin"        // triplet margin
	stMetaEmbedDim   = "fsl.embed_dim"     // embedding length
	stMetaBNEps      = "fsl.bn_eps"        // batch-norm eps
	stMetaBNMomentum = "fsl.bn_momentum"   // batch-norm running-statistics momentum
	stMetaInput      = "fsl.input"         // how pixels enter the network
	stMetaParamsHash = "fsl.params_sha256" // SHA-256 of the fsl parameter vector
)

// safetensorsOf lays a checkpoint out as a safetensors file: the job's
// model's parameters and batch-norm running statistics under PyTorch
// names (model.TorchLayouts), the model config, job and step in the
// metadata.
func safetensorsOf(rec checkpoints.JobRecord, c *checkpoints.Checkpoint) (checkpoints.Safetensors, error) {
	spec, err := coordinator.DecodeSpec(rec)
	if err != nil {
		return checkpoints.Safetensors{}, err
	}
	m, err := model.New(spec.ModelConfig())
	if err != nil {
		return checkpoints.Safetensors{}, fmt.Errorf("job %q: %w", rec.ID, err)
	}
	pl, sl, err := m.TorchLayouts()
	if err != nil {
		return checkpoints.Safetensors{}, fmt.Errorf("job %q: %w", rec.ID, err)
	}
	pt, err := checkpoints.LayoutTensors(pl, c.Params)
	if err != nil {
		return checkpoints.Safetensors{}, fmt.Errorf("job %q step %d: parameters: %w", rec.ID, c.Step, err)
	}
	stt, err := checkpoints.LayoutTensors(sl, c.State)
	if err != nil {
		return checkpoints.Safetensors{}, fmt.Errorf("job %q step %d: batch-norm state: %w", rec.ID, c.Step, err)
	}
	cfg := m.Config()
	sum := c.ParamsSHA256()
	meta := map[string]string{
		"format":         "pt",
		stMetaJob:        rec.ID,
		stMetaStep:       strconv.FormatUint(c.Step, 10),
		stMetaSpec:       string(rec.Spec),
		stMetaSpecFormat: rec.SpecFormat,
		stMetaDataset:    rec.Dataset,
		stMetaLoss:       cfg.Loss.String(),
		stMetaSize:       strconv.Itoa(cfg.Size),
		stMetaFilters:    strconv.Itoa(cfg.Filters),
		stMetaMargin:     strconv.FormatFloat(float64(cfg.Margin), 'g', -1, 32),
		stMetaEmbedDim:   strconv.Itoa(m.EmbedDim()),
		stMetaBNEps:      strconv.FormatFloat(cpu.BNEps, 'g', -1, 64),
		stMetaBNMomentum: strconv.FormatFloat(model.DefaultMomentum, 'g', -1, 64),
		stMetaInput:      fmt.Sprintf("uint8 pixels / 255 as float32 [N %d size size]", cfg.InputChannels()),
		stMetaParamsHash: hex.EncodeToString(sum[:]),
	}
	if c := cfg.InputChannels(); c != 1 {
		// a grayscale export keeps the metadata it had before colour existed
		meta[stMetaChannels] = strconv.Itoa(c)
	}
	return checkpoints.Safetensors{Metadata: meta, Tensors: append(pt, stt...)}, nil
}

// checkpointOfSafetensors is the inverse of safetensorsOf: the job record
// (from the metadata's spec) and a checkpoint with the file's parameters
// and state, bit for bit. It has no optimizer state, so it can be
// evaluated but not resumed.
func checkpointOfSafetensors(s *checkpoints.Safetensors, source string) (loadedCheckpoint, error) {
	meta := s.Metadata
	for _, k := range []string{stMetaJob, stMetaStep, stMetaSpec} {
		if _, ok := meta[k]; !ok {
			return loadedCheckpoint{}, fmt.Errorf("%s: metadata %q is missing (not written by fsl-coord checkpoints export --format safetensors)", source, k)
		}
	}
	step, err := strconv.ParseUint(meta[stMetaStep], 10, 64)
	if err != nil {
		return loadedCheckpoint{}, fmt.Errorf("%s: metadata %q: %w", source, stMetaStep, err)
	}
	rec := checkpoints.JobRecord{ID: meta[stMetaJob], Spec: []byte(meta[stMetaSpec]), SpecFormat: meta[stMetaSpecFormat],
		Dataset: meta[stMetaDataset]}
	spec, err := coordinator.DecodeSpec(rec)
	if err != nil {
		return loadedCheckpoint{}, fmt.Errorf("%s: metadata %q: %w", source, stMetaSpec, err)
	}
	m, err := model.New(spec.ModelConfig())
	if err != nil {
		return loadedCheckpoint{}, fmt.Errorf("%s: %w", source, err)
	}
	pl, sl, err := m.TorchLayouts()
	if err != nil {
		return loadedCheckpoint{}, fmt.Errorf("%s: %w", source, err)
	}
	vs, err := s.Vectors(pl, sl)
	if err != nil {
		return loadedCheckpoint{}, fmt.Errorf("%s: %w", source, err)
	}
	rec.Layout = m.Layout()
	return loadedCheckpoint{rec: rec, ckpt: &checkpoints.Checkpoint{Step: step, Params: vs[0], State: vs[1]}, source: source}, nil
}

// isSafetensors reports whether a file starting with head (at least 9
// bytes) is a safetensors file rather than an fsl export: an fsl export
// starts with its magic, a safetensors file with a header length and '{'.
func isSafetensors(head []byte) bool {
	return len(head) >= 9 && !bytes.HasPrefix(head, []byte("FSLCKEXP")) && head[8] == '{'
}

// readCheckpointFile reads an fsl export or a safetensors export.
func readCheckpointFile(path string) (loadedCheckpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return loadedCheckpoint{}, err
	}
	defer f.Close()
	head := make([]byte, 9)
	n, _ := io.ReadFull(f, head)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return loadedCheckpoint{}, err
	}
	if !isSafetensors(head[:n]) {
		return readExport(path, f)
	}
	s, err := checkpoints.ReadSafetensors(f)
	if err != nil {
		return loadedCheckpoint{}, fmt.Errorf("%s: %w", path, err)
	}
	return checkpointOfSafetensors(s, path)
}
