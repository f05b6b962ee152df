package auth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/syncbuf"
	"github.com/midgemq/midge/packet"
)

// testSecret is an HMAC secret of 64 bytes, long enough for HS512.
var testSecret = strings.Repeat("0123456789abcdef", 4)

// testNow is the clock of the JWT tests.
var testNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// rsaKey is one 2048-bit RSA key for all tests: generating one costs.
var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// sign returns claims signed with method and key.
func sign(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// claimsFor returns valid claims for user at testNow, with extra merged in;
// an extra value of nil deletes the claim.
func claimsFor(user string, extra jwt.MapClaims) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub": user,
		"iat": testNow.Add(-time.Minute).Unix(),
		"exp": testNow.Add(time.Hour).Unix(),
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// pemFile writes PEM blocks of the given type and DER bytes to a file.
func pemFile(t *testing.T, blocks ...*pem.Block) string {
	t.Helper()
	var b bytes.Buffer
	for _, bl := range blocks {
		pem.Encode(&b, bl)
	}
	return writeFile(t, "key.pem", b.String())
}

// pkixBlock is the "PUBLIC KEY" block of pub.
func pkixBlock(t *testing.T, pub crypto.PublicKey) *pem.Block {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return &pem.Block{Type: "PUBLIC KEY", Bytes: der}
}

// newTestJWT returns a JWT at testNow that logs into the returned buffer.
func newTestJWT(t *testing.T, opts JWTOptions) (*JWT, *syncBuf) {
	t.Helper()
	logs := &syncBuf{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	if opts.UsernameClaim == "" && opts.ClientIDClaim == "" {
		opts.UsernameClaim = "sub"
	}
	j, err := NewJWT(opts)
	if err != nil {
		t.Fatalf("NewJWT: %v", err)
	}
	j.now = func() time.Time { return testNow }
	return j, logs
}

// syncBuf collects what loggers on several goroutines write.
type syncBuf = syncbuf.Buffer

// noneToken is an unsigned token ("alg": "none") for claims.
func noneToken(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc([]byte(claims)) + "."
}

func TestJWTAuthenticate(t *testing.T) {
	secretFile := writeFile(t, "secret", testSecret+"\n")
	j, logs := newTestJWT(t, JWTOptions{SecretFile: secretFile, Leeway: 30 * time.Second})
	hs := func(extra jwt.MapClaims) string {
		return sign(t, jwt.SigningMethodHS256, []byte(testSecret), claimsFor("alice", extra))
	}
	at := func(d time.Duration) int64 { return testNow.Add(d).Unix() }

	for _, tc := range []struct {
		name     string
		user     string // "alice" when empty
		password []byte
		want     error
	}{
		{name: "valid", password: []byte(hs(nil))},
		{name: "hs512", password: []byte(sign(t, jwt.SigningMethodHS512, []byte(testSecret), claimsFor("alice", nil)))},
		{name: "no-password-not-mine", password: nil, want: ErrBadCredentials},
		{name: "plain-password-not-mine", password: []byte("hunter2"), want: ErrBadCredentials},
		{name: "dotted-password-not-mine", password: []byte("a.b.c"), want: ErrBadCredentials},
		{name: "base64-header-not-json-not-mine", password: []byte("aGVsbG8.aGVsbG8.aGVsbG8"), want: ErrBadCredentials},
		{name: "wrong-secret", password: []byte(sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), claimsFor("alice", nil))), want: ErrInvalidToken},
		{name: "tampered-claims", user: "admin", password: []byte(tamper(t, hs(nil))), want: ErrInvalidToken},
		{name: "alg-none", password: []byte(noneToken(`{"sub":"alice","exp":` + itoa(at(time.Hour)) + `}`)), want: ErrInvalidToken},
		{name: "expired", password: []byte(hs(jwt.MapClaims{"exp": at(-31 * time.Second)})), want: ErrInvalidToken},
		{name: "expired-within-leeway", password: []byte(hs(jwt.MapClaims{"exp": at(-29 * time.Second)}))},
		{name: "no-exp", password: []byte(hs(jwt.MapClaims{"exp": nil})), want: ErrInvalidToken},
		{name: "exp-not-a-number", password: []byte(hs(jwt.MapClaims{"exp": "tomorrow"})), want: ErrInvalidToken},
		{name: "not-yet-valid", password: []byte(hs(jwt.MapClaims{"nbf": at(31 * time.Second)})), want: ErrInvalidToken},
		{name: "nbf-within-leeway", password: []byte(hs(jwt.MapClaims{"nbf": at(29 * time.Second)}))},
		{name: "issued-in-the-future", password: []byte(hs(jwt.MapClaims{"iat": at(time.Hour)})), want: ErrInvalidToken},
		{name: "no-iat", password: []byte(hs(jwt.MapClaims{"iat": nil}))},
		{name: "other-user", user: "bob", password: []byte(hs(nil)), want: ErrInvalidToken},
		{name: "no-sub", password: []byte(hs(jwt.MapClaims{"sub": nil})), want: ErrInvalidToken},
		{name: "sub-not-a-string", password: []byte(hs(jwt.MapClaims{"sub": 7})), want: ErrInvalidToken},
		{name: "publish-not-an-array", password: []byte(hs(jwt.MapClaims{"publish": "a/#"})), want: ErrInvalidToken},
		{name: "publish-element-not-a-string", password: []byte(hs(jwt.MapClaims{"publish": []any{"a", 1}})), want: ErrInvalidToken},
		{name: "subscribe-invalid-filter", password: []byte(hs(jwt.MapClaims{"subscribe": []string{"a/#/b"}})), want: ErrInvalidToken},
		{name: "subscribe-shared", password: []byte(hs(jwt.MapClaims{"subscribe": []string{"$share/g/a"}})), want: ErrInvalidToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user := tc.user
			if user == "" {
				user = "alice"
			}
			before := strings.Count(logs.String(), "token refused")
			c := &broker.ClientInfo{ClientID: "c1", Username: user}
			err := j.Authenticate(context.Background(), c, tc.password)
			if tc.want == nil && err != nil || !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil && reasonCode(err) != packet.BadUserNameOrPassword {
				t.Fatalf("reason code %v, want BadUserNameOrPassword", reasonCode(err))
			}
			// An invalid token is logged, as such; a password that is not
			// a token is not this authenticator's to log.
			logged := strings.Count(logs.String(), "token refused") - before
			if wantLogged := errors.Is(tc.want, ErrInvalidToken); (logged == 1) != wantLogged {
				t.Fatalf("%d log lines, want logged %v:\n%s", logged, wantLogged, logs)
			}
			if c.Grants != nil {
				t.Fatalf("grants %v from a token without grant claims", c.Grants)
			}
		})
	}
	if s := logs.String(); strings.Contains(s, hs(nil)[:20]) || strings.Contains(s, "eyJ") {
		t.Fatalf("a token reached the log:\n%s", s)
	}
}

