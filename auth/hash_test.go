package auth

import (
	"crypto/pbkdf2"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestHashPasswordRoundTrip checks the shape of HashPassword's output and
// that it verifies the password and only the password.
func TestHashPasswordRoundTrip(t *testing.T) {
	shape := regexp.MustCompile(`^\$7\$1000\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$`)
	for _, pw := range []string{"", "s3cret", "pässwörd", "a:b$c#d e\n", string(make([]byte, 300))} {
		enc, err := HashPassword(pw, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if !shape.MatchString(enc) {
			t.Fatalf("HashPassword(%q) = %q, not $7$1000$<12-byte salt>$<64-byte hash>", pw, enc)
		}
		h, err := parseHash(enc)
		if err != nil {
			t.Fatalf("parseHash(%q): %v", enc, err)
		}
		if h.String() != enc {
			t.Fatalf("re-encoding %q gives %q", enc, h.String())
		}
		if ok, err := h.verify([]byte(pw)); !ok || err != nil {
			t.Fatalf("verify(%q) = %v, %v", pw, ok, err)
		}
		if ok, _ := h.verify([]byte(pw + "x")); ok {
			t.Fatalf("verify(%q) accepted a different password", pw+"x")
		}
	}
	a, _ := HashPassword("same", 1)
	b, _ := HashPassword("same", 1)
	if a == b {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
}

func TestHashPasswordIterations(t *testing.T) {
	// One hash at the default count, through SetPassword.
	path := filepath.Join(t.TempDir(), "passwd")
	if err := SetPassword(path, "alice", "x", 0); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "alice:$7$210000$") {
		t.Fatalf("iterations 0 wrote %q, want DefaultIterations (210000)", data)
	}
	if _, err := HashPassword("x", MaxIterations+1); !errors.Is(err, ErrIterations) {
		t.Fatalf("MaxIterations+1: err = %v, want ErrIterations", err)
	}
}

// TestKnownAnswerPBKDF2 computes a $7$ hash independently, with
// crypto/pbkdf2 and base64 in the test, and checks that Midge verifies it
// and encodes the same salt and password to the same string.
func TestKnownAnswerPBKDF2(t *testing.T) {
	for _, tc := range []struct {
		name       string
		password   string
		salt       []byte
		iterations int
	}{
		{name: "mosquitto-default", password: "hunter2", salt: []byte("0123456789ab"), iterations: 101},
		{name: "midge-salt", password: "correct horse", salt: []byte("0123456789abcdef"), iterations: 2000},
		{name: "one-iteration", password: "", salt: []byte{0}, iterations: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, err := pbkdf2.Key(sha512.New, tc.password, tc.salt, tc.iterations, 64)
			if err != nil {
				t.Fatal(err)
			}
			want := "$7$" + strconv.Itoa(tc.iterations) + "$" + base64.StdEncoding.EncodeToString(tc.salt) +
				"$" + base64.StdEncoding.EncodeToString(key)
			h, err := parseHash(want)
			if err != nil {
				t.Fatalf("parseHash(%q): %v", want, err)
			}
			if ok, err := h.verify([]byte(tc.password)); !ok || err != nil {
				t.Fatalf("verify = %v, %v", ok, err)
			}
			mine := &passwordHash{scheme: schemePBKDF2, iterations: tc.iterations, salt: tc.salt}
			mine.key, _ = mine.derive([]byte(tc.password))
			if got := mine.String(); got != want {
				t.Fatalf("encoded\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// mosquittoVectors were made by mosquitto_passwd 2.0.11 (Debian 12), which
// hashes with OpenSSL, independently of Go: the $7$ lines by
// `mosquitto_passwd -b FILE user PASSWORD` (carol's with -I 1000), the $6$
// line with -H sha512. Mosquitto's salts are 12 bytes.
var mosquittoVectors = []struct {
	password string
	line     string
}{
	{
		password: "hunter2",
		line:     "alice:$7$101$PF1Pc/blWFwO8TtN$4FeQ0vkEZrRWmPbBvqbgBzzr18zEy9OFAB/syz2d3gA3RxC56KSqi6E1PwuW/OKTRgqLfdikL4As1z/pNu9dNA==",
	},
	{
		password: "pässwörd with spaces",
		line:     "bob:$7$101$pN2cCXvhzgm1hTJo$ulyuCZPhIFUWQZETjLFuchCfsHHw1fRavwkiFzE5w/nosNYnX/mICbdGgRoT34yOQfWWV7vCgLQSh3jCnu3klw==",
	},
	{
		password: "x",
		line:     "carol:$7$1000$09nSJPN6jbn9F9mM$fYOYX9LG1GnblIeMZFMzKVTy/Y56FVAkvGPowxhaWcINuf3hq5KE6xxj2YA+4jJ8Ely0VlYFSzLZzHkjHhI69g==",
	},
	{
		password: "dave-pw",
		line:     "dave:$6$jVqimXpD5ltYA2U1$Htt29p5Lv7qoS1JMtDFYdV+yUkktvUWIU+WRQ2jUgnmS2UEZbayrRH81hEingi3WlLEe+Pg3fyPY2di8601msA==",
	},
}

// TestKnownAnswerMosquitto verifies hashes that mosquitto_passwd made.
func TestKnownAnswerMosquitto(t *testing.T) {
	for _, v := range mosquittoVectors {
		tab, err := parsePasswords("vector", []byte(v.line+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		if len(tab.users) != 1 {
			t.Fatalf("%q: %d users", v.line, len(tab.users))
		}
		for user, h := range tab.users {
			if ok, err := h.verify([]byte(v.password)); !ok || err != nil {
				t.Errorf("%s: password %q does not verify (%v)", user, v.password, err)
			}
			if ok, _ := h.verify([]byte(v.password + "!")); ok {
				t.Errorf("%s: a wrong password verifies", user)
			}
		}
	}
}

// TestKnownAnswerSHA512 checks Mosquitto's old $6$ scheme, SHA-512 of the
// password followed by the salt, computed in the test.
func TestKnownAnswerSHA512(t *testing.T) {
	salt := []byte("saltsaltsalt")
	sum := sha512.Sum512(append([]byte("hunter2"), salt...))
	enc := "$6$" + base64.StdEncoding.EncodeToString(salt) + "$" + base64.StdEncoding.EncodeToString(sum[:])
	h, err := parseHash(enc)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := h.verify([]byte("hunter2")); !ok {
		t.Fatal("$6$ hash does not verify")
	}
	if ok, _ := h.verify([]byte("hunter3")); ok {
		t.Fatal("$6$ hash verifies a wrong password")
	}
	if h.String() != enc {
		t.Fatalf("re-encoded as %q, want %q", h.String(), enc)
	}
}

func TestParseHashErrors(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(make([]byte, 64))
	short := base64.StdEncoding.EncodeToString(make([]byte, 63))
	for _, tc := range []struct {
		name string
		in   string
		want error
	}{
		{name: "empty", in: "", want: errUnknownScheme},
		{name: "plain-text", in: "secret", want: errUnknownScheme},
		{name: "scheme-5", in: "$5$c2FsdA==$" + key, want: errUnknownScheme},
		{name: "argon2", in: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", want: errUnknownScheme},
		{name: "7-too-few", in: "$7$101$" + key, want: errHashFields},
		{name: "7-too-many", in: "$7$101$c2FsdA==$" + key + "$x", want: errHashFields},
		{name: "6-too-many", in: "$6$1$c2FsdA==$" + key, want: errHashFields},
		{name: "iterations-zero", in: "$7$0$c2FsdA==$" + key, want: errIterations},
		{name: "iterations-negative", in: "$7$-1$c2FsdA==$" + key, want: errIterations},
		{name: "iterations-plus", in: "$7$+5$c2FsdA==$" + key, want: errIterations},
		{name: "iterations-text", in: "$7$abc$c2FsdA==$" + key, want: errIterations},
		{name: "iterations-huge", in: "$7$99999999999$c2FsdA==$" + key, want: errIterations},
		{name: "salt-empty", in: "$7$101$$" + key, want: errSalt},
		{name: "salt-not-base64", in: "$7$101$!!!!$" + key, want: errSalt},
		{name: "key-short", in: "$7$101$c2FsdA==$" + short, want: errKey},
		{name: "key-not-base64", in: "$7$101$c2FsdA==$" + key[:80] + "@@@@@@@@", want: errKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseHash(tc.in); !errors.Is(err, tc.want) {
				t.Fatalf("parseHash(%q) = %v, want %v", tc.in, err, tc.want)
			}
		})
	}
	// Unpadded base64 is read too.
	if _, err := parseHash("$7$101$c2FsdA$" + key); err != nil {
		t.Fatalf("unpadded salt: %v", err)
	}
}
