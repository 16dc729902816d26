package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/kvitt-hub/kvitt"
	kvitthttp "github.com/kvitt-hub/kvitt/http"
	simswish "github.com/kvitt-hub/kvitt/sim/swish"
	"github.com/kvitt-hub/kvitt/swish"
)

// Browser tests of the back office's settings (/admin/settings,
// docs/backoffice.md): payment methods per till, the stores' accounts,
// the Swish certificate and the Computop and Svea set-up, each checked
// through the API as well.

// rawCall is call without failing on an error status: the status and the body.
func rawCall(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer ui-test-key")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out map[string]any
	json.Unmarshal(b, &out)
	return res.StatusCode, out
}

func errorField(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	f, _ := e["field"].(string)
	return f
}

// TestSettingsMethodsAndAccounts: a method's account set on the page is
// the store's account in the API; a bad account is shown next to its
// field and changes nothing; swish disabled at till 1 leaves the till's
// buttons and is refused by the API there; card made the first quick
// button comes first at the till; the providers are shown without secrets.
func TestSettingsMethodsAndAccounts(t *testing.T) {
	ctx := browser(t)
	m, base := startServe(t)
	sh := newShots(t)
	adminSignIn(t, ctx, m, base, "settings", "settings", sh)
	adminWait(t, ctx, "till 1's methods and the store's accounts", `document.getElementById("tm-1-on-swish") !== null && document.getElementById("acc-m-swish") !== null && document.getElementById("acc-m-swish").value === "1581"`)
	adminWait(t, ctx, "the providers", `document.querySelectorAll("#prov-rows tr").length === 2`)
	sh.take(ctx, "settings")

	// The swish account of the demo store.
	adminDo(t, ctx, chromedp.SetValue(chromedp.CSS(`#acc-m-swish`), "1930"), chromedp.Click(chromedp.CSS(`#acc-save`)))
	adminWait(t, ctx, "the accounts saved", `document.getElementById("adm-status").textContent.indexOf("demo-store") >= 0`)
	sh.take(ctx, "accounts saved")
	acc := call(t, "GET", base+"/v1/bookkeeping/stores/demo-store/accounts", "")
	if got := acc["methods"].(map[string]any); got["swish"] != "1930" || got["cash"] != "1910" {
		t.Errorf("the store's method accounts: %v", got)
	}

	// A bad account: the API's error next to the field, nothing changed.
	adminDo(t, ctx, chromedp.SetValue(chromedp.CSS(`#acc-m-cash`), "19x0"), chromedp.Click(chromedp.CSS(`#acc-save`)))
	adminWait(t, ctx, "the error next to cash's account", `document.querySelector("#acc-m-cash + .field-error") !== null`)
	sh.take(ctx, "bad account")
	if msg := text(t, ctx, `#acc-m-cash + .field-error`); !strings.Contains(msg, "four digits") {
		t.Errorf("the error says %q", msg)
	}
	acc = call(t, "GET", base+"/v1/bookkeeping/stores/demo-store/accounts", "")
	if got := acc["methods"].(map[string]any); got["cash"] != "1910" || got["swish"] != "1930" {
		t.Errorf("a refused change changed the accounts: %v", got)
	}

	// Till 1: swish off, card the first quick button.
	adminDo(t, ctx, chromedp.Click(chromedp.CSS(`#tm-1-on-swish`)), chromedp.SendKeys(chromedp.CSS(`#tm-1-q-card`), "1"))
	sh.take(ctx, "till 1 swish off")
	adminDo(t, ctx, chromedp.Click(chromedp.CSS(`#tm-1-save`)))
	adminWait(t, ctx, "till 1 saved", `document.getElementById("adm-status").textContent.indexOf("1") >= 0 && document.getElementById("tm-1-on-swish") !== null && !document.getElementById("tm-1-on-swish").checked && document.getElementById("tm-1-q-card").value === "1"`)
	sh.take(ctx, "till 1 saved")
	till := call(t, "GET", base+"/v1/tills/1", "")
	var methods []string
	for _, x := range till["methods"].([]any) {
		methods = append(methods, x.(map[string]any)["method"].(string))
	}
	if len(methods) == 0 || methods[0] != "card" || strings.Contains(","+strings.Join(methods, ",")+",", ",swish,") {
		t.Errorf("till 1's methods: %v", methods)
	}

	// The till: no Swish button, card first.
	adminDo(t, ctx, chromedp.Navigate(base+"/till/1"))
	waitTill(t, ctx)
	until(t, ctx, `document.getElementById("pay-cash") !== null`)
	sh.take(ctx, "till 1 without swish")
	if js[bool](t, ctx, `document.getElementById("pay-swish") !== null`) {
		t.Error("till 1 still has a Swish button")
	}
	if first := js[string](t, ctx, `document.querySelector("#methods button").id`); first != "pay-card" {
		t.Errorf("the first button is %s", first)
	}
	// The API refuses Swish at till 1, naming the method.
	sale := call(t, "POST", base+"/v1/sales", `{"till_id":"1","lines":[{"name":"Kaffe","quantity":1,"unit_price":3450,"vat_rate":12}]}`)
	status, body := rawCall(t, "POST", base+"/v1/sales/"+sale["id"].(string)+"/payments", `{"method":"swish","amount":3450}`)
	if status != 422 || errorField(body) != "method" {
		t.Errorf("swish at till 1: %d %v", status, body)
	}

	// Computop and Svea: the sandbox's simulators, no secret.
	adminDo(t, ctx, chromedp.Navigate(base+"/admin/settings#set-providers"))
	adminWait(t, ctx, "the providers", `document.querySelectorAll("#prov-rows tr").length === 2`)
	sh.take(ctx, "providers")
	p := call(t, "GET", base+"/v1/settings/providers", "")
	for _, x := range p["providers"].([]any) {
		pr := x.(map[string]any)
		if pr["sandbox"] != true || pr["environment"] != "sandbox" || len(pr["keys"].([]any)) == 0 {
			t.Errorf("provider %v", pr)
		}
	}
}

