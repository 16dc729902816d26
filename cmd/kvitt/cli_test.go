package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/kvitt-hub/kvitt/sqlite"
)

// The operator commands work on the data directory of a served kvitt: an API
// key that the server then accepts, X and Z reports, and the journal check,
// which fails once an entry has been edited.
func TestOperatorCommands(t *testing.T) {
	m, base := startServe(t)
	data := m.Config.Data
	sale := call(t, "POST", base+"/v1/sales", `{"till_id":"1","lines":[{"name":"Kaffe","quantity":2,"unit_price":3450,"vat_rate":12}]}`)
	call(t, "POST", base+"/v1/sales/"+sale["id"].(string)+"/payments", `{"method":"cash","amount":6900}`)
	call(t, "POST", base+"/v1/sales/"+sale["id"].(string)+"/complete", "")

	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), args, func(string) string { return "" }, &out, io.Discard)
		return out.String(), err
	}
	out, err := cli("apikey", "create", "--scope", "till", "--till", "1", "--name", "Kassa 1", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	req := func(path string) int {
		r, err := newRequest("GET", base+path, key)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if st := req("/v1/sales/" + sale["id"].(string)); st != 200 {
		t.Errorf("the till key from the CLI: GET own sale = %d", st)
	}
	if _, err := cli("apikey", "create", "--scope", "till", "--data", data); err == nil || !strings.Contains(err.Error(), "till_id") {
		t.Errorf("a till key without a till: %v", err)
	}

	out, err = cli("report", "x", "--till", "1", "--data", data)
	if err != nil || !strings.Contains(out, "X RAPPORT") || !strings.Contains(out, "69,00") {
		t.Errorf("X report: %v\n%s", err, out)
	}
	out, err = cli("report", "z", "--till", "1", "--width", "48", "--data", data)
	if err != nil || !strings.Contains(out, "Z RAPPORT") || !strings.Contains(out, "Z-rapport nr") {
		t.Errorf("Z report: %v\n%s", err, out)
	}

	out, err = cli("journal", "verify", "--data", data)
	if err != nil || !strings.Contains(out, "chain intact") {
		t.Fatalf("journal verify: %v\n%s", err, out)
	}
	m.Close()
	db, err := sqlite.Open(context.Background(), data+"/kvitt.db")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Write.Exec(`UPDATE journal SET data = replace(data, '6900', '690') WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := cli("journal", "verify", "--data", data); err == nil || !strings.Contains(err.Error(), "edited") {
		t.Errorf("journal verify after an edit: %v", err)
	}
}
