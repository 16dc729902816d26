// Package computop speaks Computop's Paygate interface for Swish (seed 003):
// the encrypted key=value requests (MerchantID, Len, Data) with an
// HMAC-SHA256 MAC inside, the format rules of Computop's parameter tables,
// Swish payments (channels Web and App), credits with reference, status
// inquiries, URLNotify notifications and batch files. It adapts all of it to
// kvitt.Provider (see Provider).
//
// The wire format follows Computop's published interface and the public
// clients that use it (see docs/computop.md, Sources), so switching from
// kvitt's simulator (sim/computop) to the Paygate is a change of base URL and
// credentials only.
package computop

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/blowfish"
)

// Encryption is how Data is enciphered. Blowfish is Computop's default; the
// Helpdesk switches a merchant to AES on request.
type Encryption string

const (
	// Blowfish is Blowfish in ECB mode, the key being the merchant's
	// password as bytes, the plaintext padded with NUL bytes to whole
	// 8-byte blocks, Data the hex of the ciphertext.
	Blowfish Encryption = "blowfish"
	// AES is AES-CBC with the password as key (16, 24 or 32 bytes), a random
	// IV and PKCS#7 padding; Data is hex(IV) "-" hex(ciphertext).
	AES Encryption = "aes"
)

// Keys are a merchant's Paygate credentials.
type Keys struct {
	// MerchantID is the MID Computop assigned (ans..30).
	MerchantID string
	// Password enciphers Data (the "Blowfish password"; for AES the AES key).
	Password string
	// HMACKey keys the MAC (the "HMAC password").
	HMACKey string
	// Encryption is Blowfish when empty.
	Encryption Encryption
}

// Validate checks that the keys can be used.
func (k Keys) Validate() error {
	if k.MerchantID == "" {
		return errors.New("computop: the merchant ID is required")
	}
	if err := checkFormat("ans", 30, false, k.MerchantID); err != "" {
		return fmt.Errorf("computop: merchant ID: ans..30: %s", err)
	}
	if k.HMACKey == "" {
		return errors.New("computop: the HMAC password is required")
	}
	switch k.encryption() {
	case Blowfish:
		if n := len(k.Password); n == 0 || n > 56 {
			return fmt.Errorf("computop: the Blowfish password must be 1 to 56 bytes, not %d", n)
		}
	case AES:
		if n := len(k.Password); n != 16 && n != 24 && n != 32 {
			return fmt.Errorf("computop: the AES password must be 16, 24 or 32 bytes, not %d", n)
		}
	default:
		return fmt.Errorf("computop: unknown encryption %q (blowfish or aes)", k.Encryption)
	}
	return nil
}

func (k Keys) encryption() Encryption {
	if k.Encryption == "" {
		return Blowfish
	}
	return k.Encryption
}

// Envelope is what travels: the MerchantID in plain text, the plaintext's
// length and the enciphered plaintext.
type Envelope struct {
	MerchantID string
	Len        int
	Data       string
}

// Seal enciphers the plaintext of p for the Paygate.
func (k Keys) Seal(p *Params) (Envelope, error) {
	plain, err := p.Encode()
	if err != nil {
		return Envelope{}, err
	}
	var data string
	switch k.encryption() {
	case AES:
		data, err = EncryptAES([]byte(k.Password), plain)
	default:
		data, err = EncryptBlowfish([]byte(k.Password), plain)
	}
	if err != nil {
		return Envelope{}, err
	}
	return Envelope{MerchantID: k.MerchantID, Len: len(plain), Data: data}, nil
}

// Open deciphers Data of length n (Len as sent) and parses the plaintext.
func (k Keys) Open(data string, n string) (*Params, error) {
	length, err := parseLen(n)
	if err != nil {
		return nil, err
	}
	var plain []byte
	if k.encryption() == AES || strings.Contains(data, "-") {
		if k.encryption() != AES {
			return nil, &CryptoError{"Data has an AES IV but this merchant uses Blowfish"}
		}
		plain, err = DecryptAES([]byte(k.Password), data, length)
	} else {
		plain, err = DecryptBlowfish([]byte(k.Password), data, length)
	}
	if err != nil {
		return nil, err
	}
	return ParseParams(plain)
}

// CryptoError says why Data or Len cannot be deciphered.
type CryptoError struct{ Reason string }

func (e *CryptoError) Error() string { return "computop: " + e.Reason }

func cryptoErr(format string, args ...any) error {
	return &CryptoError{fmt.Sprintf(format, args...)}
}

func parseLen(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, cryptoErr("Len is missing")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || len(s) > 7 {
		return 0, cryptoErr("Len %q is not a positive number", s)
	}
	return n, nil
}

// EncryptBlowfish enciphers plain with Blowfish-ECB under key, padding with
// NUL bytes to a whole block as Computop's PHP reference does, and returns the
// upper-case hex of the ciphertext. Len is len(plain).
func EncryptBlowfish(key, plain []byte) (string, error) {
	c, err := blowfish.NewCipher(key)
	if err != nil {
		return "", cryptoErr("Blowfish key: %v", err)
	}
	bs := blowfish.BlockSize
	n := (len(plain) + bs - 1) / bs * bs
	buf := make([]byte, n)
	copy(buf, plain)
	for i := 0; i < n; i += bs {
		c.Encrypt(buf[i:i+bs], buf[i:i+bs])
	}
	return strings.ToUpper(hex.EncodeToString(buf)), nil
}

