package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestKill9CardProfiles: per terminal profile, kvitt (its own process, in
// live mode) is killed with SIGKILL while the payment is at the terminal
// (the simulator, a process of its own, survives as a real terminal does).
// After the restart the status query finds the payment paid, and the
// terminal's ledger shows exactly one charge.
//
//   - adyen: encrypted messages, a certificate named after the terminal
//     (P400Plus-….test.terminal.adyen.com) checked against a per-terminal
//     root; kvitt dies while the terminal waits for the card, and the
//     customer pays meanwhile.
//   - westpay: Login; a dropped link aborts a payment still waiting for the
//     card and logs the till out, so kvitt dies while the card is being
//     authorised (which completes); the new process logs in again before
//     it asks.
func TestKill9CardProfiles(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the kvitt binary and the terminal simulator as processes")
	}
	bin := buildKvitt(t)
	for _, tc := range []struct {
		profile  string
		poiid    string
		certName string
		simArgs  []string
		terminal map[string]any
	}{
		{profile: "adyen", poiid: "P400Plus-275008565", certName: "P400Plus-275008565.test.terminal.adyen.com",
			simArgs: []string{"--profile", "adyen", "--key", e2eKey.Identifier + ":" + strconv.Itoa(e2eKey.Version) + ":" + e2eKey.Passphrase,
				"--require-encryption", "--cert-name", "P400Plus-275008565.test.terminal.adyen.com"},
			terminal: map[string]any{"profile": "adyen", "passphrase": e2eKey.Passphrase, "key_identifier": e2eKey.Identifier,
				"key_version": e2eKey.Version, "environment": "test"}},
		{profile: "westpay", poiid: "WP-CARBON-0042",
			simArgs:  []string{"--profile", "westpay", "--abort-on-drop", "--processing", "2s"},
			terminal: map[string]any{"profile": "westpay"}},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			dir := t.TempDir()
			nexoAddr, kvAddr := freeAddr(t), freeAddr(t)
			root := filepath.Join(dir, "terminal-root.pem")
			args := append([]string{"sim", "nexo", "--addr", nexoAddr, "--ca-out", root, "--poiid", tc.poiid}, tc.simArgs...)
			startProc(t, nil, bin, args...)
			eventually(t, "the terminal's root certificate", fileExists(root))

			term := tc.terminal
			term["poiid"], term["url"] = tc.poiid, "https://"+nexoAddr+"/nexo/"
			cfg := map[string]any{
				"sandbox": false,
				"merchant": map[string]any{"id": "m1", "name": "Krasch AB", "org_nr": "5566778899", "country": "SE", "currency": "SEK",
					"store": map[string]any{"id": "s1", "name": "Krasch", "address": "Storgatan 1, 111 22 Stockholm"}},
				"tills": []any{map[string]any{"id": "1", "name": "Kassa 1", "register_id": "KR-0001", "terminal": term}},
			}
			if tc.profile == "adyen" {
				term["root_ca_file"] = root // per terminal
			} else {
				cfg["card"] = map[string]any{"ca_file": root} // for every terminal
			}
			b, _ := json.Marshal(cfg)
			cfgPath := filepath.Join(dir, "kvitt.json")
			if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
				t.Fatal(err)
			}
			data := filepath.Join(dir, "data")
			s := &served{t: t, key: adminKey, base: "http://" + kvAddr}
			var kv *proc
			startKvitt := func() {
				kv = startProc(t, []string{"KVITT_ADMIN_KEY=" + adminKey}, bin, "serve", "--config", cfgPath, "--data", data, "--addr", kvAddr)
				s.log = kv.out
				eventually(t, "kvitt healthz", func() string {
					res, err := http.Get(s.base + "/healthz")
					if err != nil {
						return err.Error()
					}
					res.Body.Close()
					return ""
				})
			}
			startKvitt()

			// The test reaches the simulator's screen and ledger as a
			// client that trusts the root and checks the terminal's name.
			pem, _ := os.ReadFile(root)
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(pem)
			nexo := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: tc.certName}}}
			get := func(path string) string {
				res, err := nexo.Get("https://" + nexoAddr + path)
				if err != nil {
					return err.Error()
				}
				defer res.Body.Close()
				body, _ := io.ReadAll(res.Body)
				return string(body)
			}
			charges := func(ref string) int {
				var l []map[string]any
				json.Unmarshal([]byte(get("/ledger.json")), &l)
				n := 0
				for _, e := range l {
					if e["Kind"] == "payment" && e["ServiceID"] == ref {
						n++
					}
				}
				return n
			}
			stage := func() string {
				var sc map[string]any
				json.Unmarshal([]byte(get("/screen.json")), &sc)
				st, _ := sc["Stage"].(string)
				return st
			}

			var sale, pay map[string]any
			s.do("POST", "/v1/sales", map[string]any{"till_id": "1", "lines": []any{map[string]any{"name": "Lunch", "unit_price": 12900, "vat_rate": 12}}}, &sale)
			if st, body := s.do("POST", "/v1/sales/"+sale["id"].(string)+"/payments", map[string]any{"method": "card", "amount": 12900}, &pay); st >= 300 {
				t.Fatalf("card payment: %d %s", st, body)
			}
			ref := pay["reference"].(string)
			eventually(t, "the payment is on the terminal", func() string {
				if st := stage(); st != "card" {
					return "terminal stage " + st + ": " + get("/screen.json")
				}
				return ""
			})
			card := func() {
				res, err := nexo.PostForm("https://"+nexoAddr+"/customer/card", url.Values{"scenario": {"approve"}})
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
			}
			if tc.profile == "westpay" {
				card() // authorising for 2 s: the abort on the dropped link comes too late
				if st := stage(); st != "processing" {
					t.Fatalf("terminal stage %s, want processing", st)
				}
				kv.kill9()
			} else {
				kv.kill9()
				card()
			}
			eventually(t, "the terminal charged the card", func() string {
				if n := charges(ref); n != 1 {
					return "charges " + strconv.Itoa(n) + ": " + get("/ledger.json")
				}
				return ""
			})

			startKvitt()
			eventually(t, "the card payment is paid after the restart", func() string {
				var p map[string]any
				s.do("GET", "/v1/payments/"+pay["id"].(string), nil, &p)
				if p["state"] != "paid" {
					return "state " + p["state"].(string)
				}
				return ""
			})
			if n := charges(ref); n != 1 {
				t.Errorf("terminal charged %d times, want exactly 1: %s", n, get("/ledger.json"))
			}
			if l := get("/ledger.json"); strings.Count(l, `"Kind"`) != 1 {
				t.Errorf("terminal ledger %s, want one entry", l)
			}
			var rc map[string]any
			if st, body := s.do("POST", "/v1/sales/"+sale["id"].(string)+"/complete", nil, &rc); st != 200 {
				t.Errorf("complete: %d %s", st, body)
			}
		})
	}
}
