package wire

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestOnlyWireImportsNATS holds the promise of doc.go: coordinator, worker
// and cli reach NATS through Conn, never through the client library.
func TestOnlyWireImportsNATS(t *testing.T) {
	for _, dir := range []string{"../coordinator", "../worker", "../cli"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				if p, _ := strconv.Unquote(imp.Path.Value); strings.HasPrefix(p, "github.com/nats-io/") {
					t.Errorf("%s imports %s; use wire.Conn", f, p)
				}
			}
		}
	}
}
