package simcomputop

// The simulator's own reading and writing of the Paygate's envelope. It
// shares no code with package computop: the published vectors and the
// seed's fixtures pin both sides (wire_test.go).

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/blowfish"
)

// fields is a deciphered plaintext, names lower-cased.
type fields map[string]string

// open deciphers Data/Len with the merchant's password.
func (s *Sim) open(data, length string) (fields, error) {
	n, err := strconv.Atoi(strings.TrimSpace(length))
	if err != nil || n < 1 {
		return nil, fmt.Errorf("Len %q is not a positive number", length)
	}
	var plain []byte
	if s.opts.AES {
		plain, err = aesOpen([]byte(s.opts.Password), data, n)
	} else {
		plain, err = bfOpen([]byte(s.opts.Password), data, n)
	}
	if err != nil {
		return nil, err
	}
	f := fields{}
	for _, kv := range strings.Split(string(plain), "&") {
		if kv == "" {
			continue
		}
		i := strings.IndexByte(kv, '=')
		if i <= 0 {
			return nil, fmt.Errorf("%q is not key=value", kv)
		}
		k := strings.ToLower(kv[:i])
		if _, dup := f[k]; dup {
			return nil, fmt.Errorf("parameter %s given twice", kv[:i])
		}
		var v strings.Builder
		for _, c := range []byte(kv[i+1:]) { // ISO-8859-1
			v.WriteRune(rune(c))
		}
		f[k] = v.String()
	}
	return f, nil
}

func bfOpen(key []byte, data string, n int) ([]byte, error) {
	ct, err := hex.DecodeString(data)
	if err != nil {
		return nil, fmt.Errorf("Data is not hex: %v", err)
	}
	if len(ct) == 0 || len(ct)%8 != 0 {
		return nil, errors.New("Data is not whole Blowfish blocks")
	}
	if n > len(ct) || n < len(ct)-8 {
		return nil, fmt.Errorf("Len %d does not fit %d bytes of Data", n, len(ct))
	}
	c, err := blowfish.NewCipher(key)
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(ct); i += 8 {
		c.Decrypt(ct[i:], ct[i:])
	}
	return ct[:n], nil
}

func aesOpen(key []byte, data string, n int) ([]byte, error) {
	parts := strings.SplitN(data, "-", 2)
	if len(parts) != 2 {
		return nil, errors.New("AES Data is not IV-ciphertext")
	}
	iv, err1 := hex.DecodeString(parts[0])
	ct, err2 := hex.DecodeString(parts[1])
	if err1 != nil || err2 != nil || len(iv) != 16 || len(ct) == 0 || len(ct)%16 != 0 {
		return nil, errors.New("AES Data is damaged")
	}
	c, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	cipher.NewCBCDecrypter(c, iv).CryptBlocks(ct, ct)
	pad := int(ct[len(ct)-1])
	if pad < 1 || pad > 16 || len(ct)-pad != n {
		return nil, errors.New("AES padding or Len is wrong")
	}
	return ct[:n], nil
}

// seal enciphers an answer. Names keep the case the Paygate writes them in
// (lower-case "mid", mixed case elsewhere). Blowfish answers are padded with
// spaces, as Computop's Java sample does, not with NULs.
func (s *Sim) seal(pairs [][2]string) (data string, n int) {
	var b bytes.Buffer
	for i, kv := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(kv[0])
		b.WriteByte('=')
		for _, r := range kv[1] {
			if r > 0xFF {
				r = '?'
			}
			b.WriteByte(byte(r))
		}
	}
	plain := b.Bytes()
	n = len(plain)
	key := []byte(s.opts.Password)
	if s.opts.AES {
		c, _ := aes.NewCipher(key)
		iv := make([]byte, 16)
		rand.Read(iv)
		pad := 16 - n%16
		buf := append(append([]byte{}, plain...), bytes.Repeat([]byte{byte(pad)}, pad)...)
		cipher.NewCBCEncrypter(c, iv).CryptBlocks(buf, buf)
		return hex.EncodeToString(iv) + "-" + hex.EncodeToString(buf), n
	}
	c, _ := blowfish.NewCipher(key)
	buf := append([]byte{}, plain...)
	for len(buf)%8 != 0 {
		buf = append(buf, ' ')
	}
	for i := 0; i < len(buf); i += 8 {
		c.Encrypt(buf[i:], buf[i:])
	}
	return strings.ToUpper(hex.EncodeToString(buf)), n
}