// tamper changes the claims of a token and keeps its signature.
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(bytes.Replace(claims, []byte("alice"), []byte("admin"), 1))
	return strings.Join(parts, ".")
}

func itoa(n int64) string { return big.NewInt(n).String() }

func TestJWTIssuerAudience(t *testing.T) {
	j, _ := newTestJWT(t, JWTOptions{SecretFile: writeFile(t, "s", testSecret), Issuer: "https://idp.example", Audience: "midge"})
	hs := func(extra jwt.MapClaims) []byte {
		return []byte(sign(t, jwt.SigningMethodHS256, []byte(testSecret), claimsFor("alice", extra)))
	}
	for _, tc := range []struct {
		name  string
		token []byte
		ok    bool
	}{
		{name: "both", token: hs(jwt.MapClaims{"iss": "https://idp.example", "aud": "midge"}), ok: true},
		{name: "audience-list", token: hs(jwt.MapClaims{"iss": "https://idp.example", "aud": []string{"other", "midge"}}), ok: true},
		{name: "no-issuer", token: hs(jwt.MapClaims{"aud": "midge"})},
		{name: "wrong-issuer", token: hs(jwt.MapClaims{"iss": "https://evil.example", "aud": "midge"})},
		{name: "no-audience", token: hs(jwt.MapClaims{"iss": "https://idp.example"})},
		{name: "wrong-audience", token: hs(jwt.MapClaims{"iss": "https://idp.example", "aud": []string{"other"}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := authenticate(j, "alice", tc.token)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// TestJWTPublicKeys checks each kind of public key with the algorithms of
// its kind, and that no token verifies with a key of another kind.
func TestJWTPublicKeys(t *testing.T) {
	ec256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	rk := rsaKey()
	claims := claimsFor("alice", nil)

	for _, tc := range []struct {
		name     string
		file     func(t *testing.T) string
		wantAlgs []string
		good     []string // tokens that must be accepted
		bad      []string // tokens that must be refused
	}{
		{
			name:     "rsa-pkix",
			file:     func(t *testing.T) string { return pemFile(t, pkixBlock(t, &rk.PublicKey)) },
			wantAlgs: []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"},
			good: []string{
				sign(t, jwt.SigningMethodRS256, rk, claims),
				sign(t, jwt.SigningMethodPS512, rk, claims),
			},
			bad: []string{
				// Algorithm confusion: the public key used as an HMAC secret.
				sign(t, jwt.SigningMethodHS256, pem.EncodeToMemory(pkixBlock(t, &rk.PublicKey)), claims),
				sign(t, jwt.SigningMethodHS256, x509.MarshalPKCS1PublicKey(&rk.PublicKey), claims),
				sign(t, jwt.SigningMethodES256, ec256, claims),
				noneToken(`{"sub":"alice","exp":9999999999}`),
			},
		},
		{
			name: "rsa-pkcs1",
			file: func(t *testing.T) string {
				return pemFile(t, &pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rk.PublicKey)})
			},
			wantAlgs: []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"},
			good:     []string{sign(t, jwt.SigningMethodRS384, rk, claims)},
		},
		{
			name:     "ecdsa-p256",
			file:     func(t *testing.T) string { return pemFile(t, pkixBlock(t, &ec256.PublicKey)) },
			wantAlgs: []string{"ES256"},
			good:     []string{sign(t, jwt.SigningMethodES256, ec256, claims)},
			bad: []string{
				sign(t, jwt.SigningMethodES384, ec384, claims),
				sign(t, jwt.SigningMethodHS256, pem.EncodeToMemory(pkixBlock(t, &ec256.PublicKey)), claims),
			},
		},
		{
			name:     "ed25519",
			file:     func(t *testing.T) string { return pemFile(t, pkixBlock(t, edPub)) },
			wantAlgs: []string{"EdDSA"},
			good:     []string{sign(t, jwt.SigningMethodEdDSA, edPriv, claims)},
			bad:      []string{sign(t, jwt.SigningMethodRS256, rk, claims)},
		},
		{
			name: "certificate",
			file: func(t *testing.T) string {
				tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "issuer"},
					NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(time.Hour)}
				der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ec384.PublicKey, ec384)
				if err != nil {
					t.Fatal(err)
				}
				return pemFile(t, &pem.Block{Type: "CERTIFICATE", Bytes: der})
			},
			wantAlgs: []string{"ES384"},
			good:     []string{sign(t, jwt.SigningMethodES384, ec384, claims)},
			bad:      []string{sign(t, jwt.SigningMethodES256, ec256, claims)},
		},
		{
			name: "rotation-two-keys",
			file: func(t *testing.T) string {
				return pemFile(t, pkixBlock(t, &ec256.PublicKey), pkixBlock(t, &rk.PublicKey))
			},
			wantAlgs: []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256"},
			good: []string{
				sign(t, jwt.SigningMethodES256, ec256, claims),
				sign(t, jwt.SigningMethodRS256, rk, claims),
			},
			bad: []string{sign(t, jwt.SigningMethodES384, ec384, claims)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j, _ := newTestJWT(t, JWTOptions{PublicKeyFile: tc.file(t)})
			if got := j.Algorithms(); !slices.Equal(got, tc.wantAlgs) {
				t.Fatalf("Algorithms() = %q, want %q", got, tc.wantAlgs)
			}
			for i, tok := range tc.good {
				if err := authenticate(j, "alice", []byte(tok)); err != nil {
					t.Errorf("good token %d: %v", i, err)
				}
			}
			for i, tok := range tc.bad {
				if err := authenticate(j, "alice", []byte(tok)); !errors.Is(err, ErrInvalidToken) {
					t.Errorf("bad token %d: err = %v, want ErrInvalidToken", i, err)
				}
			}
		})
	}
}

