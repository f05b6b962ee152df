package auth

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// DefaultIterations is the PBKDF2 iteration count that HashPassword and
// SetPassword use when they are given 0 or less: 210,000, the count OWASP
// recommends for PBKDF2-HMAC-SHA512. (mosquitto_passwd uses 101.)
const DefaultIterations = 210_000

// MaxIterations is the largest PBKDF2 iteration count that HashPassword
// writes and that a password file may hold: 10,000,000. It bounds the CPU
// time that one CONNECT can cost.
const MaxIterations = 10_000_000

const (
	// saltLen is the length of the salt that HashPassword draws: 12 bytes,
	// as Mosquitto draws and as Mosquitto 2.0 requires, so that files go
	// both ways. Longer salts are read too.
	saltLen = 12
	// keyLen is the length of a stored hash: one SHA-512 output, for $6$
	// and $7$ alike.
	keyLen = sha512.Size
)

// The hash schemes of a password file.
const (
	// schemeSHA512 is Mosquitto's old $6$: SHA-512 of the password followed
	// by the salt.
	schemeSHA512 = '6'
	// schemePBKDF2 is $7$: PBKDF2-HMAC-SHA512 with an iteration count.
	schemePBKDF2 = '7'
)

// passwordHash is one parsed password hash.
type passwordHash struct {
	scheme byte
	// iterations is the PBKDF2 iteration count of a $7$ hash, 0 for $6$.
	iterations int
	salt       []byte
	key        []byte
}

// HashPassword returns the encoding of password in Midge's password file
// format: PBKDF2-HMAC-SHA512 with a random 12-byte salt and the given
// iteration count, as $7$<iterations>$<base64 salt>$<base64 hash>, which is
// Mosquitto's $7$ format. An iteration count of 0 or less means
// DefaultIterations; one above MaxIterations returns ErrIterations.
func HashPassword(password string, iterations int) (string, error) {
	if iterations <= 0 {
		iterations = DefaultIterations
	}
	if iterations > MaxIterations {
		return "", fmt.Errorf("auth: hash password with %d iterations (max %d): %w", iterations, MaxIterations, ErrIterations)
	}
	salt := make([]byte, saltLen)
	rand.Read(salt) // crypto/rand.Read never fails; it crashes the program instead.
	h := &passwordHash{scheme: schemePBKDF2, iterations: iterations, salt: salt}
	key, err := h.derive([]byte(password))
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	h.key = key
	return h.String(), nil
}

// String returns the encoding of h as it appears after "user:" in a
// password file.
func (h *passwordHash) String() string {
	var b strings.Builder
	b.WriteString("$")
	b.WriteByte(h.scheme)
	b.WriteString("$")
	if h.scheme == schemePBKDF2 {
		b.WriteString(strconv.Itoa(h.iterations))
		b.WriteString("$")
	}
	b.WriteString(base64.StdEncoding.EncodeToString(h.salt))
	b.WriteString("$")
	b.WriteString(base64.StdEncoding.EncodeToString(h.key))
	return b.String()
}

// parseHash parses a $6$ or $7$ password hash.
func parseHash(s string) (*passwordHash, error) {
	fields := strings.Split(s, "$")
	// "$7$i$s$k" splits into "", "7", i, s, k; "$6$s$k" into "", "6", s, k.
	if len(fields) < 2 || fields[0] != "" || len(fields[1]) != 1 {
		return nil, errUnknownScheme
	}
	h := &passwordHash{scheme: fields[1][0]}
	switch h.scheme {
	case schemeSHA512:
		if len(fields) != 4 {
			return nil, errHashFields
		}
		fields = fields[2:]
	case schemePBKDF2:
		if len(fields) != 5 {
			return nil, errHashFields
		}
		n, err := strconv.Atoi(fields[2])
		if err != nil || n < 1 || n > MaxIterations || fields[2][0] == '+' {
			return nil, errIterations
		}
		h.iterations = n
		fields = fields[3:]
	default:
		return nil, errUnknownScheme
	}
	salt, err := decodeBase64(fields[0])
	if err != nil || len(salt) == 0 {
		return nil, errSalt
	}
	key, err := decodeBase64(fields[1])
	if err != nil || len(key) != keyLen {
		return nil, errKey
	}
	h.salt, h.key = salt, key
	return h, nil
}

// decodeBase64 decodes standard base64, with or without its '=' padding.
func decodeBase64(s string) ([]byte, error) {
	if strings.HasSuffix(s, "=") || len(s)%4 == 0 {
		return base64.StdEncoding.Strict().DecodeString(s)
	}
	return base64.RawStdEncoding.Strict().DecodeString(s)
}

// derive computes the hash of password with h's scheme, salt and iteration
// count.
func (h *passwordHash) derive(password []byte) ([]byte, error) {
	switch h.scheme {
	case schemeSHA512:
		d := sha512.New()
		d.Write(password)
		d.Write(h.salt)
		return d.Sum(nil), nil
	case schemePBKDF2:
		key, err := pbkdf2.Key(sha512.New, string(password), h.salt, h.iterations, keyLen)
		if err != nil {
			return nil, fmt.Errorf("pbkdf2: %w", err)
		}
		return key, nil
	}
	return nil, errUnknownScheme
}

// verify reports whether password hashes to h, comparing in constant time.
func (h *passwordHash) verify(password []byte) (bool, error) {
	key, err := h.derive(password)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}