// DecryptBlowfish deciphers hex Data (either case) and returns its first
// length bytes. The padding after them is not looked at (clients pad with
// NULs, spaces or PKCS#7), but Data must be whole blocks and hold length
// bytes with less than one block, or exactly one PKCS#7 block, to spare.
func DecryptBlowfish(key []byte, data string, length int) ([]byte, error) {
	ct, err := decodeHex("Data", data)
	if err != nil {
		return nil, err
	}
	bs := blowfish.BlockSize
	if err := checkBlocks(len(ct), bs, length); err != nil {
		return nil, err
	}
	c, err := blowfish.NewCipher(key)
	if err != nil {
		return nil, cryptoErr("Blowfish key: %v", err)
	}
	for i := 0; i < len(ct); i += bs {
		c.Decrypt(ct[i:i+bs], ct[i:i+bs])
	}
	return ct[:length], nil
}

func checkBlocks(n, bs, length int) error {
	switch {
	case length < 1:
		return cryptoErr("Len %d: must be at least 1", length)
	case n == 0:
		return cryptoErr("Data is empty")
	case n%bs != 0:
		return cryptoErr("Data is %d bytes, not whole %d-byte blocks: it was truncated", n, bs)
	case length > n:
		return cryptoErr("Len %d is more than the %d bytes of Data: Data was truncated or Len is wrong", length, n)
	case length < n-bs:
		return cryptoErr("Len %d leaves %d bytes of Data unused: Data was padded or Len is wrong", length, n-length)
	}
	return nil
}

func decodeHex(name, s string) ([]byte, error) {
	if len(s)%2 != 0 {
		return nil, cryptoErr("%s has an odd number of hex digits: it was truncated", name)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, cryptoErr("%s is not hex: %v", name, err)
	}
	return b, nil
}

// EncryptAES enciphers plain with AES-CBC under key with a random IV and
// PKCS#7 padding; the result is hex(IV) "-" hex(ciphertext), upper case.
func EncryptAES(key, plain []byte) (string, error) {
	iv := make([]byte, aes.BlockSize)
	if _, err := rand.Read(iv); err != nil {
		return "", err
	}
	return encryptAESWithIV(key, iv, plain)
}

func encryptAESWithIV(key, iv, plain []byte) (string, error) {
	c, err := aes.NewCipher(key)
	if err != nil {
		return "", cryptoErr("AES key: %v", err)
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	buf := append(append([]byte{}, plain...), bytes.Repeat([]byte{byte(pad)}, pad)...)
	cipher.NewCBCEncrypter(c, iv).CryptBlocks(buf, buf)
	return strings.ToUpper(hex.EncodeToString(iv) + "-" + hex.EncodeToString(buf)), nil
}

// DecryptAES deciphers hex(IV) "-" hex(ciphertext) and returns the first
// length bytes; the PKCS#7 padding must be valid and Len must agree with it.
func DecryptAES(key []byte, data string, length int) ([]byte, error) {
	if length < 1 {
		return nil, cryptoErr("Len %d: must be at least 1", length)
	}
	ivHex, ctHex, ok := strings.Cut(data, "-")
	if !ok {
		return nil, cryptoErr("AES Data must be hex(IV)-hex(ciphertext)")
	}
	iv, err := decodeHex("the IV of Data", ivHex)
	if err != nil {
		return nil, err
	}
	if len(iv) != aes.BlockSize {
		return nil, cryptoErr("the IV of Data is %d bytes, not %d", len(iv), aes.BlockSize)
	}
	ct, err := decodeHex("Data", ctHex)
	if err != nil {
		return nil, err
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, cryptoErr("Data is %d bytes, not whole %d-byte blocks: it was truncated", len(ct), aes.BlockSize)
	}
	c, err := aes.NewCipher(key)
	if err != nil {
		return nil, cryptoErr("AES key: %v", err)
	}
	cipher.NewCBCDecrypter(c, iv).CryptBlocks(ct, ct)
	pad := int(ct[len(ct)-1])
	if pad < 1 || pad > aes.BlockSize || !bytes.Equal(ct[len(ct)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return nil, cryptoErr("Data does not decipher to valid padding: wrong password or damaged Data")
	}
	if n := len(ct) - pad; length != n {
		return nil, cryptoErr("Len %d does not match the %d bytes in Data", length, n)
	}
	return ct[:length], nil
}

// MAC is HMAC-SHA256 under key over the fields joined with "*", as upper-case
// hex. Requests sign PayID*TransID*MerchantID*Amount*Currency; answers and
// notifications PayID*TransID*MerchantID*Status*Code. Empty fields keep their
// "*" (a new payment has no PayID yet).
func MAC(key string, fields ...string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(strings.Join(fields, "*")))
	return strings.ToUpper(hex.EncodeToString(m.Sum(nil)))
}

// RequestMAC is the MAC of a request.
func RequestMAC(key, payID, transID, merchantID, amount, currency string) string {
	return MAC(key, payID, transID, merchantID, amount, currency)
}

// ResponseMAC is the MAC of an answer or notification.
func ResponseMAC(key, payID, transID, merchantID, status, code string) string {
	return MAC(key, payID, transID, merchantID, status, code)
}

// EqualMAC compares a received MAC with the expected one in constant time,
// ignoring hex case (clients send either).
func EqualMAC(got, want string) bool {
	g := []byte(strings.ToUpper(strings.TrimSpace(got)))
	return subtle.ConstantTimeCompare(g, []byte(strings.ToUpper(want))) == 1
}
