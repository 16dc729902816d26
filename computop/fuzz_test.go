package computop

import (
	"io"
	"strconv"
	"strings"
	"testing"
)

// The fuzz tests run as normal tests on their seed corpus (testdata/fuzz);
// go test -fuzz=FuzzXxx explores further.

func FuzzDecryptData(f *testing.F) {
	f.Add("14ec7a6da0fbb3e50a84b47302443328", 9)
	f.Add("4105AAFDC6445BF2EB8242371136F4886413347EEB8731B9", 23)
	f.Add("00", 1)
	f.Add("", 0)
	f.Add("0011223344556677-8899", 5)
	key := []byte("password")
	aesKey := []byte("0123456789abcdef")
	f.Fuzz(func(t *testing.T, data string, n int) {
		if plain, err := DecryptBlowfish(key, data, n); err == nil {
			if len(plain) != n || n <= 0 {
				t.Fatalf("Len %d gave %d bytes", n, len(plain))
			}
		}
		if plain, err := DecryptAES(aesKey, data, n); err == nil && len(plain) != n {
			t.Fatalf("AES Len %d gave %d bytes", n, len(plain))
		}
		k := Keys{MerchantID: "m", Password: "password", HMACKey: "h"}
		k.Open(data, strconv.Itoa(n))
	})
}

func FuzzParseParams(f *testing.F) {
	f.Add([]byte("mid=M1&PayID=abc&Status=OK&Code=00000000&MAC=AB"))
	f.Add([]byte("a=%zz&b=+&c=%26"))
	f.Add([]byte("&&=&"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseParams(b)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		p.Each(func(k, v string) {
			lk := strings.ToLower(k)
			if k == "" || seen[lk] {
				t.Fatalf("name %q empty or twice", k)
			}
			seen[lk] = true
			if p.Get(strings.ToUpper(k)) != v {
				t.Fatalf("Get(%q) differs", k)
			}
		})
	})
}

func FuzzBatchReader(f *testing.F) {
	f.Add("HEAD,kvitt_test,20250314,2.1\nSwish,Credit,100,SEK,T1,ref_1,0123456789abcdef0123456789abcdef\nFOOT,1,100\n", false)
	f.Add("HEAD,m,20250314,1.0\nSwish,Credit,m2,100,SEK,T1,0123456789abcdef0123456789abcdef,OK\nFOOT,1,100\n", true)
	f.Add("HEAD,m,20250314,2.0\nFOOT,0,0\n", false)
	f.Fuzz(func(t *testing.T, file string, response bool) {
		r, err := NewBatchReader(strings.NewReader(file), response)
		if err != nil {
			return
		}
		var n, sum int64
		for {
			var rec BatchRecord
			err := r.Next(&rec)
			if err == io.EOF {
				if n != r.Count() || sum != r.Sum() {
					t.Fatalf("count %d/%d sum %d/%d", n, r.Count(), sum, r.Sum())
				}
				return
			}
			if err != nil {
				return
			}
			if rec.Amount <= 0 || rec.Currency != "SEK" {
				t.Fatalf("bad record accepted: %+v", rec)
			}
			n++
			sum += rec.Amount
		}
	})
}
