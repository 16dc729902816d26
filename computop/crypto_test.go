package computop

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// Published HMAC vectors: developer.computop.com (HMAC authentication,
// pageId 37193623/37193624), key "mySecret"; celements/celements-payment
// ComputopServiceTest.java, key "ComputopSecretHmacKey!".
func TestMACVectors(t *testing.T) {
	tests := []struct{ key, msg, want string }{
		{"mySecret", "*TID-4453732122167114558*yourMerchantId*1234*EUR", "38CED807E293FC634A6C36FFAEA7BD2687038D40615781918AEF2DE7BB9A9903"},
		{"mySecret", "7bbb448155234d8cbee323778952ce28*TID-12033175321270170232*yourMerchantId*AUTHORIZED*00000000", "4CDCB4DE587AC210F21DE0591689B920CF56D89B38D4C7B1B7F8867BFC93E02C"},
		{"ComputopSecretHmacKey!", "payId*transId*merchantId*2330*CHF", "927c9bcc5eaee1ce9e904237c1c78ec746e99e14016d8fe1155e508e4b2ae2f8"},
		{"ComputopSecretHmacKey!", "*transId*merchantId*2330*CHF", "4c4b41b2f0f5de8c1a30006bfbadb0c1ebd2a320301feb1eed785de5bf6d506b"},
		{"ComputopSecretHmacKey!", "payId*transId*merchantId*payed*123", "04b7e62d9b0fc4e024edf416317861707261351a71b5fb1f464e11ec2e5d161a"},
	}
	for _, tt := range tests {
		f := strings.Split(tt.msg, "*")
		got := MAC(tt.key, f...)
		if got != strings.ToUpper(tt.want) {
			t.Errorf("MAC(%q) = %s, want %s", tt.msg, got, tt.want)
		}
		if !EqualMAC(strings.ToLower(tt.want), got) || EqualMAC(tt.want[:63]+"0", got) && tt.want[63] != '0' {
			t.Errorf("EqualMAC case/compare wrong for %s", tt.msg)
		}
	}
	if got := RequestMAC("mySecret", "", "TID-4453732122167114558", "yourMerchantId", "1234", "EUR"); got != tests[0].want {
		t.Errorf("RequestMAC = %s", got)
	}
	if got := ResponseMAC("mySecret", "7bbb448155234d8cbee323778952ce28", "TID-12033175321270170232", "yourMerchantId", "AUTHORIZED", "00000000"); got != tests[1].want {
		t.Errorf("ResponseMAC = %s", got)
	}
}

// Published Blowfish vectors: spryker-eco/computop ComputopBlowfishTest.php
// (key "password", "plaintext", Len 9, NUL padding, lower-case hex) and
// celements/celements-payment ComputopServiceTest.java (key
// "16CharKeyLength!", Computop's Java sample pads with spaces).
func TestBlowfishVectors(t *testing.T) {
	got, err := EncryptBlowfish([]byte("password"), []byte("plaintext"))
	if err != nil || got != strings.ToUpper("14ec7a6da0fbb3e50a84b47302443328") {
		t.Fatalf("EncryptBlowfish = %s, %v", got, err)
	}
	for _, data := range []string{"14ec7a6da0fbb3e50a84b47302443328", "14EC7A6DA0FBB3E50A84B47302443328"} {
		plain, err := DecryptBlowfish([]byte("password"), data, 9)
		if err != nil || string(plain) != "plaintext" {
			t.Errorf("DecryptBlowfish(%s) = %q, %v", data, plain, err)
		}
	}
	// Space-, NUL- and PKCS#7-padded ciphertexts of the same text all
	// decipher to it: the Paygate keeps the first Len characters.
	key := []byte("16CharKeyLength!")
	for _, data := range []string{
		"4105AAFDC6445BF2EB8242371136F4886413347EEB8731B9", // Computop's Java sample, spaces
		"4105aafdc6445bf2eb8242371136f488a4812b38a821e753", // NUL padding, lower case
	} {
		plain, err := DecryptBlowfish(key, data, 23)
		if err != nil || string(plain) != "Unencrypted plain text!" {
			t.Errorf("DecryptBlowfish(%s) = %q, %v", data, plain, err)
		}
	}
	nul, _ := EncryptBlowfish(key, []byte("Unencrypted plain text!"))
	if nul != "4105AAFDC6445BF2EB8242371136F488A4812B38A821E753" {
		t.Errorf("NUL-padded = %s", nul)
	}
}