func TestJWTAlgorithmsOption(t *testing.T) {
	rk := rsaKey()
	file := pemFile(t, pkixBlock(t, &rk.PublicKey))
	j, _ := newTestJWT(t, JWTOptions{PublicKeyFile: file, Algorithms: []string{"PS256"}})
	if err := authenticate(j, "alice", []byte(sign(t, jwt.SigningMethodPS256, rk, claimsFor("alice", nil)))); err != nil {
		t.Fatalf("PS256: %v", err)
	}
	if err := authenticate(j, "alice", []byte(sign(t, jwt.SigningMethodRS256, rk, claimsFor("alice", nil)))); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("RS256 when only PS256 is allowed: %v", err)
	}
	// A 32-byte secret is long enough for HS256 only.
	short, _ := newTestJWT(t, JWTOptions{SecretFile: writeFile(t, "s", testSecret[:32])})
	if got := short.Algorithms(); !slices.Equal(got, []string{"HS256"}) {
		t.Fatalf("Algorithms() of a 32-byte secret = %q", got)
	}
	long, _ := newTestJWT(t, JWTOptions{SecretFile: writeFile(t, "s", testSecret)})
	if got := long.Algorithms(); !slices.Equal(got, []string{"HS256", "HS384", "HS512"}) {
		t.Fatalf("Algorithms() of a 64-byte secret = %q", got)
	}
}

