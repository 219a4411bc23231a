package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// insecureFlag is start's --insecure: the one way to serve NATS or the HTTP
// monitor on a non-loopback address without credentials.
func insecureFlag() cli.Flag {
	return &cli.BoolFlag{Name: "insecure", Usage: "allow --listen and --http on a non-loopback address without credentials: whoever reaches NATS may control the job, whoever reaches HTTP may read its status"}
}

// httpTokenFlag is the HTTP monitor's bearer token; start serves with it
// and status --http sends it.
func httpTokenFlag(usage string) cli.Flag {
	return &cli.StringFlag{Name: "http-token", EnvVars: []string{"FSL_HTTP_TOKEN"}, Usage: usage}
}

// tlsClientFlags are the TLS flags of a NATS client (fsl-worker, status,
// eval).
func tlsClientFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "tls-ca", Usage: "PEM file of the CA to trust for the NATS server's certificate (a private CA)"},
		&cli.StringFlag{Name: "tls-cert", Usage: "PEM file of this client's TLS certificate (servers that require client certificates)"},
		&cli.StringFlag{Name: "tls-key", Usage: "PEM file of the private key of --tls-cert"},
	}
}

// tlsStartFlags are start's TLS flags: the embedded server's, or with
// --nats the client's.
func tlsStartFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "tls-cert", Usage: "PEM certificate: the embedded server's (it then requires TLS); with --nats, this client's"},
		&cli.StringFlag{Name: "tls-key", Usage: "PEM file of the private key of --tls-cert"},
		&cli.StringFlag{Name: "tls-ca", Usage: "PEM CA file: the embedded server requires and verifies client certificates it signed; with --nats, the CA to trust for the server"},
	}
}

// tlsConfig builds the *tls.Config of --tls-cert, --tls-key and --tls-ca,
// or nil when none is given. As a server (the embedded NATS server) the
// certificate is required and --tls-ca makes client certificates signed by
// it required; as a client --tls-ca is trusted for the server's certificate
// and the certificate, when given, is presented to the server.
func tlsConfig(c *cli.Context, server bool) (*tls.Config, error) {
	certFile, keyFile, caFile := c.String("tls-cert"), c.String("tls-key"), c.String("tls-ca")
	if certFile == "" && keyFile == "" && caFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case certFile != "" && keyFile != "":
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case certFile != "":
		return nil, fmt.Errorf("--tls-cert %s: needs --tls-key, the file of its private key", certFile)
	case keyFile != "":
		return nil, fmt.Errorf("--tls-key %s: needs --tls-cert, the certificate of that key", keyFile)
	case server:
		return nil, fmt.Errorf("--tls-ca %s: the embedded server also needs its own certificate (--tls-cert and --tls-key)", caFile)
	}
	if caFile != "" {
		pool, err := readCAs(caFile)
		if err != nil {
			return nil, err
		}
		if server {
			cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
		} else {
			cfg.RootCAs = pool
		}
	}
	return cfg, nil
}

// readCAs reads the PEM certificates of --tls-ca.
func readCAs(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in the file", path)
	}
	return pool, nil
}

// isLoopback says whether host names only this machine: localhost or an
// address in 127.0.0.0/8 or ::1. Any other name may resolve elsewhere.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// errOpen is what checkListen and checkHTTP wrap: a server on the network
// that anyone could use.
var errOpen = errors.New("refusing an open server on a non-loopback address")

// checkListen refuses the embedded NATS server on a non-loopback --listen
// without credentials (a token, role credentials, or TLS client
// certificates) unless
// --insecure: anyone who reaches it could join the job, take shards, send
// results and read parameters. An empty host is 127.0.0.1 (wire's default).
func checkListen(c *cli.Context, token string, tlsCfg *tls.Config) error {
	addr := c.String("listen")
	host := hostOf(addr)
	if host != "" && !isLoopback(host) && !c.Bool("insecure") && placeholder(token) {
		return fmt.Errorf("--listen %s: %w: --token (FSL_TOKEN) is the example's placeholder %q: set a long random one (openssl rand -hex 32)", addr, errOpen, token)
	}
	if host == "" || isLoopback(host) || c.Bool("insecure") || token != "" || c.String("auth") != "" ||
		(tlsCfg != nil && tlsCfg.ClientAuth == tls.RequireAndVerifyClientCert) {
		return nil
	}
	return fmt.Errorf("--listen %s: %w: add --token (or FSL_TOKEN), role credentials (--auth), TLS with client certificates (--tls-cert, --tls-key and --tls-ca), "+
		"or --insecure to accept that anyone who reaches it may join, read and write the job", addr, errOpen)
}

// placeholder says whether a token is an example's stand-in (the k8s
// example overlay ships "change-me-..."): a published secret is none.
func placeholder(token string) bool {
	return strings.HasPrefix(strings.ToLower(token), "change-me")
}

// checkHTTP refuses the HTTP monitor on a non-loopback --http without
// --http-token unless --insecure. An empty host listens on every interface.
func checkHTTP(c *cli.Context) error {
	addr := c.String("http")
	if addr != "" && !isLoopback(hostOf(addr)) && !c.Bool("insecure") && placeholder(c.String("http-token")) {
		return fmt.Errorf("--http %s: %w: --http-token (FSL_HTTP_TOKEN) is the example's placeholder %q: set a long random one (openssl rand -hex 32)", addr, errOpen, c.String("http-token"))
	}
	if addr == "" || isLoopback(hostOf(addr)) || c.Bool("insecure") || c.String("http-token") != "" {
		return nil
	}
	return fmt.Errorf("--http %s: %w: add --http-token (or FSL_HTTP_TOKEN) to guard /status, the dashboard and pprof "+
		"(/metrics, /healthz and /readyz stay open), or --insecure to accept an open monitor", addr, errOpen)
}