func (s *Sim) mac(parts ...string) string {
	m := hmac.New(sha256.New, []byte(s.opts.HMACKey))
	m.Write([]byte(strings.Join(parts, "*")))
	return strings.ToUpper(hex.EncodeToString(m.Sum(nil)))
}

// Format checks of the simulated Paygate, written from seed 003's tables.
type spec struct {
	re        *regexp.Regexp
	mandatory bool
	max       int // in characters; 0: the regexp decides
}

var (
	ansRE = regexp.MustCompile(`^[\x20-\x25\x27-\x7e\xa0-\xff]+$`)
	an    = func(n int) string { return `^[A-Za-z0-9]{` + strconv.Itoa(n) + `}$` }
)

var swishSpec = map[string]spec{
	"merchantid": {ansRE, true, 30},
	"transid":    {ansRE, true, 35},
	"refnr":      {ansRE, false, 35},
	"amount":     {regexp.MustCompile(`^[0-9]{1,10}$`), true, 0},
	"currency":   {regexp.MustCompile(`^[A-Za-z]{3}$`), true, 0},
	"mac":        {regexp.MustCompile(an(64)), true, 0},
	"orderdesc":  {regexp.MustCompile(`^[a-zA-Z0-9åäöÅÄÖ:;.,?!()"]{1,128}$`), true, 0},
	"reqid":      {regexp.MustCompile(`^[A-Za-z0-9]{1,32}$`), false, 0},
	"channel":    {regexp.MustCompile(`^(Web|App)$`), true, 0},
	"mobilenr":   {regexp.MustCompile(`^[1-9][0-9]{7,14}$`), false, 0},
	"urlnotify":  {ansRE, false, 256},
	"userdata":   {ansRE, false, 1024},
}

var creditSpec = map[string]spec{
	"merchantid": {ansRE, true, 30},
	"payid":      {regexp.MustCompile(an(32)), true, 0},
	"transid":    {ansRE, true, 35},
	"refnr":      {ansRE, false, 35},
	"amount":     {regexp.MustCompile(`^[0-9]{1,10}$`), true, 0},
	"currency":   {regexp.MustCompile(`^[A-Za-z]{1,3}$`), true, 0},
	"mac":        {regexp.MustCompile(an(64)), true, 0},
	"reqid":      {regexp.MustCompile(`^[A-Za-z0-9]{1,32}$`), false, 0},
}

var inquireSpec = map[string]spec{
	"merchantid": {ansRE, true, 30},
	"payid":      {regexp.MustCompile(an(32)), true, 0},
	"transid":    {ansRE, true, 64},
	"mac":        {regexp.MustCompile(an(64)), false, 0},
}

var inquire24Spec = map[string]spec{
	"merchantid": {ansRE, true, 30},
	"transid":    {ansRE, true, 64},
	"mac":        {regexp.MustCompile(an(64)), false, 0},
}

// check returns the first format violation as an A4-shaped code and a
// description: class 4 module 010 for a missing parameter, class 2 module
// 011 for a format error, the last four digits the parameter's number.
func check(spec map[string]spec, f fields) (code, desc string) {
	names := make([]string, 0, len(spec))
	for k := range spec {
		names = append(names, k)
	}
	sort.Strings(names)
	for i, k := range names {
		sp := spec[k]
		v, ok := f[k]
		if !ok || v == "" {
			if sp.mandatory {
				return fmt.Sprintf("4010%04d", i+1), "missing parameter " + k
			}
			continue
		}
		if !sp.re.MatchString(v) || sp.max > 0 && utf8.RuneCountInString(v) > sp.max {
			return fmt.Sprintf("2011%04d", i+1), "format error in " + k
		}
	}
	for k := range f {
		if _, ok := spec[k]; !ok {
			return "20190000", "parameter " + k + " not allowed"
		}
	}
	return "", ""
}