func TestNewJWTErrors(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ec)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	secret := writeFile(t, "secret", testSecret)
	ecFile := pemFile(t, pkixBlock(t, &ec.PublicKey))
	for _, tc := range []struct {
		name string
		opts JWTOptions
		want string // in the error
	}{
		{name: "no-key", opts: JWTOptions{UsernameClaim: "sub"}, want: "no secret file"},
		{name: "both-keys", opts: JWTOptions{SecretFile: secret, PublicKeyFile: ecFile, UsernameClaim: "sub"}, want: "choose one"},
		{name: "unbound", opts: JWTOptions{SecretFile: secret}, want: "not be bound"},
		{name: "negative-leeway", opts: JWTOptions{SecretFile: secret, UsernameClaim: "sub", Leeway: -time.Second}, want: "leeway"},
		{name: "unknown-alg", opts: JWTOptions{SecretFile: secret, UsernameClaim: "sub", Algorithms: []string{"none"}}, want: `unknown algorithm "none"`},
		{name: "alg-of-other-kind", opts: JWTOptions{SecretFile: secret, UsernameClaim: "sub", Algorithms: []string{"RS256"}}, want: "algorithm RS256"},
		{name: "curve-mismatch", opts: JWTOptions{PublicKeyFile: ecFile, UsernameClaim: "sub", Algorithms: []string{"ES384"}}, want: "algorithm ES384"},
		{name: "short-secret", opts: JWTOptions{SecretFile: writeFile(t, "s", "0123456789"), UsernameClaim: "sub"}, want: "no key of the kind"},
		{name: "empty-secret", opts: JWTOptions{SecretFile: writeFile(t, "s", "\n"), UsernameClaim: "sub"}, want: "empty"},
		{name: "missing-file", opts: JWTOptions{SecretFile: "/nonexistent/secret", UsernameClaim: "sub"}, want: "no such file"},
		{name: "not-pem", opts: JWTOptions{PublicKeyFile: writeFile(t, "k", "hello"), UsernameClaim: "sub"}, want: "no PEM block"},
		{name: "private-key", opts: JWTOptions{PublicKeyFile: pemFile(t, &pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}), UsernameClaim: "sub"}, want: "not a private one"},
		{name: "small-rsa", opts: JWTOptions{PublicKeyFile: pemFile(t, pkixBlock(t, &small.PublicKey)), UsernameClaim: "sub"}, want: "1024 bits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewJWT(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestJWTGrants(t *testing.T) {
	j, _ := newTestJWT(t, JWTOptions{SecretFile: writeFile(t, "s", testSecret)})
	tok := sign(t, jwt.SigningMethodHS256, []byte(testSecret), claimsFor("alice", jwt.MapClaims{
		"publish":   []string{"devices/%u/status"},
		"subscribe": []string{"devices/%u/cmd", "clients/%c/#"},
	}))
	c := &broker.ClientInfo{ClientID: "c1", Username: "alice"}
	if err := j.Authenticate(context.Background(), c, []byte(tok)); err != nil {
		t.Fatal(err)
	}
	g, ok := c.Grants.(*Grants)
	if !ok {
		t.Fatalf("Grants = %T, want *Grants", c.Grants)
	}
	if !g.Allows(c, broker.ActionPublish, "devices/alice/status") {
		t.Error("granted publish refused")
	}
	if !g.Allows(c, broker.ActionSubscribe, "devices/alice/cmd") {
		t.Error("granted subscription refused")
	}
	if g.Allows(c, broker.ActionSubscribe, "devices/alice/status") {
		t.Error("a publish grant allowed a subscription")
	}
	// %c is not bound by a claim here (only the user name is), so the
	// client cannot pick its way into clients/.../#.
	if g.Allows(c, broker.ActionSubscribe, "clients/c1/#") {
		t.Errorf("a %s grant applied though the client id is not bound", "%c")
	}

	// A token with only one of the claims grants nothing of the other kind.
	tok = sign(t, jwt.SigningMethodHS256, []byte(testSecret), claimsFor("alice", jwt.MapClaims{"subscribe": []string{"#"}}))
	c = &broker.ClientInfo{ClientID: "c1", Username: "alice"}
	if err := j.Authenticate(context.Background(), c, []byte(tok)); err != nil {
		t.Fatal(err)
	}
	az := WithGrants(nil)
	if az.Authorize(context.Background(), c, broker.ActionPublish, "a") {
		t.Error("subscribe-only token allowed a publish")
	}
	if !az.Authorize(context.Background(), c, broker.ActionSubscribe, "a/#") {
		t.Error("subscribe-only token refused a subscription")
	}
}

