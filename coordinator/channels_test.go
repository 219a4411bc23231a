package coordinator

import (
	"bytes"
	"strings"
	"testing"

	"github.com/fsl-project/fsl/checkpoints"
	"github.com/fsl-project/fsl/params"
)

// TestGrayscaleSpecAndModelConfigBytesAreThoseBeforeColour pins, from the
// build before specs had channels, the JSON a default job's record stores
// and the model config its workers get: channels 1 is written as nothing.
func TestGrayscaleSpecAndModelConfigBytesAreThoseBeforeColour(t *testing.T) {
	const spec = `{"id":"fsl","loss":"proto","dataset":"glyphs","size":28,"rotations":false,"split":"train","val_split":"val","test_split":"test","way":10,"shot":1,"query":2,"pairs":30,"triplets":20,"triplet":{"mining":"none","classes":16,"images":4},"shards":2,"steps":400,"seed":1,"margin":1,"bn_momentum":0.1,"optimizer":{"Name":"adam","LR":0.001,"Momentum":0,"Nesterov":false,"Beta1":0.9,"Beta2":0.999,"Eps":1e-8,"WeightDecay":0,"DecayMode":"decoupled","ClipNorm":0,"Schedule":{"Kind":"constant","WarmupSteps":0,"StepSize":0,"Gamma":0,"TotalSteps":0,"MinLR":0}},"checkpoint_every":100,"eval_every":0,"lease_timeout":"30s","heartbeat_timeout":"10s"}`
	s := DefaultSpec()
	if s.Channels != params.Gray {
		t.Fatalf("default channels %d, want 1", s.Channels)
	}
	b, _, err := EncodeSpec(s)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != spec {
		t.Errorf("default spec encodes to\n%s\nwant\n%s", b, spec)
	}
	for loss, want := range map[string]string{
		"proto":    `{"Loss":1,"Size":28,"Filters":0,"Margin":1}`,
		"siamese":  `{"Loss":2,"Size":28,"Filters":0,"Margin":1}`,
		"matching": `{"Loss":1,"Size":28,"Filters":0,"Margin":1,"Matching":true}`,
	} {
		s.Loss = loss
		m, err := EncodeModelConfig(s.ModelConfig())
		if err != nil {
			t.Fatal(err)
		}
		if string(m) != want {
			t.Errorf("%s: model config %s, want %s", loss, m, want)
		}
	}
}

func TestColourSpecRoundTripsAndReachesModelAndData(t *testing.T) {
	s := DefaultSpec()
	s.Channels = params.RGB
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	b, format, err := EncodeSpec(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"channels":3`)) {
		t.Errorf("colour spec %s does not say channels 3", b)
	}
	got, err := DecodeSpec(checkpoints.JobRecord{ID: s.ID, Spec: b, SpecFormat: format})
	if err != nil || got.Channels != params.RGB {
		t.Fatalf("decoded channels %d, %v", got.Channels, err)
	}
	if c := s.ModelConfig().Channels; c != params.RGB {
		t.Errorf("model config channels %d", c)
	}
	if m, _ := EncodeModelConfig(s.ModelConfig()); !bytes.Contains(m, []byte(`"Channels":3`)) {
		t.Errorf("model config %s does not say channels 3", m)
	}
	if o := s.DatasetOptions(); o.Channels != params.RGB {
		t.Errorf("dataset options %+v", o)
	}
	if o := s.SplitOptions(s.TestSplit); o.Channels != params.RGB {
		t.Errorf("split options %+v", o)
	}
	// an old record, without the field, reads as grayscale
	old := []byte(`{"id":"old","loss":"proto"}`)
	if got, err := DecodeSpec(checkpoints.JobRecord{ID: "old", Spec: old, SpecFormat: "json"}); err != nil || got.Channels != params.Gray {
		t.Errorf("record without channels: %d, %v; want 1", got.Channels, err)
	}
}

func TestValidateNamesBadChannels(t *testing.T) {
	for _, c := range []int{0, 2, 4, -3} {
		s := DefaultSpec()
		s.Channels = c
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "channels") {
			t.Errorf("channels %d: %v, want an error naming channels", c, err)
		}
	}
}
