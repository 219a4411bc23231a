package checkpoints

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestExportImportIsByteIdentical(t *testing.T) {
	src, srcPath := tempStore(t)
	rec := testJob("conv4-triplet", modelParams)
	if err := src.PutJob(rec); err != nil {
		t.Fatal(err)
	}
	want := makeCheckpoint(1200, modelParams, modelState)
	if err := src.Save(rec.ID, want); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "step1200.fslckpt")
	if err := src.ExportFile(rec.ID, 1200, file); err != nil {
		t.Fatal(err)
	}
	src.Close()

	dst, dstPath := tempStore(t, WithReleaseBetweenWrites())
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	job, step, err := dst.Import(f)
	if err != nil {
		t.Fatal(err)
	}
	if job != rec.ID || step != 1200 {
		t.Fatalf("Import = %q, %d; want %q, 1200", job, step, rec.ID)
	}
	if !bytes.Equal(storedValue(t, srcPath, job, step), storedValue(t, dstPath, job, step)) {
		t.Fatal("imported value is not byte-identical to the exported one")
	}
	got, err := dst.At(job, step)
	if err != nil {
		t.Fatal(err)
	}
	equalCheckpoint(t, got, want)
	if got.ParamsSHA256() != want.ParamsSHA256() {
		t.Fatal("parameter hashes differ")
	}
	gotRec, err := dst.Job(job)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotRec.Spec, rec.Spec) || gotRec.Dataset != rec.Dataset || !gotRec.Layout.Equal(rec.Layout) {
		t.Fatalf("imported job record %+v, want %+v", gotRec, rec)
	}
	if best, err := dst.Best(job); err != nil || best.Step != step {
		t.Fatalf("Best after import: %v, %v", best, err)
	}
}

func exportBytes(t *testing.T, nParams int) []byte {
	t.Helper()
	s, _ := tempStore(t)
	if err := s.PutJob(testJob("j", nParams)); err != nil {
		t.Fatal(err)
	}
	if err := s.Save("j", makeCheckpoint(4, nParams, 2)); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Export("j", 4, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestImportRejectsDamagedExports(t *testing.T) {
	good := exportBytes(t, 40)
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrCorrupt},
		{"not an export", []byte("hello, this is not an fsl export at all"), ErrCorrupt},
		{"truncated", good[:len(good)-1], ErrCorrupt},
		{"trailing byte", append(bytes.Clone(good), 0), ErrCorrupt},
		{"flipped body byte", mutate(func(b []byte) []byte { b[len(b)/2] ^= 1; return b }), ErrCorrupt},
		{"flipped checksum byte", mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrCorrupt},
		{"newer format", mutate(func(b []byte) []byte { binary.LittleEndian.PutUint16(b[8:], exportVersion+1); return b }), ErrNewerFormat},
		{"huge job record length", mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[16:], 1<<31); return b }), ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := tempStore(t)
			if _, _, err := s.Import(bytes.NewReader(tt.data)); !errors.Is(err, tt.want) {
				t.Fatalf("Import: %v, want %v", err, tt.want)
			}
			if jobs, err := s.Jobs(); err != nil || len(jobs) != 0 {
				t.Fatalf("a failed import left jobs %v (%v)", jobs, err)
			}
		})
	}
}

func TestImportIntoJobWithOtherLayoutIsRefused(t *testing.T) {
	data := exportBytes(t, 40)
	s, _ := tempStore(t)
	if err := s.PutJob(testJob("j", 41)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Import(bytes.NewReader(data)); err == nil {
		t.Fatal("import into a job of another layout succeeded")
	}
	if infos, _ := s.List("j"); len(infos) != 0 {
		t.Fatalf("refused import stored %d checkpoints", len(infos))
	}
}

func TestExportOfMissingOrCorruptCheckpointFails(t *testing.T) {
	s, path := tempStore(t, WithReleaseBetweenWrites())
	if err := s.PutJob(testJob("j", 10)); err != nil {
		t.Fatal(err)
	}
	if err := s.Save("j", makeCheckpoint(1, 10, 0)); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "x.fslckpt")
	if err := s.ExportFile("j", 2, out); !errors.Is(err, ErrNotFound) {
		t.Fatalf("export of missing step: %v, want ErrNotFound", err)
	}
	corruptStored(t, path, "j", 1, func(b []byte) { b[20] ^= 4 })
	if err := s.ExportFile("j", 1, out); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("export of corrupt step: %v, want ErrCorrupt", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 0 {
		t.Fatalf("failed exports left files: %v", entries)
	}
}
