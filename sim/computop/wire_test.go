package simcomputop

import (
	"os"
	"strings"
	"testing"
)

// Published vectors, read with the simulator's own code: spryker-eco/computop
// ComputopBlowfishTest.php; celements/celements-payment ComputopServiceTest.java
// (Computop's Java sample, space padding, and NUL padding); HMAC from
// developer.computop.com (key "mySecret").
func TestVectors(t *testing.T) {
	if got, err := bfOpen([]byte("password"), "14ec7a6da0fbb3e50a84b47302443328", 9); err != nil || string(got) != "plaintext" {
		t.Errorf("spryker vector: %q, %v", got, err)
	}
	for _, d := range []string{"4105AAFDC6445BF2EB8242371136F4886413347EEB8731B9", "4105aafdc6445bf2eb8242371136f488a4812b38a821e753"} {
		if got, err := bfOpen([]byte("16CharKeyLength!"), d, 23); err != nil || string(got) != "Unencrypted plain text!" {
			t.Errorf("celements vector %s: %q, %v", d, got, err)
		}
	}
	s := &Sim{opts: Options{HMACKey: "mySecret", Password: "16CharKeyLength!"}}
	if got := s.mac("", "TID-4453732122167114558", "yourMerchantId", "1234", "EUR"); got != "38CED807E293FC634A6C36FFAEA7BD2687038D40615781918AEF2DE7BB9A9903" {
		t.Errorf("request MAC %s", got)
	}
	if got := s.mac("7bbb448155234d8cbee323778952ce28", "TID-12033175321270170232", "yourMerchantId", "AUTHORIZED", "00000000"); got != "4CDCB4DE587AC210F21DE0591689B920CF56D89B38D4C7B1B7F8867BFC93E02C" {
		t.Errorf("response MAC %s", got)
	}
	// The simulator's own answers pad with spaces, like Computop's Java sample.
	data, n := s.seal([][2]string{{"x", "Unencrypted plain tex"}})
	if len(data)%16 != 0 || n != 23 {
		t.Errorf("seal: %d hex digits, Len %d", len(data), n)
	}
	if got, err := bfOpen([]byte("16CharKeyLength!"), data, n); err != nil || string(got) != "x=Unencrypted plain tex" {
		t.Errorf("seal round trip: %q, %v", got, err)
	}
}

// The client's request fixture passes the simulator's format checks.
func TestRequestFixture(t *testing.T) {
	b, err := os.ReadFile("testdata/swish_request.txt")
	if err != nil {
		t.Fatal(err)
	}
	plain := strings.Replace(strings.TrimSpace(string(b)), "<MAC>", strings.Repeat("A", 64), 1)
	plain = strings.Replace(plain, "<REQID>", "0123456789ABCDEF0123456789ABCDEF", 1)
	f := fields{}
	for _, kv := range strings.Split(plain, "&") {
		k, v, _ := strings.Cut(kv, "=")
		f[strings.ToLower(k)] = v
	}
	if code, desc := check(swishSpec, f); code != "" {
		t.Fatalf("fixture refused: %s %s", code, desc)
	}
	for _, bad := range []struct{ k, v string }{{"mobilenr", "0701234567"}, {"orderdesc", "Kvitto 1"}, {"channel", "Pos"},
		{"amount", "12.50"}, {"transid", strings.Repeat("T", 36)}, {"mac", "short"}} {
		g := fields{}
		for k, v := range f {
			g[k] = v
		}
		g[bad.k] = bad.v
		if code, _ := check(swishSpec, g); code == "" {
			t.Errorf("%s=%q accepted", bad.k, bad.v)
		}
	}
	delete(f, "orderdesc")
	if code, _ := check(swishSpec, f); !strings.HasPrefix(code, "4010") {
		t.Errorf("missing OrderDesc: %s", code)
	}
}
