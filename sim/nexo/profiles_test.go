package simnexo

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestCryptoErrorAnswers: each refusal is HTTP 401 with Adyen's body
// {"errors":["Nexo Service: crypto error …"],"ServiceID":"…"}, numbered
// where Adyen publishes the number: (1) unparsable, (2) unknown key
// version, (3) the clear header differs from the encrypted one.
func TestCryptoErrorAnswers(t *testing.T) {
	key := Key{Identifier: "K", Version: 1, Passphrase: "secret"}
	term, hc := start(t, Options{Profile: ProfileAdyen, Keys: []Key{key}, RequireEncryption: true})
	k, _ := deriveKey(key)
	otherVersion := &termKey{Key: Key{Identifier: "K", Version: 2}, mac: k.mac, enc: k.enc, iv: k.iv}
	otherID := &termKey{Key: Key{Identifier: "X", Version: 1}, mac: k.mac, enc: k.enc, iv: k.iv}
	wrongPass, _ := deriveKey(Key{Identifier: "K", Version: 1, Passphrase: "not the secret"})

	// The header in clear says another ServiceID than the encrypted one.
	var m map[string]map[string]any
	json.Unmarshal(sealRequest(t, k, loginMsg, []byte("0000000000000005")), &m)
	m["SaleToPOIRequest"]["MessageHeader"].(map[string]any)["ServiceID"] = "L2"
	header, _ := json.Marshal(m)

	ok := sealRequest(t, k, loginMsg, []byte("0000000000000001"))
	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"accepted", ok, ""},
		{"replayed nonce", ok, "Nexo Service: crypto error: replayed nonce"},
		{"unknown version", sealRequest(t, otherVersion, loginMsg, []byte("0000000000000002")), "Nexo Service: crypto error (2)"},
		{"unknown identifier", sealRequest(t, otherID, loginMsg, []byte("0000000000000003")), `Nexo Service: crypto error: unknown key identifier "X"`},
		{"wrong passphrase", sealRequest(t, wrongPass, loginMsg, []byte("0000000000000004")), "Nexo Service: crypto error"},
		{"header", header, "Nexo Service: crypto error (3)"},
		{"no trailer", []byte(`{"SaleToPOIRequest":{"MessageHeader":{"ServiceID":"L9"},"NexoBlob":"AAAA"}}`), "Nexo Service: crypto error (1)"},
	}
	for _, tc := range tests {
		res, err := hc.Post(term.URL(), "application/json", bytes.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if tc.want == "" {
			if res.StatusCode != 200 {
				t.Errorf("%s: %d %s", tc.name, res.StatusCode, body)
			}
			continue
		}
		var ans struct {
			Errors    []string
			ServiceID string
		}
		if res.StatusCode != http.StatusUnauthorized || json.Unmarshal(body, &ans) != nil || len(ans.Errors) != 1 ||
			!strings.HasPrefix(ans.Errors[0], tc.want) || ans.ServiceID == "" {
			t.Errorf("%s: %d %s, want 401 %q", tc.name, res.StatusCode, body, tc.want)
		}
	}
}

// TestTerminalCertificate: with CertificateName the terminal presents its
// own name (and an intermediate) only: a client checking the IP address
// refuses it; one checking the name against the fleet root takes it.
func TestTerminalCertificate(t *testing.T) {
	const name = "P400Plus-123456789.test.terminal.adyen.com"
	term, hc := start(t, Options{POIID: "P400Plus-123456789", CertificateName: name})
	if _, err := hc.Get(term.ScreenURL()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("IP address accepted: %v", err)
	}
	named := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: term.CertPool(), ServerName: name}}}
	res, err := named.Get(term.ScreenURL())
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if cs := res.TLS; len(cs.PeerCertificates) != 2 || cs.PeerCertificates[0].Subject.CommonName != name || len(cs.PeerCertificates[0].IPAddresses) != 0 {
		t.Errorf("presented %d certificates, leaf %q", len(cs.PeerCertificates), cs.PeerCertificates[0].Subject.CommonName)
	}
}

// TestDropLink: with AbortOnDrop a broken link aborts the transaction
// waiting for the card and logs the till out, until it logs in again:
// even TransactionStatus answers LoggedOut meanwhile.
func TestDropLink(t *testing.T) {
	term, hc := start(t, Options{AbortOnDrop: true})
	post := func(body string) string {
		res, err := hc.Post(term.URL(), "application/json", strings.NewReader(body))
		if err != nil {
			return err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	login := strings.ReplaceAll(loginMsg, `"SaleID":"till"`, `"SaleID":"s1"`)
	if got := post(login); !strings.Contains(got, `"Success"`) {
		t.Fatal(got)
	}
	pay := `{"SaleToPOIRequest":{"MessageHeader":{"ProtocolVersion":"3.0","MessageClass":"Service","MessageCategory":"Payment","MessageType":"Request","ServiceID":"P1","SaleID":"s1","POIID":"KVITTSIM-0001"},` +
		`"PaymentRequest":{"SaleData":{"SaleTransactionID":{"TransactionID":"t1","TimeStamp":"2026-01-01T10:00:00.000Z"}},"PaymentTransaction":{"AmountsReq":{"Currency":"SEK","RequestedAmount":10.00}}}}}`
	done := make(chan string, 1)
	go func() { done <- post(pay) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := term.WaitFor(ctx, "P1"); err != nil {
		t.Fatal(err)
	}
	if !term.DropLink() {
		t.Fatal("nothing to drop")
	}
	if got := <-done; !strings.Contains(got, "EOF") {
		t.Errorf("payment answered after the link dropped: %s", got)
	}
	if term.LoggedIn("s1") || term.Screen().Stage != StageIdle {
		t.Errorf("logged in %v, screen %+v", term.LoggedIn("s1"), term.Screen())
	}
	status := `{"SaleToPOIRequest":{"MessageHeader":{"ProtocolVersion":"3.0","MessageClass":"Service","MessageCategory":"TransactionStatus","MessageType":"Request","ServiceID":"S1","SaleID":"s1","POIID":"KVITTSIM-0001"},` +
		`"TransactionStatusRequest":{"MessageReference":{"MessageCategory":"Payment","SaleID":"s1","ServiceID":"P1"}}}}`
	if got := post(status); !strings.Contains(got, `"LoggedOut"`) {
		t.Errorf("status before login: %s", got)
	}
	post(login)
	if got := post(strings.Replace(status, `"S1"`, `"S2"`, 1)); !strings.Contains(got, `"Aborted"`) || !strings.Contains(got, `"RepeatedMessageResponse"`) {
		t.Errorf("status after login: %s", got)
	}
	if len(term.Ledger()) != 0 {
		t.Errorf("ledger %+v", term.Ledger())
	}
}
