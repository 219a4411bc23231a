package transport

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsl-project/fsl/wire"
)

// lockedBuffer is a log sink the server's goroutines may write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// roleServer writes fresh credentials and starts a server admitting them,
// logging to the returned buffer.
func roleServer(t *testing.T) (*Server, AuthDir, *lockedBuffer) {
	t.Helper()
	dir, err := WriteAuth(filepath.Join(t.TempDir(), "auth"))
	if err != nil {
		t.Fatal(err)
	}
	users, err := dir.Users()
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	srv := startServer(t, ServerOptions{Users: users, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	return srv, dir, logs
}

func connectAs(t *testing.T, srv *Server, dir AuthDir, r Role) *Conn {
	t.Helper()
	c, err := Connect(srv.ClientURL(), ConnectOptions{Name: string(r), NKeyFile: dir.Seed(r), Role: r, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("connect as %s: %v", r, err)
	}
	t.Cleanup(c.Close)
	return c
}

// delivered reports whether a message sent by from on subject reaches a
// coordinator subscribed to it within a short wait.
func delivered(t *testing.T, coord, from *Conn, subject string) bool {
	t.Helper()
	got := make(chan struct{}, 1)
	sub, err := coord.Subscribe(subject, func(wire.Message, string) {
		select {
		case got <- struct{}{}:
		default:
		}
	}, SubscribeOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe() //nolint:errcheck
	if err := coord.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := from.Send(subject, &wire.Ctl{Kind: wire.CtlDrain, Reason: "test"}); err != nil {
		t.Fatalf("send on %s: %v", subject, err)
	}
	if err := from.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
		return true
	case <-time.After(300 * time.Millisecond):
		return false
	}
}

func TestRolesAreEnforcedByTheServer(t *testing.T) {
	srv, dir, logs := roleServer(t)
	subj, err := wire.NewSubjects("job1")
	if err != nil {
		t.Fatal(err)
	}
	conns := map[Role]*Conn{}
	for _, r := range Roles {
		conns[r] = connectAs(t, srv, dir, r)
	}
	coord := conns[RoleCoordinator]
	for _, c := range []struct {
		role    Role
		subject string
		want    bool
	}{
		{RoleWorker, subj.Join, true},
		{RoleWorker, subj.Work, true},
		{RoleWorker, subj.Result, true},
		{RoleWorker, subj.Params, true},
		{RoleWorker, subj.Heartbeat, true},
		{RoleWorker, subj.Ctl, false},
		{RoleWorker, subj.Status, false},
		{RoleWorker, subj.Checkpoint, false},
		{RoleReader, subj.Status, true},
		{RoleReader, subj.Checkpoint, true},
		{RoleReader, subj.Ctl, false},
		{RoleReader, subj.Result, false},
		{RoleReader, subj.Work, false},
		{RoleCoordinator, subj.Ctl, true},
		{RoleWorker, wire.Serve.Assign, true},
		{RoleWorker, wire.Serve.Jobs, false},
		{RoleWorker, wire.Serve.Admin, false},
		{RoleReader, wire.Serve.Jobs, true},
		{RoleReader, wire.Serve.Assign, false},
		{RoleReader, wire.Serve.Admin, false},
		{RoleCoordinator, wire.Serve.Admin, true},
	} {
		if got := delivered(t, coord, conns[c.role], c.subject); got != c.want {
			t.Errorf("%s publishing on %s: delivered %v, want %v", c.role, c.subject, got, c.want)
		}
	}
	// A refused publish leaves the client connected: a worker keeps working.
	if !delivered(t, coord, conns[RoleWorker], subj.Heartbeat) {
		t.Error("the worker's connection did not survive its refused publishes")
	}
	// The server logs every violation, naming the subject.
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(logs.String(), `Publish Violation`) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if log := logs.String(); !strings.Contains(log, "Publish Violation") || !strings.Contains(log, subj.Ctl) {
		t.Errorf("the server's log does not name the violation on %s:\n%s", subj.Ctl, log)
	}
}

func TestWorkerCannotReadOtherWorkersResults(t *testing.T) {
	srv, dir, _ := roleServer(t)
	subj, _ := wire.NewSubjects("job1")
	worker, reader := connectAs(t, srv, dir, RoleWorker), connectAs(t, srv, dir, RoleReader)
	for _, c := range []*Conn{worker, reader} {
		if delivered(t, c, connectAs(t, srv, dir, RoleWorker), subj.Result) {
			t.Error("a worker's result reached a subscriber without the coordinator role")
		}
	}
}

// answerStatus makes coord answer every status request on subject with
// {"step":3} until the test ends.
func answerStatus(t *testing.T, coord *Conn, subject string) {
	t.Helper()
	sub, err := coord.Subscribe(subject, func(_ wire.Message, reply string) {
		_ = coord.Send(reply, &wire.Status{Body: []byte(`{"step":3}`)})
	}, SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() }) //nolint:errcheck // the server goes too
}

// TestRepliesReachOnlyTheirRole: a reader's status request is answered
// on the reader role's inbox, which a worker's key may not subscribe to,
// neither by the reader's prefix nor by the whole _INBOX tree.
func TestRepliesReachOnlyTheirRole(t *testing.T) {
	srv, dir, _ := roleServer(t)
	subj, _ := wire.NewSubjects("job1")
	coord, reader, worker := connectAs(t, srv, dir, RoleCoordinator), connectAs(t, srv, dir, RoleReader), connectAs(t, srv, dir, RoleWorker)
	answerStatus(t, coord, subj.Status)
	spied := make(chan string, 16)
	for _, prefix := range []string{"_INBOX.>", RoleReader.Inbox() + ".>"} {
		s, err := worker.Subscribe(prefix, func(_ wire.Message, _ string) { spied <- prefix }, SubscribeOptions{Logger: slog.New(slog.DiscardHandler)})
		if err == nil {
			defer s.Unsubscribe() //nolint:errcheck
		}
	}
	for _, c := range []*Conn{coord, worker} {
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := reader.Request(ctx, subj.Status, &wire.StatusRequest{}); err != nil {
		t.Fatalf("reader's status request: %v", err)
	}
	select {
	case p := <-spied:
		t.Errorf("a worker's subscription to %s read the reader's reply", p)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestRequestsAnsweredAcrossRoles(t *testing.T) {
	srv, dir, _ := roleServer(t)
	subj, _ := wire.NewSubjects("job1")
	coord, reader := connectAs(t, srv, dir, RoleCoordinator), connectAs(t, srv, dir, RoleReader)
	answerStatus(t, coord, subj.Status)
	if err := coord.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := reader.Request(ctx, subj.Status, &wire.StatusRequest{})
	if err != nil {
		t.Fatalf("reader's status request: %v", err)
	}
	if st, ok := m.(*wire.Status); !ok || string(st.Body) != `{"step":3}` {
		t.Fatalf("status reply %#v", m)
	}
}

func TestAuthFilesRefuseMistakes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "auth")
	d, err := WriteAuth(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WriteAuth(dir); err == nil {
		t.Error("WriteAuth overwrote existing credentials")
	}
	for _, r := range Roles {
		info, err := os.Stat(d.Seed(r))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s seed file mode %v, want 0600", r, info.Mode().Perm())
		}
	}
	users, _ := d.Users()
	conf, err := ServerConfig(users)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if !strings.Contains(conf, u.NKey) {
			t.Errorf("nats-server.conf lacks the %s key", u.Role)
		}
	}
	if !strings.Contains(conf, `"fsl.*.result"`) || !strings.Contains(conf, `"fsl.*.ctl"`) {
		t.Errorf("nats-server.conf lacks the worker's subjects:\n%s", conf)
	}
	for _, c := range []struct {
		name, json, want string
	}{
		{"unknown role", `[{"role":"admin","nkey":"` + users[0].NKey + `"}]`, `role "admin"`},
		{"bad key", `[{"role":"worker","nkey":"Uxyz"}]`, "not an NKey user public key"},
		{"no users", `[]`, "no users"},
		{"not JSON", `{`, "users.json"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := t.TempDir()
			if err := os.WriteFile(filepath.Join(bad, usersFile), []byte(c.json), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := AuthDir(bad).Users(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Users() = %v, want an error about %q", err, c.want)
			}
		})
	}
	if _, err := StartServer(ServerOptions{Token: "t", Users: users}); err == nil {
		t.Error("a server with both a token and role credentials started")
	}
	if _, err := Connect("nats://127.0.0.1:1", ConnectOptions{NKeyFile: d.Seed(RoleWorker)}); err == nil ||
		!strings.Contains(err.Error(), "needs its role") {
		t.Errorf("connect with a seed but no role: %v", err)
	}
	if _, err := Connect("nats://127.0.0.1:1", ConnectOptions{NKeyFile: filepath.Join(dir, "missing.nk"), Role: RoleWorker}); err == nil ||
		!strings.Contains(err.Error(), "missing.nk") {
		t.Errorf("connect with a missing seed file: %v", err)
	}
}

func TestClientWithoutRoleCredentialsIsRefused(t *testing.T) {
	srv, _, _ := roleServer(t)
	_, err := Connect(srv.ClientURL(), ConnectOptions{Token: "guess", Logger: slog.New(slog.DiscardHandler)})
	if !errors.Is(err, ErrAuthorization) {
		t.Fatalf("connect without a role's key: %v, want ErrAuthorization", err)
	}
}
