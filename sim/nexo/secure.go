package simnexo

// The terminal's side of Adyen's local Terminal API message protection.
// Written apart from package nexo on purpose (DESIGN: the simulator shares
// no wire code with the client), from Adyen's libraries' source
// (adyen-java-api-library NexoCrypto.java, NexoDerivedKeyGenerator.java):
// PBKDF2-HMAC-SHA1(passphrase, "AdyenNexoV1Salt", 4000) → 80 bytes =
// HMAC key | AES-256 key | IV; AES-256-CBC/PKCS#7 under IV XOR the message's
// nonce; HMAC-SHA256 over the plaintext; Nonce and Hmac in standard base64.

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
)

// Profiles (Options.Profile).
const (
	ProfileWestpay = "westpay" // Login required before Payment and Reversal (the default)
	ProfileAdyen   = "adyen"   // requests are taken without Login
)

// Key is a shared encryption key the terminal knows (Adyen: the key set
// for the terminal in the Customer Area).
type Key struct {
	Identifier string
	Version    int
	Passphrase string
}

// termKey is a Key with its derived material.
type termKey struct {
	Key
	mac, enc, iv []byte
}

func deriveKey(k Key) (*termKey, error) {
	m, err := pbkdf2.Key(sha1.New, k.Passphrase, []byte("AdyenNexoV1Salt"), 4000, 80)
	if err != nil {
		return nil, err
	}
	return &termKey{Key: k, mac: m[0:32], enc: m[32:64], iv: m[64:80]}, nil
}

func (k *termKey) hmacOf(b []byte) []byte {
	h := hmac.New(sha256.New, k.mac)
	h.Write(b)
	return h.Sum(nil)
}

func (k *termKey) cbc(nonce []byte) (cipher.Block, []byte) {
	blk, err := aes.NewCipher(k.enc)
	if err != nil {
		panic(err) // a 32-byte key always makes a cipher
	}
	iv := bytes.Clone(k.iv)
	for i := range iv {
		iv[i] ^= nonce[i]
	}
	return blk, iv
}

// cryptoError is a refused protected message: Adyen's terminal answers it
// with HTTP 401 and {"errors":["Nexo Service: crypto error (9)"],"ServiceID":"…"}
// (docs.adyen.com/point-of-sale/design-your-integration/choose-your-architecture/local/protect-with-library,
// "Troubleshooting: Crypto errors"), not with a nexo response. Adyen
// publishes what three numbers mean: (1) the request cannot be parsed, (2)
// the key version is unknown, (3) a problem with the message header. The
// simulator sends those numbers; for the other refusals (unknown key
// identifier, wrong Hmac, replayed nonce), whose numbers are not published,
// it says "crypto error" without a number and adds the reason in words.
type cryptoError struct {
	code   int // Adyen's published number, 0 when none is published
	reason string
}

func (e *cryptoError) Error() string {
	if e.code > 0 {
		return fmt.Sprintf("crypto error (%d): %s", e.code, e.reason)
	}
	return "crypto error: " + e.reason
}

// Adyen's published crypto error numbers.
const (
	cryptoParse   = 1 // the request cannot be parsed
	cryptoVersion = 2 // the key version is unknown
	cryptoHeader  = 3 // a problem with the message header
)

func writeCryptoError(w http.ResponseWriter, serviceID string, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	json.NewEncoder(w).Encode(map[string]any{
		"errors":    []string{"Nexo Service: " + err.Error()},
		"ServiceID": serviceID,
	})
}

