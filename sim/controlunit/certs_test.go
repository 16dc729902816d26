package simcontrolunit

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

var listeningRE = regexp.MustCompile(`listening on (https://\S+)`)

// runMain runs Main ("kvitt sim controlunit") with args until the returned
// stop is called; it returns the unit's URL and what Main printed.
func runMain(t *testing.T, args ...string) (url string, out *syncBuf, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = &syncBuf{}
	done := make(chan error, 1)
	go func() { done <- Main(ctx, args, out) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := listeningRE.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
			break
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("Main returned %v:\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("Main did not start:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Main: %v", err)
		}
	}
	t.Cleanup(stop)
	return url, out, stop
}

// clientFromFiles is the TLS client kvitt builds from the files of a
// certificates directory (control_units.*.cert_file, key_file, ca_file).
func clientFromFiles(t *testing.T, dir string) *http.Client {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, ClientCertFile), filepath.Join(dir, ClientKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

func register(t *testing.T, c *http.Client, url, serial string) {
	t.Helper()
	res, err := c.Post(url, "application/xml", strings.NewReader(req(serial, "normal")))
	if err != nil {
		t.Fatalf("registration %s: %v", serial, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || field(string(b), "ResponseCode") != "0" {
		t.Fatalf("registration %s: %d %s", serial, res.StatusCode, b)
	}
}

func readFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, name := range certFiles {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	return out
}

// "kvitt sim controlunit --certs DIR" keeps its certificates: started,
// stopped and started again with the same directory it has the same CA,
// and a client configured from the first start's files still connects.
//
// Failed before: every start made a new CA and overwrote the files, so a
// kvitt configured with the first start's files failed with "certificate
// signed by unknown authority" after the simulator restarted.
func TestCertsKeptAcrossRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cu-certs")
	url, out, stop := runMain(t, "--addr", "127.0.0.1:0", "--certs", dir)
	if !strings.Contains(out.String(), "certificates written to "+dir) {
		t.Errorf("first start said:\n%s", out.String())
	}
	first := readFiles(t, dir)
	client := clientFromFiles(t, dir) // configured once, as kvitt is at its start
	register(t, client, url, "1")
	stop()

	url2, out2, stop2 := runMain(t, "--addr", "127.0.0.1:0", "--certs", dir)
	defer stop2()
	if !strings.Contains(out2.String(), "certificates kept from "+dir) {
		t.Errorf("second start said:\n%s", out2.String())
	}
	for name, b := range readFiles(t, dir) {
		if !bytes.Equal(b, first[name]) {
			t.Errorf("%s changed on restart", name)
		}
	}
	// A new connection (not one kept alive from before) to the new process.
	client.CloseIdleConnections()
	register(t, client, url2, "2")
}

// Only some of the files: the simulator refuses to start rather than make a
// new CA that no kvitt trusts, and leaves the files alone. This is also
// what a directory written by an older simulator (without server.pem and
// server-key.pem) gets.
func TestCertsIncompleteRefused(t *testing.T) {
	dir := t.TempDir()
	u, err := New(Config{CertsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	u.Close()
	for _, name := range []string{ServerCertFile, ServerKeyFile} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := os.ReadFile(filepath.Join(dir, CAFile))
	u2, _ := New(Config{CertsDir: dir})
	err = u2.Start("127.0.0.1:0")
	if err == nil {
		u2.Close()
		t.Fatal("started with an incomplete certificates directory")
	}
	for _, want := range []string{"incomplete", ServerCertFile, ServerKeyFile, "missing"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(dir, CAFile)); !bytes.Equal(before, after) {
		t.Error("ca.pem was overwritten")
	}
	if _, err := os.Stat(filepath.Join(dir, ServerCertFile)); err == nil {
		t.Error("server.pem was written")
	}
	// Main says the same, and exits.
	if err := Main(context.Background(), []string{"--addr", "127.0.0.1:0", "--certs", dir}, io.Discard); err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Errorf("Main: %v", err)
	}
}

// A file that is not what it should be is named in the error.
func TestCertsInvalidRefused(t *testing.T) {
	fresh := func(t *testing.T) string {
		dir := t.TempDir()
		u, _ := New(Config{CertsDir: dir})
		if err := u.Start("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		u.Close()
		return dir
	}
	other := fresh(t)
	for _, c := range []struct {
		name  string
		spoil func(dir string)
		want  string
	}{
		{"key of another certificate", func(dir string) {
			copyFile(t, filepath.Join(dir, ServerKeyFile), filepath.Join(dir, ClientKeyFile))
		}, ClientCertFile},
		{"certificate of another CA", func(dir string) {
			copyFile(t, filepath.Join(other, ServerCertFile), filepath.Join(dir, ServerCertFile))
			copyFile(t, filepath.Join(other, ServerKeyFile), filepath.Join(dir, ServerKeyFile))
		}, "not valid under ca.pem"},
		{"not PEM", func(dir string) { os.WriteFile(filepath.Join(dir, CAFile), []byte("hello"), 0o600) }, CAFile},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := fresh(t)
			c.spoil(dir)
			u, _ := New(Config{CertsDir: dir})
			err := u.Start("127.0.0.1:0")
			if err == nil {
				u.Close()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
		})
	}
	// A set made for 127.0.0.1 does not serve another host.
	dir := fresh(t)
	u, _ := New(Config{CertsDir: dir})
	if err := u.Start("127.0.0.2:0"); err == nil || !strings.Contains(err.Error(), "does not name the listening host") {
		if err == nil {
			u.Close()
		}
		t.Errorf("another host: %v", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
