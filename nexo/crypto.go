package nexo

// Adyen's local Terminal API message protection, as implemented by Adyen's
// own libraries (adyen-java-api-library NexoCrypto.java and
// NexoDerivedKeyGenerator.java, adyen-node-api-library nexoCrypto.ts,
// adyen-dotnet-api-library SaleToPoiMessageSecuredEncryptor.cs):
//
//   - key material: 80 bytes of PBKDF2-HMAC-SHA1 over the passphrase, salt
//     "AdyenNexoV1Salt", 4000 rounds; bytes 0-31 the HMAC key, 32-63 the
//     AES-256 key, 64-79 the IV;
//   - per message a random 16-byte nonce; AES-256-CBC with PKCS#7 padding
//     under IV XOR nonce over the whole plaintext message
//     {"SaleToPOIRequest":{...}} (or SaleToPOIResponse);
//   - HMAC-SHA256 with the HMAC key over the plaintext (not the ciphertext);
//   - on the wire {"SaleToPOIRequest":{"MessageHeader":{...in clear...},
//     "NexoBlob":"<base64 ciphertext>","SecurityTrailer":{"AdyenCryptoVersion":1,
//     "KeyIdentifier":"...","KeyVersion":1,"Nonce":"<base64>","Hmac":"<base64>"}}},
//     base64 being standard base64 with padding.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"golang.org/x/crypto/pbkdf2"
)

// AdyenCryptoVersion is the only version of the protection there is.
const AdyenCryptoVersion = 1

const (
	nexoSalt       = "AdyenNexoV1Salt"
	nexoRounds     = 4000
	nexoHMACKeyLen = 32
	nexoCipherLen  = 32
	nexoIVLen      = 16
)

// ErrCrypto marks a protected message that cannot be trusted: a wrong HMAC,
// an unknown key, a ciphertext that does not decrypt, a missing trailer.
var ErrCrypto = errors.New("nexo: message protection failed")

// SecurityKey is the shared key configured on the terminal (Adyen Customer
// Area: Terminal settings > Integrations > Encryption key).
type SecurityKey struct {
	Passphrase    string
	KeyIdentifier string
	KeyVersion    int
}

// SecurityTrailer authenticates a protected message. Nonce and Hmac are
// raw bytes, base64 (standard, padded) in JSON, as encoding/json writes []byte.
type SecurityTrailer struct {
	AdyenCryptoVersion int    `json:"AdyenCryptoVersion"`
	KeyIdentifier      string `json:"KeyIdentifier"`
	KeyVersion         int    `json:"KeyVersion"`
	Nonce              []byte `json:"Nonce"`
	Hmac               []byte `json:"Hmac"`
}

// SecuredMessage is a protected SaleToPOIRequest or SaleToPOIResponse: the
// header in clear, the whole message encrypted in NexoBlob.
type SecuredMessage struct {
	MessageHeader   MessageHeader    `json:"MessageHeader"`
	NexoBlob        string           `json:"NexoBlob"`
	SecurityTrailer *SecurityTrailer `json:"SecurityTrailer"`
}

// SecuredEnvelope is the outer JSON object of a protected exchange.
type SecuredEnvelope struct {
	SaleToPOIRequest  *SecuredMessage `json:"SaleToPOIRequest,omitempty"`
	SaleToPOIResponse *SecuredMessage `json:"SaleToPOIResponse,omitempty"`
}

// Crypto protects messages with one shared key. Deriving the key material
// costs 4000 PBKDF2 rounds, so a Crypto is made once per key and reused; it
// is safe for concurrent use.
type Crypto struct {
	key       SecurityKey
	hmacKey   []byte
	cipherKey []byte
	iv        []byte
}

// NewCrypto derives the key material for key.
func NewCrypto(key SecurityKey) (*Crypto, error) {
	if key.Passphrase == "" || key.KeyIdentifier == "" {
		return nil, fmt.Errorf("nexo: an encryption key needs a passphrase and a key identifier")
	}
	dk := pbkdf2.Key([]byte(key.Passphrase), []byte(nexoSalt), nexoRounds, nexoHMACKeyLen+nexoCipherLen+nexoIVLen, sha1.New)
	return &Crypto{
		key:       key,
		hmacKey:   dk[:nexoHMACKeyLen],
		cipherKey: dk[nexoHMACKeyLen : nexoHMACKeyLen+nexoCipherLen],
		iv:        dk[nexoHMACKeyLen+nexoCipherLen:],
	}, nil
}