// unseal checks and decrypts a protected SaleToPOIRequest (the map under
// "SaleToPOIRequest"). It returns the decrypted whole message and the key
// to protect the answer with.
func (t *Terminal) unseal(req map[string]any) ([]byte, *termKey, error) {
	st := obj(req, "SecurityTrailer")
	blob, _ := req["NexoBlob"].(string)
	if st == nil || blob == "" {
		return nil, nil, &cryptoError{cryptoParse, "NexoBlob and SecurityTrailer are required"}
	}
	if v := str(st, "AdyenCryptoVersion"); v != "1" {
		return nil, nil, &cryptoError{0, "unsupported AdyenCryptoVersion " + v}
	}
	ver, _ := strconv.Atoi(str(st, "KeyVersion"))
	id := str(st, "KeyIdentifier")
	t.mu.Lock()
	k := t.keys[id+"\x00"+strconv.Itoa(ver)]
	knownID := false
	for _, tk := range t.keys {
		knownID = knownID || tk.Identifier == id
	}
	t.mu.Unlock()
	if k == nil && knownID {
		return nil, nil, &cryptoError{cryptoVersion, fmt.Sprintf("unknown version %d of key %q", ver, id)}
	}
	if k == nil {
		return nil, nil, &cryptoError{0, fmt.Sprintf("unknown key identifier %q", id)}
	}
	nonce, err1 := base64.StdEncoding.DecodeString(str(st, "Nonce"))
	mac, err2 := base64.StdEncoding.DecodeString(str(st, "Hmac"))
	ct, err3 := base64.StdEncoding.DecodeString(blob)
	if err1 != nil || err2 != nil || err3 != nil || len(nonce) != 16 || len(mac) != 32 || len(ct) == 0 || len(ct)%16 != 0 {
		return nil, nil, &cryptoError{cryptoParse, "Nonce, Hmac or NexoBlob malformed"}
	}
	blk, iv := k.cbc(nonce)
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(blk, iv).CryptBlocks(plain, ct)
	n := int(plain[len(plain)-1])
	if n == 0 || n > 16 || len(plain) < n {
		return nil, nil, &cryptoError{0, "the NexoBlob does not decrypt under this key (wrong passphrase?)"}
	}
	for _, b := range plain[len(plain)-n:] {
		if int(b) != n {
			return nil, nil, &cryptoError{0, "the NexoBlob does not decrypt under this key (wrong passphrase?)"}
		}
	}
	plain = plain[:len(plain)-n]
	if !hmac.Equal(k.hmacOf(plain), mac) {
		return nil, nil, &cryptoError{0, "Hmac does not match (wrong passphrase?)"}
	}
	// Only an authentic message spends its nonce, so a forger cannot block
	// a genuine one by sending its nonce first.
	seen := id + "\x00" + strconv.Itoa(ver) + "\x00" + string(nonce)
	t.mu.Lock()
	replay := t.nonces[seen]
	t.nonces[seen] = true
	t.mu.Unlock()
	if replay {
		return nil, nil, &cryptoError{0, "replayed nonce"}
	}
	return plain, k, nil
}

// seal protects a whole SaleToPOIResponse message (JSON) with k.
func seal(k *termKey, msg []byte) ([]byte, error) {
	var outer map[string]map[string]any
	if err := json.Unmarshal(msg, &outer); err != nil {
		return nil, err
	}
	resp := outer["SaleToPOIResponse"]
	if resp == nil {
		return nil, errors.New("simnexo: no SaleToPOIResponse to protect")
	}
	nonce := make([]byte, 16)
	rand.Read(nonce)
	pad := 16 - len(msg)%16
	buf := append(bytes.Clone(msg), bytes.Repeat([]byte{byte(pad)}, pad)...)
	blk, iv := k.cbc(nonce)
	cipher.NewCBCEncrypter(blk, iv).CryptBlocks(buf, buf)
	return json.Marshal(map[string]any{"SaleToPOIResponse": map[string]any{
		"MessageHeader": resp["MessageHeader"],
		"NexoBlob":      base64.StdEncoding.EncodeToString(buf),
		"SecurityTrailer": map[string]any{
			"AdyenCryptoVersion": 1,
			"KeyIdentifier":      k.Identifier,
			"KeyVersion":         k.Version,
			"Nonce":              base64.StdEncoding.EncodeToString(nonce),
			"Hmac":               base64.StdEncoding.EncodeToString(k.hmacOf(msg)),
		},
	}})
}

// sealingWriter holds back a JSON answer and sends it protected with the
// request's key; other answers (204, errors) pass through. It still lets
// the kill switch hijack the connection.
type sealingWriter struct {
	http.ResponseWriter
	key    *termKey
	status int
	buf    bytes.Buffer
}

func (s *sealingWriter) WriteHeader(code int) { s.status = code }
func (s *sealingWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.buf.Write(b)
}
func (s *sealingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(s.ResponseWriter).Hijack()
}

func (s *sealingWriter) finish() {
	if s.status == 0 {
		return // nothing written (the till went away, or the connection was dropped)
	}
	body := s.buf.Bytes()
	if s.status == http.StatusOK && s.Header().Get("Content-Type") == "application/json" {
		sealed, err := seal(s.key, body)
		if err != nil {
			http.Error(s.ResponseWriter, err.Error(), http.StatusInternalServerError)
			return
		}
		body = append(sealed, '\n')
	}
	s.ResponseWriter.WriteHeader(s.status)
	s.ResponseWriter.Write(body)
}
