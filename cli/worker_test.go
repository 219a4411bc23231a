package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fsl-project/fsl/wire/transport"
	"github.com/fsl-project/fsl/worker"
)

// TestWorkerExitsWithGaveUpStatus: a worker whose --job has no coordinator
// on the server exits with exitGaveUp after --give-up-after, saying to
// check --job.
func TestWorkerExitsWithGaveUpStatus(t *testing.T) {
	srv, err := transport.StartServer(transport.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	app := NewWorkerApp()
	var out bytes.Buffer
	app.Writer, app.ErrWriter = &out, &out
	app.ExitErrHandler = func(*cli.Context, error) {}
	began := time.Now()
	err = app.RunContext(context.Background(), []string{"fsl-worker", "--nats", srv.ClientURL(), "--job", "typo", "--give-up-after", "300ms"})
	var ec cli.ExitCoder
	if !errors.As(err, &ec) || ec.ExitCode() != exitGaveUp || !errors.Is(err, worker.ErrGaveUp) {
		t.Fatalf("err %v, want exit status %d wrapping worker.ErrGaveUp", err, exitGaveUp)
	}
	if !strings.Contains(err.Error(), "check --job") || time.Since(began) > 10*time.Second {
		t.Errorf("after %v: %v", time.Since(began), err)
	}
	if _, err := runWorkerArgs(t, "--give-up-after", "-1s"); err == nil || !strings.Contains(err.Error(), "--give-up-after") {
		t.Errorf("--give-up-after -1s: %v, want an error naming the flag", err)
	}
}

func runWorkerArgs(t *testing.T, args ...string) (string, error) {
	t.Helper()
	app := NewWorkerApp()
	var out bytes.Buffer
	app.Writer, app.ErrWriter = &out, &out
	app.ExitErrHandler = func(*cli.Context, error) {}
	err := app.RunContext(context.Background(), append([]string{"fsl-worker"}, args...))
	return out.String(), err
}