// Key returns the key's identifier and version (not the passphrase).
func (c *Crypto) Key() (identifier string, version int) { return c.key.KeyIdentifier, c.key.KeyVersion }

// Seal protects plaintext (the whole JSON message) under a fresh random nonce.
func (c *Crypto) Seal(plaintext []byte, h MessageHeader) (*SecuredMessage, error) {
	nonce := make([]byte, nexoIVLen)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return c.SealWithNonce(plaintext, h, nonce)
}

// SealWithNonce protects plaintext under the given nonce. Outside tests use
// Seal: a nonce must never be used twice.
func (c *Crypto) SealWithNonce(plaintext []byte, h MessageHeader, nonce []byte) (*SecuredMessage, error) {
	if len(nonce) != nexoIVLen {
		return nil, fmt.Errorf("nexo: nonce must have %d bytes", nexoIVLen)
	}
	block, err := aes.NewCipher(c.cipherKey)
	if err != nil {
		return nil, err
	}
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	buf := make([]byte, len(plaintext)+pad)
	copy(buf, plaintext)
	for i := len(plaintext); i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, c.actualIV(nonce)).CryptBlocks(buf, buf)
	return &SecuredMessage{
		MessageHeader: h,
		NexoBlob:      base64.StdEncoding.EncodeToString(buf),
		SecurityTrailer: &SecurityTrailer{
			AdyenCryptoVersion: AdyenCryptoVersion,
			KeyIdentifier:      c.key.KeyIdentifier,
			KeyVersion:         c.key.KeyVersion,
			Nonce:              append([]byte(nil), nonce...),
			Hmac:               c.mac(plaintext),
		},
	}, nil
}

// Open checks the trailer names this key, decrypts NexoBlob and verifies
// the HMAC of the plaintext. Every failure wraps ErrCrypto.
func (c *Crypto) Open(m *SecuredMessage) ([]byte, error) {
	if m == nil || m.SecurityTrailer == nil || m.NexoBlob == "" {
		return nil, fmt.Errorf("%w: no NexoBlob or SecurityTrailer", ErrCrypto)
	}
	st := m.SecurityTrailer
	switch {
	case st.AdyenCryptoVersion != AdyenCryptoVersion:
		return nil, fmt.Errorf("%w: AdyenCryptoVersion %d", ErrCrypto, st.AdyenCryptoVersion)
	case st.KeyIdentifier != c.key.KeyIdentifier || st.KeyVersion != c.key.KeyVersion:
		return nil, fmt.Errorf("%w: key %s version %d, expected %s version %d", ErrCrypto,
			st.KeyIdentifier, st.KeyVersion, c.key.KeyIdentifier, c.key.KeyVersion)
	case len(st.Nonce) != nexoIVLen || len(st.Hmac) != sha256.Size:
		return nil, fmt.Errorf("%w: Nonce or Hmac has the wrong length", ErrCrypto)
	}
	ct, err := base64.StdEncoding.DecodeString(m.NexoBlob)
	if err != nil || len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: NexoBlob is not a ciphertext", ErrCrypto)
	}
	block, err := aes.NewCipher(c.cipherKey)
	if err != nil {
		return nil, err
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, c.actualIV(st.Nonce)).CryptBlocks(pt, ct)
	pad := int(pt[len(pt)-1])
	if pad < 1 || pad > aes.BlockSize || !bytes.Equal(pt[len(pt)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return nil, fmt.Errorf("%w: wrong key or damaged NexoBlob", ErrCrypto)
	}
	pt = pt[:len(pt)-pad]
	if !hmac.Equal(c.mac(pt), st.Hmac) {
		return nil, fmt.Errorf("%w: Hmac does not match", ErrCrypto)
	}
	return pt, nil
}

func (c *Crypto) actualIV(nonce []byte) []byte {
	iv := make([]byte, nexoIVLen)
	for i := range iv {
		iv[i] = c.iv[i] ^ nonce[i]
	}
	return iv
}

func (c *Crypto) mac(b []byte) []byte {
	h := hmac.New(sha256.New, c.hmacKey)
	h.Write(b)
	return h.Sum(nil)
}