// TestSettingsSwishCertificate: in the sandbox, the page makes the
// request, the simulator's CA signs it as Swish's portal would, the upload
// is checked and shows the certificate with its expiry; a broken upload is
// shown next to the field. The key stays on the server.
func TestSettingsSwishCertificate(t *testing.T) {
	ctx := browser(t)
	m, base := startServe(t)
	sh := newShots(t)
	adminSignIn(t, ctx, m, base, "settings", "settings", sh)
	adminWait(t, ctx, "the sandbox's note", `!document.getElementById("swish-sandbox").hidden`)
	sh.take(ctx, "swish certificate")

	adminDo(t, ctx, chromedp.SendKeys(chromedp.CSS(`#csr-org`), "Demobutiken AB"), chromedp.SendKeys(chromedp.CSS(`#csr-number`), "1234679304"),
		chromedp.Click(chromedp.CSS(`#csr-make`)))
	adminWait(t, ctx, "the request", `document.getElementById("csr-pem").value.indexOf("-----BEGIN CERTIFICATE REQUEST-----") === 0`)
	sh.take(ctx, "swish request made")

	// A broken upload: the error next to the field.
	adminDo(t, ctx, chromedp.SetValue(chromedp.CSS(`#cert-pem`), "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n"),
		chromedp.Click(chromedp.CSS(`#cert-upload`)))
	adminWait(t, ctx, "the upload's error next to it", `document.querySelector("#cert-pem + .field-error") !== null`)
	sh.take(ctx, "swish bad upload")

	adminDo(t, ctx, chromedp.Click(chromedp.CSS(`#csr-simsign`)))
	adminWait(t, ctx, "the signed certificate", `document.getElementById("cert-pem").value.indexOf("-----BEGIN CERTIFICATE-----") === 0 && document.getElementById("cert-pem").value.indexOf("broken") < 0`)
	sh.take(ctx, "swish signed by the sandbox")
	adminDo(t, ctx, chromedp.Click(chromedp.CSS(`#cert-upload`)))
	adminWait(t, ctx, "the uploaded certificate", `document.querySelector("#swish-status dd.cert") !== null`)
	sh.take(ctx, "swish certificate uploaded")
	if got := text(t, ctx, `#swish-status dd.cert`); !strings.Contains(got, "1234679304") {
		t.Errorf("the page shows %q", got)
	}

	st := call(t, "GET", base+"/v1/swish/certificate", "")
	imp, _ := st["imported"].(map[string]any)
	if imp == nil || imp["swish_number"] != "1234679304" || imp["days_left"].(float64) < 700 || st["sandbox"] != true || st["request"] != nil {
		t.Fatalf("status %v", st)
	}
	b, _ := json.Marshal(st)
	if strings.Contains(string(b), "PRIVATE KEY") {
		t.Error("the status shows the key")
	}
	// The file the CLI's import writes: chain and key, mode 0600, readable by swish.cert_file.
	file := filepath.Join(m.Config.Data, "swish", "swish-merchant.pem")
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v", file, fi, err)
	}
	if _, err := swish.LoadCertificateFile(file, ""); err != nil {
		t.Error(err)
	}
}

