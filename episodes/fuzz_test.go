package episodes

import (
	"bytes"
	"testing"
)

// FuzzOpenOmniglotZip: any bytes as an Omniglot split zip give a dataset or
// an error, never a panic.
func FuzzOpenOmniglotZip(f *testing.F) {
	good := fakeOmniglot(f, "images_background", []string{"A"}, 1)
	f.Add(zipBytes(f, good))
	f.Add(zipBytes(f, good[:3]))
	f.Add(zipBytes(f, []entry{{"images_evaluation/A/character01/0001_01.png", []byte("x")}}))
	f.Add([]byte("PK\x03\x04garbage"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		items, err := readOmniglotZip("fuzz.zip", data)
		if err != nil {
			return
		}
		ds, err := assemble("fuzz.zip", 8, 1, true, items)
		if err == nil && (len(ds.Classes) == 0 || len(ds.pixels) != ds.NumImages()*64) {
			t.Fatalf("inconsistent dataset: %d classes, %d bytes", len(ds.Classes), len(ds.pixels))
		}
	})
}

// FuzzDecodeImage: any bytes as an image decode to size×size (one plane
// or three) or error.
func FuzzDecodeImage(f *testing.F) {
	f.Add(pngBytes(f, 105, 105, func(x, y int) uint8 { return uint8(x ^ y) }))
	f.Add(pngBytes(f, 1, 3, func(x, y int) uint8 { return 7 }))
	f.Add([]byte("\xff\xd8\xff\xe0 not really a jpeg"))
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range []int{1, 3} {
			img, err := decodeImage(data, 8, c, false, nil)
			if err == nil && len(img) != c*64 {
				t.Fatalf("%d channels: %d bytes, want %d", c, len(img), c*64)
			}
		}
	})
}

// FuzzReadSplitCSV: any bytes as a miniImageNet split CSV give rows with
// plain names and labels, or an error.
func FuzzReadSplitCSV(f *testing.F) {
	f.Add([]byte("filename,label\nn0153282900000005.jpg,n01532829\n"))
	f.Add([]byte("filename,label\n\"a,b\",c\n"))
	f.Add([]byte("filename,label\n../etc/passwd,x\n"))
	f.Add([]byte("label,filename\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := readSplitCSV("fuzz.csv", bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, r := range rows {
			if r.filename == "" || r.label == "" || bytes.ContainsAny([]byte(r.filename), `/\`) || r.line < 2 {
				t.Fatalf("bad row accepted: %+v", r)
			}
		}
	})
}
