package main

import (
	"context"
	"io"
	"testing"

	"github.com/kvitt-hub/kvitt/postgres/pgtest"
)

// TestServeOnPostgres runs the real program with its ledger in PostgreSQL: a
// cash sale to a registered receipt, then a restart that keeps the serials.
func TestServeOnPostgres(t *testing.T) {
	dsn := pgtest.FreshDatabase(t)
	dir := t.TempDir()
	getenv := func(k string) string {
		if k == "KVITT_ADMIN_KEY" {
			return "ui-test-key"
		}
		return ""
	}
	start := func() (*Main, string) {
		m := NewMain(getenv, io.Discard, io.Discard)
		if err := m.ParseFlags([]string{"--data", dir, "--addr", "127.0.0.1:0", "--database", dsn}); err != nil {
			t.Fatal(err)
		}
		if err := m.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return m, "http://" + m.Addr
	}
	sell := func(base string) map[string]any {
		sale := call(t, "POST", base+"/v1/sales", `{"till_id":"1","lines":[{"name":"Kaffe","quantity":1,"unit_price":3450,"vat_rate":12}]}`)
		id := sale["id"].(string)
		if p := call(t, "POST", base+"/v1/sales/"+id+"/payments", `{"method":"cash","amount":3450,"tendered":5000}`); p["state"] != "paid" || p["change"].(float64) != 1500 || p["rounding"].(float64) != 50 {
			t.Fatalf("payment = %v", p)
		}
		return call(t, "POST", base+"/v1/sales/"+id+"/complete", "")
	}
	m, base := start()
	rc := sell(base)
	if rc["serial"].(float64) != 1 || rc["registration"] != "registered" {
		t.Fatalf("first receipt = %v", rc)
	}
	m.Close()
	m, base = start()
	defer m.Close()
	if rc := sell(base); rc["serial"].(float64) != 2 {
		t.Fatalf("after a restart the serial is %v, want 2", rc["serial"])
	}
}
