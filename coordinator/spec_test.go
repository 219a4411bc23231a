package coordinator

import (
	"reflect"
	"strings"
	"testing"

	"github.com/fsl-project/fsl/checkpoints"
)

func TestDecodeSpecReadsWhatEncodeSpecWrote(t *testing.T) {
	s := DefaultSpec()
	s.ID, s.Loss, s.Steps = "enc", "triplet", 77
	b, format, err := EncodeSpec(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeSpec(checkpoints.JobRecord{ID: s.ID, Spec: b, SpecFormat: format})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("decoded %+v, want %+v", got, s)
	}
	for _, rec := range []checkpoints.JobRecord{
		{ID: "y", Spec: []byte("loss: proto"), SpecFormat: "yaml"},
		{ID: "bad", Spec: []byte("{"), SpecFormat: "json"},
	} {
		if _, err := DecodeSpec(rec); err == nil || !strings.Contains(err.Error(), `"`+rec.ID+`"`) {
			t.Errorf("DecodeSpec(%s spec %q): %v, want an error naming the job", rec.SpecFormat, rec.Spec, err)
		}
	}
}
