package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	simswish "github.com/kvitt-hub/kvitt/sim/swish"
)

// Durations in the configuration take days ("30d"), as operators write
// them, besides Go's units. Before, "30d" was refused: only "720h" worked.
func TestParseDurationTakesDays(t *testing.T) {
	const day = 24 * time.Hour
	for s, want := range map[string]time.Duration{
		"30d": 30 * day, "720h": 720 * time.Hour, "1d12h": 36 * time.Hour, "1.5d": 36 * time.Hour,
		"2d30m": 2*day + 30*time.Minute, "90s": 90 * time.Second, "0": 0, "0d": 0, "+7d": 7 * day,
		"1h30m": 90 * time.Minute, "500ms": 500 * time.Millisecond,
	} {
		got, err := ParseDuration("swish.expiry_warning", s)
		if err != nil || got != want {
			t.Errorf("%q = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "30", "30 d", "30 days", "d", "-1d", "-720h", "1.2.3d", "30D", "1w", "99999999999999d", "106751d106751d"} {
		_, err := ParseDuration("swish.expiry_warning", s)
		if err == nil {
			t.Errorf("%q accepted", s)
			continue
		}
		if !strings.Contains(err.Error(), "swish.expiry_warning") || !strings.Contains(err.Error(), "30d") {
			t.Errorf("%q: %v; want an error naming the key and showing the syntax", s, err)
		}
	}
}

// A wrong duration in the file stops kvitt at start, naming the key.
func TestConfigValidatesDurations(t *testing.T) {
	c := DefaultConfig()
	c.Swish = &SwishConfig{ExpiryWarnIn: "30d"}
	if err := c.Validate(); err != nil {
		t.Errorf("expiry_warning 30d: %v", err)
	}
	c.Swish.ExpiryWarnIn = "a month"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "swish.expiry_warning") {
		t.Errorf("expiry_warning %q: %v, want an error naming swish.expiry_warning", c.Swish.ExpiryWarnIn, err)
	}
}

// liveSwishMain starts "kvitt serve --live" with a Swish section against a
// standalone simulator, with edit applied to the swish settings.
func liveSwishMain(t *testing.T, edit func(map[string]any)) (*Main, error) {
	t.Helper()
	pki, err := simswish.NewPKI(simswish.DefaultPayeeAlias)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := simswish.New(simswish.Options{PKI: pki, DropCallbacks: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	certs := t.TempDir()
	if err := pki.WriteDir(certs); err != nil {
		t.Fatal(err)
	}
	sw := map[string]any{
		"base_url": sim.URL(), "payee_alias": sim.PayeeAlias(),
		"cert_file": filepath.Join(certs, "merchant.pem"), "ca_file": filepath.Join(certs, "ca.pem"),
		"callback_url": "https://pay.example.se", "message": "Exempel AB",
	}
	edit(sw)
	cfg := map[string]any{
		"sandbox":  false,
		"merchant": map[string]any{"id": "m1", "name": "Exempel AB", "org_nr": "5566778899", "country": "SE", "currency": "SEK", "store": map[string]any{"id": "s1", "name": "Exempel", "address": "Storgatan 1, 111 22 Stockholm"}},
		"tills":    []any{map[string]any{"id": "1", "name": "Kassa 1", "register_id": "EX-0001"}},
		"swish":    sw,
	}
	b, _ := json.Marshal(cfg)
	path := filepath.Join(t.TempDir(), "kvitt.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	m := NewMain(func(string) string { return "" }, io.Discard, io.Discard)
	if err := m.ParseFlags([]string{"--config", path, "--data", t.TempDir(), "--addr", "127.0.0.1:0"}); err != nil {
		return m, err
	}
	err = m.Run(context.Background())
	t.Cleanup(func() { m.Close() })
	return m, err
}

// Live mode starts with "expiry_warning": "30d".
func TestLiveSwishExpiryWarningInDays(t *testing.T) {
	if _, err := liveSwishMain(t, func(sw map[string]any) { sw["expiry_warning"] = "30d" }); err != nil {
		t.Fatalf("live start with expiry_warning 30d: %v", err)
	}
}

// A callback URL that is not https stops kvitt at start with an error that
// names the setting in the file (swish.callback_url) and says what to do.
// Before, it named the adapter's internal field "callback_base_url".
func TestLiveSwishCallbackURLErrorNamesTheSetting(t *testing.T) {
	for _, u := range []string{"http://pay.example.se", "pay.example.se", "https://"} {
		_, err := liveSwishMain(t, func(sw map[string]any) { sw["callback_url"] = u })
		if err == nil {
			t.Fatalf("callback_url %q accepted", u)
		}
		if msg := err.Error(); !strings.Contains(msg, "swish.callback_url") || strings.Contains(msg, "callback_base_url") || !strings.Contains(msg, "https") {
			t.Errorf("callback_url %q: %v; want an error naming swish.callback_url", u, err)
		}
	}
}
