package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"testing"
)

// The three simulators run side by side on one machine with their default
// addresses: each has its own port, and the card terminal keeps 8443, the
// port real nexo terminals listen on. Before, all three defaulted to 8443.
func TestSimulatorsDefaultToDistinctPorts(t *testing.T) {
	want := map[string]string{"nexo": "127.0.0.1:8443", "swish": "127.0.0.1:8444", "controlunit": "127.0.0.1:8445"}
	re := regexp.MustCompile(`-addr string\s+[^\n]*\(default "([^"]+)"\)`)
	for sim, addr := range want {
		var out bytes.Buffer
		run(context.Background(), []string{"sim", sim, "-h"}, func(string) string { return "" }, &out, io.Discard)
		m := re.FindStringSubmatch(out.String())
		if m == nil {
			t.Errorf("kvitt sim %s -h shows no default --addr:\n%s", sim, out.String())
			continue
		}
		if m[1] != addr {
			t.Errorf("kvitt sim %s listens on %s by default, want %s", sim, m[1], addr)
		}
	}
}