// TestJWTClientIDClaim binds tokens to the client id instead of the user
// name: then %c applies and %u does not.
func TestJWTClientIDClaim(t *testing.T) {
	j, _ := newTestJWT(t, JWTOptions{SecretFile: writeFile(t, "s", testSecret), ClientIDClaim: "client_id"})
	claims := claimsFor("", jwt.MapClaims{"sub": nil, "client_id": "dev-7",
		"publish": []string{"clients/%c/up", "users/%u/up"}})
	tok := []byte(sign(t, jwt.SigningMethodHS256, []byte(testSecret), claims))
	c := &broker.ClientInfo{ClientID: "dev-7", Username: "anyone"}
	if err := j.Authenticate(context.Background(), c, tok); err != nil {
		t.Fatal(err)
	}
	g := c.Grants.(*Grants)
	if !g.Allows(c, broker.ActionPublish, "clients/dev-7/up") {
		t.Errorf("a %s grant refused", "%c")
	}
	if g.Allows(c, broker.ActionPublish, "users/anyone/up") {
		t.Errorf("a %s grant applied to a user name the token does not bind", "%u")
	}
	other := &broker.ClientInfo{ClientID: "dev-8", Username: "anyone"}
	if err := j.Authenticate(context.Background(), other, tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token of dev-7 used by dev-8: %v", err)
	}
}

func TestJWTReload(t *testing.T) {
	path := writeFile(t, "secret", testSecret)
	j, _ := newTestJWT(t, JWTOptions{SecretFile: path})
	oldTok := []byte(sign(t, jwt.SigningMethodHS256, []byte(testSecret), claimsFor("alice", nil)))
	newSecret := strings.Repeat("n", 32)
	newTok := []byte(sign(t, jwt.SigningMethodHS256, []byte(newSecret), claimsFor("alice", nil)))
	if err := authenticate(j, "alice", oldTok); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(newSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := j.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := authenticate(j, "alice", oldTok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("old secret after reload: %v", err)
	}
	if err := authenticate(j, "alice", newTok); err != nil {
		t.Fatalf("new secret after reload: %v", err)
	}
	// A secret too short for any algorithm fails the reload and keeps the
	// previous one.
	os.WriteFile(path, []byte("short"), 0o600)
	if err := j.Reload(); err == nil {
		t.Fatal("reload of a short secret succeeded")
	}
	if err := authenticate(j, "alice", newTok); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
}

// TestJWTReloadRace runs Authenticate while Reload swaps the keys; run it
// with -race.
func TestJWTReloadRace(t *testing.T) {
	path := writeFile(t, "secret", testSecret)
	j, _ := newTestJWT(t, JWTOptions{SecretFile: path})
	tok := []byte(sign(t, jwt.SigningMethodHS256, []byte(testSecret), claimsFor("alice", nil)))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				if err := authenticate(j, "alice", tok); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 20 {
		if err := j.Reload(); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
}

// TestChainJWTPasswordFile: a token is tried first, and a password that is
// not a token goes on to the password file.
func TestChainJWTPasswordFile(t *testing.T) {
	j, _ := newTestJWT(t, JWTOptions{SecretFile: writeFile(t, "s", testSecret)})
	pf, err := LoadPasswordFile(writeFile(t, "passwd", "bob:"+mustHash(t, "builder")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	ch := Chain(j, pf)
	tok := []byte(sign(t, jwt.SigningMethodHS256, []byte(testSecret), claimsFor("alice", jwt.MapClaims{"publish": []string{"a"}})))
	if err := authenticate(ch, "alice", tok); err != nil {
		t.Fatalf("token: %v", err)
	}
	if err := authenticate(ch, "bob", []byte("builder")); err != nil {
		t.Fatalf("password: %v", err)
	}
	if err := authenticate(ch, "bob", []byte("wrong")); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	// An expired token of alice is refused by both.
	expired := []byte(sign(t, jwt.SigningMethodHS256, []byte(testSecret), claimsFor("alice", jwt.MapClaims{"exp": testNow.Add(-time.Hour).Unix()})))
	err = authenticate(ch, "alice", expired)
	if reasonCode(err) != packet.BadUserNameOrPassword {
		t.Fatalf("expired token: %v", err)
	}
}
