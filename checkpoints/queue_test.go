package checkpoints

import (
	"bytes"
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestQueueEntriesRoundTripAndSurviveReopen(t *testing.T) {
	s, path := tempStore(t, WithReleaseBetweenWrites())
	entries := map[string]string{"a-1": `{"state":"queued"}`, "b": `{"state":"running","priority":2}`, "c": ``}
	for id, body := range entries {
		if err := s.PutQueueEntry(id, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutQueueEntry("b", []byte(`{"state":"done"}`)); err != nil { // replaced
		t.Fatal(err)
	}
	if err := s.DeleteQueueEntry("c"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteQueueEntry("never-there"); err != nil {
		t.Errorf("deleting an absent entry: %v", err)
	}
	if err := s.PutQueueEntry("", nil); err == nil {
		t.Error("an entry without an ID was stored")
	}
	s.Close()
	got, err := openTest(t, path).QueueEntries()
	if err != nil {
		t.Fatal(err)
	}
	want := []QueueEntry{{"a-1", []byte(`{"state":"queued"}`)}, {"b", []byte(`{"state":"done"}`)}}
	if len(got) != len(want) {
		t.Fatalf("entries %q, want %q", got, want)
	}
	for i := range want {
		if got[i].ID != want[i].ID || !bytes.Equal(got[i].Body, want[i].Body) {
			t.Errorf("entry %d: %s %q, want %s %q", i, got[i].ID, got[i].Body, want[i].ID, want[i].Body)
		}
	}
}

func TestQueueOfAStoreWithoutOneIsEmpty(t *testing.T) {
	s, _ := tempStore(t)
	got, err := s.QueueEntries()
	if err != nil || len(got) != 0 {
		t.Fatalf("entries %q, %v; want none", got, err)
	}
}

func TestCorruptQueueEntryIsSkipped(t *testing.T) {
	s, path := tempStore(t)
	for _, id := range []string{"a", "b"} {
		if err := s.PutQueueEntry(id, []byte(`{"x":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	db, err := bolt.Open(path, 0o644, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		v := append([]byte(nil), tx.Bucket(bucketQueue).Get([]byte("a"))...)
		v[len(v)-1] ^= 1 // one flipped bit in the body
		return tx.Bucket(bucketQueue).Put([]byte("a"), v)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	got, err := openTest(t, path).QueueEntries()
	if err != nil || len(got) != 1 || got[0].ID != "b" {
		t.Fatalf("entries %q, %v; want b alone", got, err)
	}
}

func TestDecodeQueueEntryNamesTheFault(t *testing.T) {
	good := encodeQueueEntry([]byte(`{}`))
	bad := append([]byte(nil), good...)
	bad[0] = 9
	for _, tt := range []struct {
		name string
		b    []byte
	}{{"short", good[:4]}, {"version", bad}, {"checksum", append(good[:5:5], '[')}} {
		if _, err := decodeQueueEntry("j", tt.b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err %v, want ErrCorrupt", tt.name, err)
		}
	}
}

// FuzzDecodeQueueEntry: arbitrary bytes never panic the decoder, and
// whatever decodes re-encodes to the same bytes.
func FuzzDecodeQueueEntry(f *testing.F) {
	f.Add(encodeQueueEntry([]byte(`{"state":"queued","spec":{}}`)))
	f.Add(encodeQueueEntry(nil))
	f.Add([]byte{queueVersion, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		body, err := decodeQueueEntry("j", data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if again := encodeQueueEntry(body); !bytes.Equal(again, data) {
			t.Fatalf("re-encodes differently:\n in %x\nout %x", data, again)
		}
	})
}
