package checkpoints

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func historySeeds() []HistoryRecord {
	return []HistoryRecord{
		{Step: 1, Time: time.Unix(1700000000, 123456789), Loss: 1.5, ImagesPerSecond: 300, Workers: 2},
		{Step: 250, Time: time.Unix(1700000100, 0), Loss: 0.25, ImagesPerSecond: 512.5, Workers: 4,
			Metrics: map[string]float64{"val_acc": 0.875, "val_ci95": 0.0125}},
		{Step: math.MaxUint64, Time: time.Unix(-5, 0), Loss: math.NaN(), ImagesPerSecond: math.Inf(1), Workers: math.MaxUint32,
			Metrics: map[string]float64{"z": math.Inf(-1)}},
	}
}

func TestHistoryRecordRoundTrips(t *testing.T) {
	for _, r := range historySeeds() {
		b, err := encodeHistory(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeHistory(r.Step, b)
		if err != nil {
			t.Fatalf("step %d: %v", r.Step, err)
		}
		again, err := encodeHistory(got)
		if err != nil || !bytes.Equal(again, b) {
			t.Errorf("step %d: decoded %+v re-encodes differently (%v)", r.Step, got, err)
		}
		if !got.Time.Equal(r.Time) || got.Workers != r.Workers || len(got.Metrics) != len(r.Metrics) {
			t.Errorf("step %d: decoded %+v, want %+v", r.Step, got, r)
		}
	}
}

func TestHistoryRecordRefusesWhatCannotBeStored(t *testing.T) {
	many := map[string]float64{}
	for i := range maxHistoryMetrics + 1 {
		many[string(rune('a'+i%26))+string(rune('a'+i/26))] = 1
	}
	for name, r := range map[string]HistoryRecord{
		"too many metrics": {Metrics: many},
		"empty name":       {Metrics: map[string]float64{"": 1}},
		"long name":        {Metrics: map[string]float64{string(make([]byte, 256)): 1}},
		"negative workers": {Workers: -1},
	} {
		if _, err := encodeHistory(r); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
}

func TestHistoryIsKeptPerJobAndReplacedByStep(t *testing.T) {
	s, _ := tempStore(t)
	if err := s.PutJob(testJob("a", 4)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutJob(testJob("b", 4)); err != nil {
		t.Fatal(err)
	}
	if h, err := s.History("a"); err != nil || len(h) != 0 {
		t.Fatalf("history of a new job: %v, %v; want none", h, err)
	}
	if _, err := s.History("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("history of an unknown job: %v, want ErrNotFound", err)
	}
	if err := s.AppendHistory("nope", historySeeds()[:1]); !errors.Is(err, ErrNotFound) {
		t.Errorf("append to an unknown job: %v, want ErrNotFound", err)
	}
	seeds := historySeeds()
	if err := s.AppendHistory("a", []HistoryRecord{seeds[1], seeds[0]}); err != nil {
		t.Fatal(err)
	}
	// A resumed job recomputes step 1: the record is replaced, not doubled.
	again := seeds[0]
	again.Time, again.Workers = again.Time.Add(time.Hour), 7
	if err := s.AppendHistory("a", []HistoryRecord{again}); err != nil {
		t.Fatal(err)
	}
	h, err := s.History("a")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].Step != 1 || h[1].Step != 250 || h[0].Workers != 7 || !h[0].Time.Equal(again.Time) {
		t.Fatalf("history %+v, want steps 1 (replaced) and 250", h)
	}
	if !reflect.DeepEqual(h[1].Metrics, seeds[1].Metrics) {
		t.Errorf("metrics %v, want %v", h[1].Metrics, seeds[1].Metrics)
	}
	if hb, _ := s.History("b"); len(hb) != 0 {
		t.Errorf("job b got a's history: %+v", hb)
	}
}

func TestCorruptHistoryRecordIsSkipped(t *testing.T) {
	s, path := tempStore(t)
	if err := s.PutJob(testJob("a", 4)); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendHistory("a", historySeeds()[:2]); err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o644, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketJobs).Bucket([]byte("a")).Bucket(bucketHistory).Put(stepKey(1), []byte{historyVersion, 1, 2})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	h, err := openTest(t, path).History("a")
	if err != nil || len(h) != 1 || h[0].Step != 250 {
		t.Fatalf("history %+v, %v; want step 250 alone", h, err)
	}
}

// FuzzDecodeHistory: arbitrary bytes never panic the decoder, and whatever
// decodes re-encodes to the same bytes (the layout is canonical).
func FuzzDecodeHistory(f *testing.F) {
	for _, r := range historySeeds() {
		b, err := encodeHistory(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)-3])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeHistory(9, data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		b, err := encodeHistory(r)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", r, err)
		}
		if !bytes.Equal(b, data) {
			t.Fatalf("re-encoded %x, read %x", b, data)
		}
	})
}
