package checkpoints

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// validStoreBytes returns the bytes of a store holding one checkpoint.
func validStoreBytes(t *testing.T) []byte {
	t.Helper()
	s, path := tempStore(t)
	if err := s.PutJob(testJob("j", 2000)); err != nil {
		t.Fatal(err)
	}
	if err := s.Save("j", makeCheckpoint(1, 2000, 0)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenRefusesFilesThatAreNotStores(t *testing.T) {
	random := make([]byte, 64<<10)
	rand.Read(random)
	store := validStoreBytes(t)
	fakeMeta := make([]byte, 16<<10)
	binary.NativeEndian.PutUint32(fakeMeta[16:], boltMagic)
	binary.NativeEndian.PutUint32(fakeMeta[20:], boltVersion)
	binary.NativeEndian.PutUint32(fakeMeta[24:], 4096)

	otherBolt := filepath.Join(t.TempDir(), "other.db")
	db, err := bolt.Open(otherBolt, 0o644, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("widgets"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	otherBytes, _ := os.ReadFile(otherBolt)

	tests := []struct {
		name string
		data []byte
	}{
		{"empty file", nil},
		{"text", []byte("model: conv4\nsteps: 1000\n")},
		{"random bytes", random},
		{"PNG header", append([]byte("\x89PNG\r\n\x1a\n"), random[:4000]...)},
		{"store truncated to 100 bytes", store[:100]},
		{"store truncated to one page and a half", store[:6000]},
		{"bbolt magic without a valid meta page", fakeMeta},
		{"bbolt database of another program", otherBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "fsl.db", tt.data)
			for _, opts := range [][]Option{nil, {WithReadOnly()}, {WithReleaseBetweenWrites()}} {
				s, err := Open(path, opts...)
				if err == nil {
					s.Close()
					t.Fatal("Open accepted it")
				}
				if !errors.Is(err, ErrNotStore) {
					t.Fatalf("Open: %v, want ErrNotStore", err)
				}
				if !strings.Contains(err.Error(), path) {
					t.Fatalf("error %q does not name the file", err)
				}
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after, tt.data) {
				t.Fatal("the file's bytes changed")
			}
		})
	}
}

func TestOpenRefusesNewerFormatUntouched(t *testing.T) {
	s, path := tempStore(t)
	s.Close() // so bbolt can rewrite meta below
	db, err := bolt.Open(path, 0o644, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		var v [4]byte
		binary.BigEndian.PutUint32(v[:], storeFormat+1)
		return tx.Bucket(bucketMeta).Put(keyFormat, v[:])
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range [][]Option{nil, {WithReadOnly()}, {WithReleaseBetweenWrites()}} {
		s, err := Open(path, opts...)
		if err == nil {
			s.Close()
			t.Fatal("Open accepted a newer format")
		}
		if !errors.Is(err, ErrNewerFormat) || !strings.Contains(err.Error(), "upgrade") {
			t.Fatalf("Open: %v, want ErrNewerFormat telling to upgrade", err)
		}
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("the file's bytes changed")
	}
}
