package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fsl-project/fsl/wire"
)

// selfSigned returns a server certificate for 127.0.0.1 and localhost that
// is its own CA, and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "fsl test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestTLSServerAcceptsOnlyClientsTrustingItsCA(t *testing.T) {
	cert, pool := selfSigned(t)
	_, otherPool := selfSigned(t)
	s := startServer(t, ServerOptions{
		TLS:    &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Token:  "tok",
		Logger: quiet,
	})
	url := "nats://" + s.Addr().String()

	t.Run("right CA connects and exchanges messages", func(t *testing.T) {
		nc := connect(t, url, ConnectOptions{Token: "tok", TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}})
		if _, err := nc.nc.TLSConnectionState(); err != nil {
			t.Fatalf("connection is not TLS: %v", err)
		}
		subj := testSubjects(t)
		got := make(chan wire.Message, 1)
		if _, err := nc.Subscribe(subj.Status, func(m wire.Message, _ string) { got <- m }, SubscribeOptions{Logger: quiet}); err != nil {
			t.Fatal(err)
		}
		if err := nc.Send(subj.Status, &wire.Status{Body: []byte("ok")}); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-got:
			if st, ok := m.(*wire.Status); !ok || string(st.Body) != "ok" {
				t.Fatalf("got %#v", m)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("message over TLS not delivered")
		}
	})
	tests := []struct {
		name string
		tls  *tls.Config
	}{
		{"no TLS config", nil},
		{"untrusted CA", &tls.Config{RootCAs: otherPool, MinVersion: tls.VersionTLS12}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := Connect(url, ConnectOptions{Token: "tok", TLS: tt.tls, Logger: quiet, Timeout: 3 * time.Second})
			if err == nil {
				nc.Close()
				t.Fatal("connected")
			}
			var unknownCA x509.UnknownAuthorityError
			if !errors.As(err, &unknownCA) {
				t.Fatalf("err = %v, want a refusal of the server's certificate", err)
			}
		})
	}
}

func TestInProcessConnectsToATLSServerWithoutTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	s := startServer(t, ServerOptions{
		TLS:    &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12},
		Logger: quiet,
	})
	if !strings.HasPrefix(s.ClientURL(), "tls://") {
		t.Fatalf("ClientURL %q, want tls://", s.ClientURL())
	}
	for _, tc := range []*tls.Config{nil, {RootCAs: pool, MinVersion: tls.VersionTLS12}} {
		nc, err := Connect(s.ClientURL(), ConnectOptions{InProcess: s, TLS: tc, Logger: quiet, Timeout: 3 * time.Second})
		if err != nil {
			t.Fatalf("in-process connection with TLS %v: %v", tc != nil, err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatalf("flush: %v", err)
		}
		nc.Close()
	}
}
