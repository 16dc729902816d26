package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// TestLogFormatJSON: --log-format json (or KVITT_LOG_FORMAT) makes every log
// line a JSON object; a format that does not exist is refused naming the flag.
func TestLogFormatJSON(t *testing.T) {
	var stderr bytes.Buffer
	m := NewMain(func(k string) string {
		if k == "KVITT_LOG_FORMAT" {
			return "json"
		}
		return ""
	}, io.Discard, &stderr)
	if err := m.ParseFlags([]string{"--data", t.TempDir(), "--addr", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.Close()
	running := false
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("not a JSON line: %s", l)
		}
		running = running || v["msg"] == "kvitt is running"
	}
	if !running {
		t.Fatalf("no start line in:\n%s", stderr.String())
	}
	bad := NewMain(func(string) string { return "" }, io.Discard, io.Discard)
	if err := bad.ParseFlags([]string{"--log-format", "xml"}); err == nil || !strings.Contains(err.Error(), "log-format") {
		t.Fatalf("--log-format xml: %v", err)
	}
}
