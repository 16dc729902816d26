package simnexo

import (
	"bytes"
	"crypto/cipher"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// sealRequest protects a request as a till would (test helper on the
// simulator's own primitives; the client's implementation is in package nexo).
func sealRequest(t *testing.T, k *termKey, msg string, nonce []byte) []byte {
	t.Helper()
	var outer map[string]map[string]any
	if err := json.Unmarshal([]byte(msg), &outer); err != nil {
		t.Fatal(err)
	}
	pad := 16 - len(msg)%16
	buf := append([]byte(msg), bytes.Repeat([]byte{byte(pad)}, pad)...)
	blk, iv := k.cbc(nonce)
	cipher.NewCBCEncrypter(blk, iv).CryptBlocks(buf, buf)
	out, _ := json.Marshal(map[string]any{"SaleToPOIRequest": map[string]any{
		"MessageHeader": outer["SaleToPOIRequest"]["MessageHeader"],
		"NexoBlob":      base64.StdEncoding.EncodeToString(buf),
		"SecurityTrailer": map[string]any{"AdyenCryptoVersion": 1, "KeyIdentifier": k.Identifier, "KeyVersion": k.Version,
			"Nonce": base64.StdEncoding.EncodeToString(nonce), "Hmac": base64.StdEncoding.EncodeToString(k.hmacOf([]byte(msg)))},
	}})
	return out
}

const loginMsg = `{"SaleToPOIRequest":{"MessageHeader":{"ProtocolVersion":"3.0","MessageClass":"Service","MessageCategory":"Login","MessageType":"Request","ServiceID":"L1","SaleID":"till","POIID":"KVITTSIM-0001"},"LoginRequest":{"DateTime":"2026-01-01T10:00:00.000Z","SaleSoftware":{"ManufacturerID":"x","ApplicationName":"x","SoftwareVersion":"1","CertificationCode":"x"},"SaleTerminalData":{"TerminalEnvironment":"Attended","SaleCapabilities":["PrinterReceipt"]},"OperatorLanguage":"sv"}}}`

func TestProtectedRequests(t *testing.T) {
	key := Key{Identifier: "K", Version: 1, Passphrase: "secret"}
	term, err := New(Options{Profile: ProfileAdyen, Keys: []Key{key}, RequireEncryption: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := term.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: term.CertPool()}}}
	post := func(path string, body []byte) (int, []byte) {
		res, err := hc.Post("https://"+term.Addr()+path, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	k, _ := deriveKey(key)
	nonce := []byte("fedcba9876543210")
	ok := sealRequest(t, k, loginMsg, nonce)

	// Accepted, with and without the trailing slash; the answer is protected.
	code, body := post("/nexo/", ok)
	if code != 200 || !strings.Contains(string(body), `"NexoBlob"`) || strings.Contains(string(body), "LoginResponse") {
		t.Fatalf("%d %s", code, body)
	}
	var ans map[string]map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	dec.Decode(&ans)
	plain, _, err := term.unseal(ans["SaleToPOIResponse"])
	if err != nil || !strings.Contains(string(plain), `"LoginResponse"`) || !strings.Contains(string(plain), `"Result":"Success"`) {
		t.Errorf("answer %v %s", err, plain)
	}
	if code, body := post("/nexo", sealRequest(t, k, loginMsg, []byte("fedcba9876543211"))); code != 200 {
		t.Errorf("no slash: %d %s", code, body)
	}

	refused := map[string][]byte{
		"replayed nonce":          ok,
		"unknown key":             sealRequest(t, &termKey{Key: Key{Identifier: "X", Version: 1}, mac: k.mac, enc: k.enc, iv: k.iv}, loginMsg, []byte("0000000000000002")),
		"version 2":               sealRequest(t, &termKey{Key: Key{Identifier: "K", Version: 2}, mac: k.mac, enc: k.enc, iv: k.iv}, loginMsg, []byte("0000000000000003")),
		"only encrypted messages": []byte(loginMsg),
	}
	// A real tamper: flip one byte of the plaintext HMAC.
	bad := sealRequest(t, k, loginMsg, []byte("0000000000000004"))
	var m map[string]map[string]any
	json.Unmarshal(bad, &m)
	st := m["SaleToPOIRequest"]["SecurityTrailer"].(map[string]any)
	h, _ := base64.StdEncoding.DecodeString(st["Hmac"].(string))
	h[0] ^= 1
	st["Hmac"] = base64.StdEncoding.EncodeToString(h)
	refused["Hmac does not match"], _ = json.Marshal(m)

	for want, req := range refused {
		code, body := post("/nexo", req)
		if code != http.StatusUnauthorized || !strings.Contains(string(body), "Nexo Service: crypto error") {
			t.Errorf("%s: %d %s", want, code, body)
		}
	}
}
