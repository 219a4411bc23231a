package episodes

import "testing"

// BenchmarkLoadOmniglot loads both official zips to 28×28 (32,460 images).
func BenchmarkLoadOmniglot(b *testing.B) {
	dir := omniglotDir(b)
	var first string
	for b.Loop() {
		ds, err := LoadOmniglot(dir, 28)
		if err != nil {
			b.Fatal(err)
		}
		if len(ds.Classes) != 964+659 {
			b.Fatalf("%d classes", len(ds.Classes))
		}
		if first == "" {
			first = ds.Fingerprint()
		} else if fp := ds.Fingerprint(); fp != first {
			b.Fatalf("loads differ: fingerprint %s then %s", first, fp)
		}
	}
}
