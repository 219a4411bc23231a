package transport

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/fsl-project/fsl/wire"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// Role is what one credential may do on fsl's subjects. NATS enforces it:
// the server refuses a publish or subscribe outside the role's subjects
// (and logs the violation), whatever the client sends.
type Role string

// Roles. A job's coordinator holds the coordinator credential; its workers
// share the worker credential; status readers, dashboards and evaluation
// clients hold the reader credential.
const (
	// RoleCoordinator may publish and subscribe on every subject.
	RoleCoordinator Role = "coordinator"
	// RoleWorker may publish only joins, work requests, results, parameter
	// requests and heartbeats, and receive only control messages and the
	// replies to its own requests. It cannot publish control messages, ask
	// for status or checkpoints, or read other workers' results.
	RoleWorker Role = "worker"
	// RoleReader may only ask for a job's status and checkpoints.
	RoleReader Role = "reader"
)

// Roles lists every role, in the order credentials are written.
var Roles = []Role{RoleCoordinator, RoleWorker, RoleReader}

// Inbox is the prefix of the reply subjects of a client of role r
// (ConnectOptions.Role sets it): each role may subscribe to its own
// replies only, so a worker's key cannot read the leases, parameters or
// status answers sent to clients of other roles. Clients of one role share
// it: a worker key can still subscribe to other workers' replies.
func (r Role) Inbox() string { return "_INBOX." + string(r) }

// inboxes is the subscription that lets a client of role r receive its
// replies.
func (r Role) inboxes() string { return r.Inbox() + ".>" }

// Permissions returns the subjects a role may publish to and subscribe to,
// for every job (subjects fsl.<job>.*; see NewSubjects) and a serving
// coordinator (ServeSubjects: a worker may ask for an assignment, a reader
// may list jobs; only the coordinator role changes the queue).
func (r Role) Permissions() (publish, subscribe []string, err error) {
	job := func(names ...string) []string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = wire.SubjectPrefix + ".*." + n
		}
		return out
	}
	switch r {
	case RoleCoordinator:
		return []string{">"}, []string{">"}, nil
	case RoleWorker:
		return append(job("join", "work", "result", "params", "hb"), wire.Serve.Assign), append(job("ctl"), r.inboxes()), nil
	case RoleReader:
		return append(job("status", "ckpt"), wire.Serve.Jobs), []string{r.inboxes()}, nil
	}
	return nil, nil, fmt.Errorf("transport: role %q: want coordinator, worker or reader", r)
}

// User is one client of the embedded server, authenticated by the NKey
// whose public key is NKey (a "U..." user key) and limited to its Role.
type User struct {
	Role Role   `json:"role"`
	NKey string `json:"nkey"`
}

// AuthDir is a folder of credentials written by WriteAuth: a seed file per
// role (<role>.nk, mode 0600: whoever reads it acts in that role), users.json
// (the public keys and roles the embedded server admits) and
// nats-server.conf (the same for an external NATS server).
type AuthDir string

const usersFile = "users.json"

// Seed is the path of role's seed file in the folder, for
// ConnectOptions.NKeyFile.
func (d AuthDir) Seed(r Role) string { return filepath.Join(string(d), string(r)+".nk") }

// WriteAuth creates dir (it must not hold credentials already) and writes a
// fresh NKey per role into it.
func WriteAuth(dir string) (AuthDir, error) {
	d := AuthDir(dir)
	if _, err := os.Stat(filepath.Join(dir, usersFile)); err == nil {
		return d, fmt.Errorf("transport: write credentials to %s: it already holds %s; remove it to make new ones", dir, usersFile)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return d, fmt.Errorf("transport: write credentials: %w", err)
	}
	var users []User
	for _, r := range Roles {
		kp, err := nkeys.CreateUser()
		if err != nil {
			return d, fmt.Errorf("transport: write credentials: create %s key: %w", r, err)
		}
		seed, err := kp.Seed()
		if err != nil {
			return d, fmt.Errorf("transport: write credentials: %s seed: %w", r, err)
		}
		pub, err := kp.PublicKey()
		if err != nil {
			return d, fmt.Errorf("transport: write credentials: %s public key: %w", r, err)
		}
		if err := os.WriteFile(d.Seed(r), append(seed, '\n'), 0o600); err != nil {
			return d, fmt.Errorf("transport: write credentials: %w", err)
		}
		users = append(users, User{Role: r, NKey: pub})
	}
	b, err := json.MarshalIndent(users, "", "  ")
	if err != nil {
		return d, fmt.Errorf("transport: write credentials: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, usersFile), append(b, '\n'), 0o644); err != nil {
		return d, fmt.Errorf("transport: write credentials: %w", err)
	}
	conf, err := ServerConfig(users)
	if err != nil {
		return d, err
	}
	if err := os.WriteFile(filepath.Join(dir, "nats-server.conf"), []byte(conf), 0o644); err != nil {
		return d, fmt.Errorf("transport: write credentials: %w", err)
	}
	return d, nil
}

// Users reads the users the folder's users.json admits, checking each
// key and role.
func (d AuthDir) Users() ([]User, error) {
	path := filepath.Join(string(d), usersFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("transport: read credentials: %w (make them with fsl-coord auth init)", err)
	}
	var users []User
	if err := json.Unmarshal(b, &users); err != nil {
		return nil, fmt.Errorf("transport: read credentials %s: %w", path, err)
	}
	if err := checkUsers(users); err != nil {
		return nil, fmt.Errorf("transport: read credentials %s: %w", path, err)
	}
	return users, nil
}

func checkUsers(users []User) error {
	if len(users) == 0 {
		return errors.New("no users")
	}
	for i, u := range users {
		if _, _, err := u.Role.Permissions(); err != nil {
			return fmt.Errorf("user %d: %w", i, err)
		}
		if !nkeys.IsValidPublicUserKey(u.NKey) {
			return fmt.Errorf("user %d (%s): %q is not an NKey user public key", i, u.Role, u.NKey)
		}
	}
	return nil
}

// nkeyUsers is the embedded server's form of users.
func nkeyUsers(users []User) ([]*server.NkeyUser, error) {
	if err := checkUsers(users); err != nil {
		return nil, err
	}
	out := make([]*server.NkeyUser, len(users))
	for i, u := range users {
		pub, sub, _ := u.Role.Permissions()
		out[i] = &server.NkeyUser{Nkey: u.NKey, Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: slices.Clone(pub)},
			Subscribe: &server.SubjectPermission{Allow: slices.Clone(sub)},
		}}
	}
	return out, nil
}

// ServerConfig is the authorization block of a nats-server configuration
// file that admits users with their roles' permissions: what an external
// NATS server (or cluster) needs to enforce the same roles as the embedded
// one.
func ServerConfig(users []User) (string, error) {
	if err := checkUsers(users); err != nil {
		return "", fmt.Errorf("transport: server config: %w", err)
	}
	quote := func(ss []string) string {
		q := make([]string, len(ss))
		for i, s := range ss {
			q[i] = fmt.Sprintf("%q", s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	var b strings.Builder
	b.WriteString("# fsl roles (fsl-coord auth init); include from nats-server.conf\nauthorization {\n  users = [\n")
	for _, u := range users {
		pub, sub, _ := u.Role.Permissions()
		fmt.Fprintf(&b, "    # %s\n    { nkey: %q, permissions: { publish: { allow: %s }, subscribe: { allow: %s } } }\n",
			u.Role, u.NKey, quote(pub), quote(sub))
	}
	b.WriteString("  ]\n}\n")
	return b.String(), nil
}