func TestBlowfishBadData(t *testing.T) {
	key := []byte("password")
	data, _ := EncryptBlowfish(key, []byte("TransID=1&Amount=100"))
	tests := []struct {
		name, data string
		n          int
		want       string
	}{
		{"truncated by a digit", data[:len(data)-1], 20, "odd number"},
		{"truncated by a block", data[:len(data)-16], 20, "more than"},
		{"not whole blocks", data[:len(data)-2], 20, "not whole"},
		{"padded", data + "0000000000000000", 20, "unused"},
		{"Len too long", data, 25, "more than"},
		{"Len too short", data, 10, "unused"},
		{"not hex", "ZZ" + data[2:], 20, "not hex"},
		{"empty", "", 1, "empty"},
	}
	for _, tt := range tests {
		_, err := DecryptBlowfish(key, tt.data, tt.n)
		var ce *CryptoError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want a CryptoError with %q", tt.name, err, tt.want)
		}
	}
	// A PKCS#7 client whose text fills whole blocks sends one block more: accepted.
	plain := []byte("12345678")
	ct, _ := EncryptBlowfish(key, append(plain, 8, 8, 8, 8, 8, 8, 8, 8))
	if got, err := DecryptBlowfish(key, ct, 8); err != nil || string(got) != "12345678" {
		t.Errorf("PKCS#7 full block: %q, %v", got, err)
	}
}

func TestAESRoundTripAndErrors(t *testing.T) {
	for _, key := range []string{"0123456789abcdef", "0123456789abcdef01234567", "0123456789abcdef0123456789abcdef"} {
		for _, n := range []int{1, 15, 16, 17, 100} {
			plain := strings.Repeat("x", n)
			data, err := EncryptAES([]byte(key), []byte(plain))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := DecryptAES([]byte(key), strings.ToLower(data), n); err != nil || string(got) != plain {
				t.Fatalf("AES-%d len %d: %q, %v", len(key)*8, n, got, err)
			}
			if _, err := DecryptAES([]byte(key), data, n+1); err == nil {
				t.Errorf("wrong Len accepted")
			}
		}
	}
	key := []byte("0123456789abcdef")
	data, _ := EncryptAES(key, []byte("Amount=100"))
	for _, bad := range []string{data[:len(data)-2], strings.Replace(data, "-", "", 1), data[2:], data + "00"} {
		if _, err := DecryptAES(key, bad, 10); err == nil {
			t.Errorf("DecryptAES(%s) accepted", bad)
		}
	}
	if _, err := DecryptAES([]byte("fedcba9876543210"), data, 10); err == nil {
		t.Errorf("wrong key accepted")
	}
}

func TestSealOpen(t *testing.T) {
	for _, enc := range []Encryption{Blowfish, AES} {
		k := Keys{MerchantID: "kvitt_test", Password: "0123456789abcdef", HMACKey: "h", Encryption: enc}
		p := NewParams("MerchantID", "kvitt_test", "OrderDesc", "Kvitto:1 åäö", "Amount", "100")
		env, err := k.Seal(p)
		if err != nil {
			t.Fatal(err)
		}
		if env.Len != len("MerchantID=kvitt_test&OrderDesc=Kvitto:1 åäö&Amount=100")-3 {
			t.Errorf("%s: Len %d counts bytes of ISO-8859-1", enc, env.Len)
		}
		q, err := k.Open(env.Data, " "+itoa(env.Len))
		if err != nil {
			t.Fatal(err)
		}
		if q.Get("orderdesc") != "Kvitto:1 åäö" || q.Get("AMOUNT") != "100" {
			t.Errorf("%s: round trip %s", enc, q)
		}
		if _, err := k.Open(env.Data, "x"); err == nil {
			t.Errorf("bad Len accepted")
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestParseParams(t *testing.T) {
	p, err := ParseParams([]byte("mid=M1&PayID=abc&Description=Payment+ok%21&URL=https://x/y?z=1&&Empty="))
	if err != nil {
		t.Fatal(err)
	}
	if p.Get("MID") != "M1" || p.Get("payid") != "abc" || p.Get("description") != "Payment ok!" || p.Get("url") != "https://x/y?z=1" || !p.Has("empty") {
		t.Errorf("parsed %s", p)
	}
	for _, bad := range []string{"", "novalue", "=x", "MAC=1&mac=2", "a=1&a=2"} {
		if _, err := ParseParams([]byte(bad)); err == nil {
			t.Errorf("ParseParams(%q) accepted", bad)
		}
	}
	// ISO-8859-1 bytes become their characters.
	p, _ = ParseParams([]byte("Description=K\xf6p"))
	if p.Get("Description") != "Köp" {
		t.Errorf("Latin-1: %q", p.Get("Description"))
	}
}