// TestSettingsSwishAPISandbox: the certificate's steps through the API
// alone: a certificate for another key is refused naming "certificate";
// the signed one is imported; a second import keeps the first file.
func TestSettingsSwishAPISandbox(t *testing.T) {
	m, base := startServe(t)
	if status, body := rawCall(t, "PUT", base+"/v1/swish/certificate", `{"certificate":"-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----"}`); status != 409 {
		t.Errorf("an upload before any request: %d %v", status, body)
	}
	csr := call(t, "POST", base+"/v1/swish/csr", `{"swish_number":"1234679304"}`)
	if strings.Contains(csr["csr"].(string), "PRIVATE KEY") {
		t.Fatal("the answer holds the key")
	}
	// A certificate the sandbox's CA signed for another key.
	_, other, err := swish.NewCSR(csrSubject())
	if err != nil {
		t.Fatal(err)
	}
	foreign := call(t, "POST", base+"/v1/sandbox/swish/sign-csr", mustJSON(map[string]string{"csr": string(other)}))
	status, body := rawCall(t, "PUT", base+"/v1/swish/certificate", mustJSON(map[string]string{"certificate": foreign["certificate"].(string)}))
	if status != 422 || errorField(body) != "certificate" {
		t.Errorf("a certificate for another key: %d %v", status, body)
	}
	signed := call(t, "POST", base+"/v1/sandbox/swish/sign-csr", mustJSON(map[string]string{"csr": csr["csr"].(string)}))
	st := call(t, "PUT", base+"/v1/swish/certificate", mustJSON(map[string]string{"certificate": signed["certificate"].(string)}))
	if imp, _ := st["imported"].(map[string]any); imp == nil || imp["swish_number"] != "1234679304" {
		t.Fatalf("imported %v", st)
	}
	call(t, "PUT", base+"/v1/swish/certificate", mustJSON(map[string]string{"certificate": signed["certificate"].(string)}))
	kept, _ := filepath.Glob(filepath.Join(m.Config.Data, "swish", "swish-merchant-*.pem"))
	if len(kept) != 1 {
		t.Errorf("the earlier certificate was not kept: %v", kept)
	}
}

func csrSubject() pkix.Name { return pkix.Name{CommonName: "another request"} }

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestSettingsSwishCertLive: live mode, through the manager kvitt serve
// gives the API: a certificate of a CA that is not Swish's is refused; a
// Swish one is imported and, since swish.cert_file names the file, waits
// for a restart.
func TestSettingsSwishCertLive(t *testing.T) {
	dir := t.TempDir()
	m := &Main{Config: DefaultConfig()}
	m.Config.Sandbox, m.Config.Data = false, dir
	m.Config.Swish = &SwishConfig{PayeeAlias: "1234679304", CertFile: filepath.Join(dir, "swish", "swish-merchant.pem")}
	a := newSwishCertAPI(m)
	ctx := context.Background()
	req, err := a.NewRequest(ctx, kvitthttp.SwishCSRRequest{SwishNumber: "1234679304"})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(req.KeyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key %s: %v %v", req.KeyFile, fi, err)
	}
	if _, err := a.SandboxSign(ctx, []byte(req.CSR)); kvitt.ErrorCode(err) != kvitt.ENOTFOUND {
		t.Errorf("live mode signed a request: %v", err)
	}

	// A CA of one's own: refused, naming the certificate.
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Butikens test-CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().AddDate(1, 0, 0), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	blk, _ := pem.Decode([]byte(req.CSR))
	csr, _ := x509.ParseCertificateRequest(blk.Bytes)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "1234679304"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0)}, ca, csr.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	own := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	if _, err := a.Import(ctx, own, false); kvitt.ErrorField(err) != "certificate" || !strings.Contains(kvitt.ErrorMessage(err), "Swish CA") {
		t.Errorf("a certificate of another CA: %v", err)
	}

	// Swish's (the simulator's CA names Swish, as Swish's do).
	pki, err := simswish.NewPKI("1234679304")
	if err != nil {
		t.Fatal(err)
	}
	signed, err := pki.SignCSR([]byte(req.CSR))
	if err != nil {
		t.Fatal(err)
	}
	st, err := a.Import(ctx, signed, false)
	if err != nil {
		t.Fatal(err)
	}
	if st.Imported == nil || st.Imported.SwishNumber != "1234679304" || !st.Configured || !st.RestartNeeded || st.Request != nil ||
		!strings.Contains(st.Next, "Restart kvitt") {
		t.Errorf("status %+v", st)
	}
	// At the next start the file is the certificate in use.
	if st := newSwishCertAPI(m).status(nil); st.InUse == nil || st.RestartNeeded || st.InUse.Serial != st.Imported.Serial {
		t.Errorf("after a restart: %+v", st)
	}
}
