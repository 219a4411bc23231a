package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsl-project/fsl/wire/transport"
	"github.com/urfave/cli/v2"
)

// testPKI is a CA and two certificates it signed, as PEM files in a
// temporary folder: a server certificate for 127.0.0.1 and a client
// certificate.
type testPKI struct {
	ca, serverCert, serverKey, clientCert, clientKey string
	otherCA                                          string // a CA that signed nothing here
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	serial := int64(1)
	cert := func(tmpl, parent *x509.Certificate, pub, signer any) (*x509.Certificate, []byte) {
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		if parent == nil {
			parent = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, der
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		b, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	caTmpl := func(name string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	}
	var p testPKI
	caKey := newKey()
	ca, caDER := cert(caTmpl("fsl test CA"), nil, &caKey.PublicKey, caKey)
	p.ca = write("ca.pem", "CERTIFICATE", caDER)
	otherKey := newKey()
	_, otherDER := cert(caTmpl("another CA"), nil, &otherKey.PublicKey, otherKey)
	p.otherCA = write("other-ca.pem", "CERTIFICATE", otherDER)

	srvKey := newKey()
	_, srvDER := cert(&x509.Certificate{Subject: pkix.Name{CommonName: "coordinator"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, &srvKey.PublicKey, caKey)
	p.serverCert, p.serverKey = write("server.pem", "CERTIFICATE", srvDER), write("server-key.pem", "PRIVATE KEY", keyDER(srvKey))

	cliKey := newKey()
	_, cliDER := cert(&x509.Certificate{Subject: pkix.Name{CommonName: "worker"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, &cliKey.PublicKey, caKey)
	p.clientCert, p.clientKey = write("client.pem", "CERTIFICATE", cliDER), write("client-key.pem", "PRIVATE KEY", keyDER(cliKey))
	return p
}

// serverTLS is the server side of pki: its certificate, requiring and
// verifying client certificates signed by the CA.
func (pki testPKI) serverTLS(t *testing.T) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(pki.serverCert, pki.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := readCAs(pki.ca)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
}

// freeAddr returns a 127.0.0.1 address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// appRun is an app running in the background; wait returns its error and
// output once it ends (and again on later calls).
type appRun struct {
	done  chan error
	out   *lockedBuffer
	ended bool
	err   error
}

// lockedBuffer is a background app's output, which the test reads while
// the app writes.
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

func runInBackground(ctx context.Context, app *cli.App, args ...string) *appRun {
	r := &appRun{done: make(chan error, 1), out: &lockedBuffer{}}
	app.Writer, app.ErrWriter = r.out, r.out
	app.ExitErrHandler = func(*cli.Context, error) {}
	go func() { r.done <- app.RunContext(ctx, append([]string{app.Name}, args...)) }()
	return r
}

// waitFor blocks until the app's output holds s. A test must let one app
// finish parsing its flags before it runs another in the same process:
// urfave/cli's help flag is a package variable every app's parsing writes.
func (r *appRun) waitFor(t *testing.T, s string, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(r.out.String(), s) {
			return
		}
	}
	t.Fatalf("no %q in the output within %v:\n%s", s, within, r.out.String())
}

func (r *appRun) wait(t *testing.T, within time.Duration) (string, error) {
	t.Helper()
	if r.ended {
		return r.out.String(), r.err
	}
	select {
	case r.err = <-r.done:
		r.ended = true
		return r.out.String(), r.err
	case <-time.After(within):
		t.Fatalf("still running after %v; output so far:\n%s", within, r.out.String())
		return "", nil
	}
}

func TestTLSWithClientCertificates(t *testing.T) {
	pki := newTestPKI(t)
	addr := freeAddr(t)
	url := "nats://" + addr
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	coord := runInBackground(ctx, NewCoordApp(), "start", "--job", "tlsjob", "--loss", "triplet", "--size", "16", "--triplets", "4",
		"--shards", "2", "--steps", "2", "--listen", addr, "--http", "", "--eval-episodes", "0", "--quiet", "--db", filepath.Join(t.TempDir(), "fsl.db"),
		"--tls-cert", pki.serverCert, "--tls-key", pki.serverKey, "--tls-ca", pki.ca)
	coord.waitFor(t, "embedded NATS at", 30*time.Second)
	defer func() {
		cancel()
		if out, err := coord.wait(t, 30*time.Second); t.Failed() {
			t.Logf("coordinator: %v\n%s", err, out)
		}
	}()

	status := func(extra ...string) (string, error) {
		return runCoord(t, append([]string{"status", "--nats", url, "--job", "tlsjob", "--timeout", "2s"}, extra...)...)
	}
	withCert := []string{"--tls-ca", pki.ca, "--tls-cert", pki.clientCert, "--tls-key", pki.clientKey}
	var out string
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if out, err = status(withCert...); err == nil {
			break
		}
	}
	if err != nil || !strings.Contains(out, "tlsjob") {
		t.Fatalf("status over TLS with a client certificate: %v\n%s\ncoordinator:\n%s", err, out, coord.out.String())
	}

	for name, args := range map[string][]string{
		"no TLS":                  nil,
		"CA but no certificate":   {"--tls-ca", pki.ca},
		"certificate but no CA":   {"--tls-cert", pki.clientCert, "--tls-key", pki.clientKey},
		"another CA":              {"--tls-ca", pki.otherCA, "--tls-cert", pki.clientCert, "--tls-key", pki.clientKey},
		"server's cert as client": {"--tls-ca", pki.ca, "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey},
	} {
		if out, err := status(args...); err == nil {
			t.Errorf("status with %s: no error, want a refusal\n%s", name, out)
		}
	}

	worker := runInBackground(ctx, NewWorkerApp(), append([]string{"--nats", url, "--job", "tlsjob", "--name", "tls-worker", "--log-level", "warn"}, withCert...)...)
	if out, err := worker.wait(t, 2*time.Minute); err != nil {
		t.Fatalf("worker with a client certificate: %v\n%s", err, out)
	}
	out, err = coord.wait(t, 30*time.Second)
	if err != nil || !strings.Contains(out, "done: step 2") {
		t.Fatalf("coordinator: %v\n%s", err, out)
	}
}

func TestTLSFlagErrorsNameTheFlagAndFile(t *testing.T) {
	pki := newTestPKI(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"cert without key", []string{"--tls-cert", pki.clientCert}, []string{"--tls-cert", "client.pem", "--tls-key"}},
		{"key without cert", []string{"--tls-key", pki.clientKey}, []string{"--tls-key", "client-key.pem"}},
		{"missing CA file", []string{"--tls-ca", missing}, []string{"--tls-ca", "missing.pem"}},
		{"CA file not PEM", []string{"--tls-ca", pki.clientKey}, []string{"--tls-ca", "client-key.pem", "no PEM certificate"}},
		{"key of another cert", []string{"--tls-cert", pki.clientCert, "--tls-key", pki.serverKey}, []string{"--tls-cert", "client.pem", "server-key.pem"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runCoord(t, append([]string{"status", "--nats", "nats://127.0.0.1:1", "--timeout", "1s"}, tc.args...)...)
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Fatalf("status %v: error %v, want it to name %q", tc.args, err, w)
				}
			}
		})
	}
	_, err := runCoord(t, "start", "--listen", "127.0.0.1:0", "--http", "", "--db", filepath.Join(t.TempDir(), "x.db"), "--tls-ca", pki.ca)
	if err == nil || !strings.Contains(err.Error(), "--tls-ca") || !strings.Contains(err.Error(), "--tls-cert") {
		t.Fatalf("start --tls-ca without a server certificate: %v, want an error naming --tls-ca and --tls-cert", err)
	}
}

func TestOpenServersOnTheNetworkAreRefused(t *testing.T) {
	pki := newTestPKI(t)
	db := filepath.Join(t.TempDir(), "x.db")
	cases := []struct {
		name string
		args []string
		want []string // empty: accepted (the run is then stopped by a bad --steps)
	}{
		{"NATS on 0.0.0.0", []string{"--listen", "0.0.0.0:0", "--http", ""}, []string{"--listen 0.0.0.0:0", "--token", "client certificates", "--insecure"}},
		{"NATS on a host name", []string{"--listen", "coord.example:0", "--http", ""}, []string{"--listen", "--insecure"}},
		{"NATS on [::]", []string{"--listen", "[::]:0", "--http", ""}, []string{"--listen"}},
		{"NATS with server TLS but no client certs", []string{"--listen", "0.0.0.0:0", "--http", "", "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey}, []string{"--listen"}},
		{"monitor on 0.0.0.0", []string{"--listen", "127.0.0.1:0", "--http", "0.0.0.0:0"}, []string{"--http 0.0.0.0:0", "--http-token", "--insecure"}},
		{"monitor on all interfaces", []string{"--listen", "127.0.0.1:0", "--http", ":0"}, []string{"--http :0", "--http-token"}},
		{"monitor needs its own token", []string{"--listen", "127.0.0.1:0", "--http", "0.0.0.0:0", "--token", "t"}, []string{"--http", "--http-token"}},
		{"NATS with a token", []string{"--listen", "0.0.0.0:0", "--http", "", "--token", "t"}, nil},
		{"NATS with the example's token", []string{"--listen", "0.0.0.0:0", "--http", "", "--token", "change-me-to-a-long-random-string"}, []string{"--token", "placeholder", "openssl rand"}},
		{"monitor with the example's token", []string{"--listen", "127.0.0.1:0", "--http", "0.0.0.0:0", "--http-token", "Change-me-too"}, []string{"--http-token", "placeholder"}},
		{"the example's token on loopback", []string{"--listen", "127.0.0.1:0", "--http", "", "--token", "change-me"}, nil},
		{"NATS with client certs", []string{"--listen", "0.0.0.0:0", "--http", "", "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey, "--tls-ca", pki.ca}, nil},
		{"NATS --insecure", []string{"--listen", "0.0.0.0:0", "--http", "", "--insecure"}, nil},
		{"monitor with a token", []string{"--listen", "127.0.0.1:0", "--http", "0.0.0.0:0", "--http-token", "h"}, nil},
		{"monitor --insecure", []string{"--listen", "127.0.0.1:0", "--http", "0.0.0.0:0", "--insecure"}, nil},
		{"loopback", []string{"--listen", "127.0.0.2:0", "--http", "localhost:0"}, nil},
		{"IPv6 loopback", []string{"--listen", "[::1]:0", "--http", "[::1]:0"}, nil},
		{"external NATS", []string{"--nats", "nats://10.0.0.1:4222", "--http", ""}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// --steps 0 fails after the address checks would have, before anything is served.
			args := append([]string{"start", "--db", db, "--steps", "0"}, tc.args...)
			_, err := runCoord(t, args...)
			if err == nil {
				t.Fatal("start succeeded; want an error")
			}
			if len(tc.want) == 0 {
				if !strings.Contains(err.Error(), "--steps") {
					t.Fatalf("start %v: %v, want it accepted (and stopped by --steps 0)", tc.args, err)
				}
				return
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("start %v: error %q does not name %q", tc.args, err, w)
				}
			}
		})
	}
}

func TestStartOnAnExternalTLSServerPresentsItsClientCertificate(t *testing.T) {
	pki := newTestPKI(t)
	srv, err := transport.StartServer(transport.ServerOptions{TLS: pki.serverTLS(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	url := "nats://" + srv.Addr().String()
	args := []string{"start", "--nats", url, "--job", "ext", "--loss", "triplet", "--size", "16", "--triplets", "4", "--shards", "2",
		"--steps", "1", "--local-workers", "1", "--http", "", "--eval-episodes", "0", "--quiet", "--db", filepath.Join(t.TempDir(), "fsl.db")}
	if out, err := runCoord(t, append(args, "--tls-ca", pki.ca, "--tls-cert", pki.clientCert, "--tls-key", pki.clientKey)...); err != nil || !strings.Contains(out, "done: step 1") {
		t.Fatalf("start --nats with a client certificate: %v\n%s", err, out)
	}
	if out, err := runCoord(t, append(args, "--tls-ca", pki.ca)...); err == nil || !strings.Contains(err.Error(), "--nats") {
		t.Fatalf("start --nats without a client certificate: %v, want a refusal naming --nats\n%s", err, out)
	}
}
