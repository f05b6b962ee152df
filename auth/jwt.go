package auth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/midgemq/midge/broker"
)

var _ broker.Authenticator = (*JWT)(nil)

// JWTAlgorithms lists the signature algorithms that a JWT authenticator
// knows, by their JWS names: HMAC with a shared secret (HS256, HS384,
// HS512), RSA PKCS #1 v1.5 and PSS (RS256, RS384, RS512, PS256, PS384,
// PS512), ECDSA on the curve of the algorithm (ES256 on P-256, ES384 on
// P-384, ES512 on P-521) and Ed25519 (EdDSA). "none" is never accepted.
var JWTAlgorithms = []string{
	"HS256", "HS384", "HS512",
	"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

// Bounds on the keys a JWT authenticator loads.
const (
	// minRSABits is the smallest RSA public key accepted.
	minRSABits = 2048
	// maxKeyFileSize bounds a secret or public key file.
	maxKeyFileSize = 1 << 20
)

// JWTOptions configures NewJWT. Exactly one of SecretFile and PublicKeyFile
// is set, and at least one of UsernameClaim and ClientIDClaim.
type JWTOptions struct {
	// SecretFile is a file holding the shared secret of HMAC-signed tokens
	// (HS256, HS384, HS512); trailing white space, such as the final line
	// break, is not part of the secret. The secret must be at least as
	// long as the algorithm's hash (32 bytes for HS256, 48 for HS384, 64
	// for HS512, RFC 7518 section 3.2); algorithms it is too short for are
	// not accepted.
	SecretFile string

	// PublicKeyFile is a PEM file of one or more public keys that sign
	// tokens: "PUBLIC KEY" (PKIX: RSA, ECDSA or Ed25519), "RSA PUBLIC KEY"
	// (PKCS #1) or "CERTIFICATE" blocks, whose key is used (the certificate
	// itself is not checked). Several keys let a signer's key be rotated: a
	// token is accepted when one key of the kind its algorithm needs
	// verifies it. RSA keys have at least 2048 bits; a private key in the
	// file is an error.
	PublicKeyFile string

	// Algorithms are the algorithms accepted, from JWTAlgorithms; nil means
	// every algorithm that the keys can verify. Naming one that the keys
	// cannot verify (HS256 with a public key, ES384 with a P-256 key) is an
	// error: a token is only ever checked with a key of its algorithm's
	// kind, so an RSA public key can never be used as an HMAC secret.
	Algorithms []string

	// Issuer, when not "", must be the token's "iss" claim.
	Issuer string

	// Audience, when not "", must be the token's "aud" claim or one of its
	// values.
	Audience string

	// UsernameClaim names the claim that must be a string equal to the
	// client's MQTT user name, such as "sub"; "" means the user name is
	// not checked, and then a granted filter that holds %u never applies.
	UsernameClaim string

	// ClientIDClaim names the claim that must be a string equal to the
	// client's MQTT client id; "" means the client id is not checked, and
	// then a granted filter that holds %c never applies.
	ClientIDClaim string

	// Leeway is how far the broker's clock may be from the issuer's: a
	// token is accepted up to Leeway after its "exp", from Leeway before
	// its "nbf", and only if its "iat" is not more than Leeway in the
	// future. Zero means none; it must not be negative.
	Leeway time.Duration

	// Logger receives one line per refused token, with the reason; nil
	// means slog.Default().
	Logger *slog.Logger
}

// JWT is a broker.Authenticator that takes a JSON Web Token (RFC 7519) as
// the MQTT password. A token is accepted when its signature verifies with
// the configured key, it has an "exp" claim that has not passed, its "nbf"
// (if any) has come, its "iat" (if any) is not in the future, its "iss" and
// "aud" are the configured ones (when configured), and the claims named by
// UsernameClaim and ClientIDClaim equal the client's user name and client
// id; each time comparison allows Leeway.
//
// A token may carry the topics its holder may use, as the claims "publish"
// and "subscribe": arrays of topic filters, with %u and %c as in the ACL's
// pattern rules. When either claim is present, Authenticate stores them as
// a *Grants in broker.ClientInfo.Grants, and the Authorizer of WithGrants
// decides from them alone (a missing claim then grants nothing); a token
// with neither leaves authorization to the next Authorizer, such as the
// ACL file.
//
// Authenticate may be called from many goroutines at once, also while
// Reload runs.
type JWT struct {
	opts JWTOptions
	log  *slog.Logger
	// now returns the current time; nil means time.Now. Tests set it before
	// the first Authenticate.
	now func() time.Time

	// reloadMu serializes Reload, so that a slow reload cannot replace the
	// keys of a later one.
	reloadMu sync.Mutex
	// keys are the loaded keys and the parser for them. Authenticate loads
	// them without a lock; Reload replaces them whole.
	keys atomic.Pointer[jwtKeys]
}

// jwtKeys is one load of the key files. It is never changed once made.
type jwtKeys struct {
	// secret is the HMAC secret, or nil.
	secret []byte
	// public are the public keys, or nil.
	public []crypto.PublicKey
	// parser accepts the algorithms that the keys verify (and that
	// JWTOptions.Algorithms allows), and checks the registered claims.
	parser *jwt.Parser
}

// NewJWT loads the key file that opts names and returns the authenticator.
// An error names the file or the option at fault.
func NewJWT(opts JWTOptions) (*JWT, error) {
	switch {
	case opts.SecretFile == "" && opts.PublicKeyFile == "":
		return nil, errors.New("auth: jwt: no secret file and no public key file")
	case opts.SecretFile != "" && opts.PublicKeyFile != "":
		return nil, errors.New("auth: jwt: a secret file and a public key file: choose one")
	case opts.UsernameClaim == "" && opts.ClientIDClaim == "":
		return nil, errors.New("auth: jwt: no username claim and no client id claim: a token would not be bound to its client")
	case opts.Leeway < 0:
		return nil, fmt.Errorf("auth: jwt: negative leeway %s", opts.Leeway)
	}
	for _, a := range opts.Algorithms {
		if !slices.Contains(JWTAlgorithms, a) {
			return nil, fmt.Errorf("auth: jwt: unknown algorithm %q (algorithms: %s)", a, strings.Join(JWTAlgorithms, ", "))
		}
	}
	opts.Algorithms = slices.Clone(opts.Algorithms)
	j := &JWT{opts: opts, log: opts.Logger}
	if j.log == nil {
		j.log = slog.Default()
	}
	k, err := j.load()
	if err != nil {
		return nil, err
	}
	j.keys.Store(k)
	return j, nil
}

// Path returns the key file: the secret file or the public key file.
func (j *JWT) Path() string {
	if j.opts.SecretFile != "" {
		return j.opts.SecretFile
	}
	return j.opts.PublicKeyFile
}

// Algorithms returns the algorithms that the keys as last loaded accept, in
// the order of JWTAlgorithms.
func (j *JWT) Algorithms() []string {
	k := j.keys.Load()
	if k == nil {
		return nil
	}
	return j.accepted(k)
}

// Reload reads the key file again and, if it loads, replaces the keys all
// at once: every Authenticate call sees either the old keys or the new ones.
// On error the old keys stay in force. It is meant to be called on SIGHUP.
// Clients already connected stay connected.
func (j *JWT) Reload() error {
	j.reloadMu.Lock()
	defer j.reloadMu.Unlock()
	k, err := j.load()
	if err != nil {
		return err
	}
	j.keys.Store(k)
	return nil
}

// load reads the key file and builds the parser for its keys.
func (j *JWT) load() (*jwtKeys, error) {
	k := &jwtKeys{}
	var err error
	if j.opts.SecretFile != "" {
		if k.secret, err = readSecret(j.opts.SecretFile); err != nil {
			return nil, err
		}
	} else if k.public, err = readPublicKeys(j.opts.PublicKeyFile); err != nil {
		return nil, err
	}
	algs := j.accepted(k)
	for _, a := range j.opts.Algorithms {
		if !slices.Contains(algs, a) {
			return nil, fmt.Errorf("auth: jwt: %s: algorithm %s: %w", j.Path(), a, errNoKeyForAlg)
		}
	}
	if len(algs) == 0 {
		return nil, fmt.Errorf("auth: jwt: %s: %w", j.Path(), errNoKeyForAlg)
	}
	popts := []jwt.ParserOption{
		jwt.WithValidMethods(algs),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(j.opts.Leeway),
		jwt.WithTimeFunc(j.clock),
	}
	if j.opts.Issuer != "" {
		popts = append(popts, jwt.WithIssuer(j.opts.Issuer))
	}
	if j.opts.Audience != "" {
		popts = append(popts, jwt.WithAudience(j.opts.Audience))
	}
	k.parser = jwt.NewParser(popts...)
	return k, nil
}

// accepted returns the algorithms that k verifies and that the options
// allow, in the order of JWTAlgorithms.
func (j *JWT) accepted(k *jwtKeys) []string {
	var out []string
	for _, a := range JWTAlgorithms {
		if len(j.opts.Algorithms) > 0 && !slices.Contains(j.opts.Algorithms, a) {
			continue
		}
		if len(k.keysFor(a)) > 0 {
			out = append(out, a)
		}
	}
	return out
}

// keysFor returns the keys of k that verify the algorithm alg: the secret
// for HMAC when it is long enough, RSA keys for RS* and PS*, ECDSA keys on
// the algorithm's curve for ES*, Ed25519 keys for EdDSA.
func (k *jwtKeys) keysFor(alg string) []jwt.VerificationKey {
	if hashLen, ok := hmacHashLen[alg]; ok {
		if len(k.secret) >= hashLen {
			return []jwt.VerificationKey{k.secret}
		}
		return nil
	}
	var out []jwt.VerificationKey
	for _, pk := range k.public {
		switch pk := pk.(type) {
		case *rsa.PublicKey:
			if strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS") {
				out = append(out, pk)
			}
		case *ecdsa.PublicKey:
			if ecdsaCurve[alg] != nil && pk.Curve == ecdsaCurve[alg] {
				out = append(out, pk)
			}
		case ed25519.PublicKey:
			if alg == "EdDSA" {
				out = append(out, pk)
			}
		}
	}
	return out
}

// hmacHashLen is the hash size of each HMAC algorithm, the shortest secret
// it may use.
var hmacHashLen = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}

// ecdsaCurve is the curve of each ECDSA algorithm.
var ecdsaCurve = map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}

// keyFunc gives the parser the keys of k for the token's algorithm. The
// parser has already refused an algorithm that k does not accept; this is
// where each algorithm gets keys of its own kind only.
func (k *jwtKeys) keyFunc(t *jwt.Token) (any, error) {
	keys := k.keysFor(t.Method.Alg())
	switch len(keys) {
	case 0:
		return nil, errNoKeyForAlg
	case 1:
		return keys[0], nil
	}
	return jwt.VerificationKeySet{Keys: keys}, nil
}

// clock returns the time tokens are checked against.
func (j *JWT) clock() time.Time {
	if j.now != nil {
		return j.now()
	}
	return time.Now()
}

// Authenticate lets c in when password is a valid token for it, as JWT
// describes, and then stores the token's grants in c.Grants.
//
// A password that is not shaped like a JWT (three base64url parts, the
// first a JSON header naming an "alg"), or no password, is not for this
// authenticator: it returns ErrBadCredentials, so that a Chain asks the
// next one. A token that fails any check is refused with ErrInvalidToken
// (BadUserNameOrPassword, so a Chain asks the next authenticator too), and
// the reason is logged, without the token. When ctx is done Authenticate
// returns its error, wrapped.
func (j *JWT) Authenticate(ctx context.Context, c *broker.ClientInfo, password []byte) error {
	if !looksLikeJWT(password) {
		return ErrBadCredentials
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("auth: jwt: authenticate %q: %w", c.ClientID, err)
	}
	k := j.keys.Load()
	if k == nil {
		return ErrInvalidToken
	}
	claims := jwt.MapClaims{}
	if _, err := k.parser.ParseWithClaims(string(password), claims, k.keyFunc); err != nil {
		return j.refuse(c, err)
	}
	if err := j.bound(c, claims); err != nil {
		return j.refuse(c, err)
	}
	g, err := j.grants(claims)
	if err != nil {
		return j.refuse(c, err)
	}
	if g != nil {
		c.Grants = g
	}
	return nil
}

// refuse logs why the token of c was refused and returns ErrInvalidToken.
func (j *JWT) refuse(c *broker.ClientInfo, why error) error {
	j.log.Info("token refused", "client_id", c.ClientID, "username", c.Username, "err", why)
	return ErrInvalidToken
}

// bound checks that the claims named by UsernameClaim and ClientIDClaim
// are c's user name and client id.
func (j *JWT) bound(c *broker.ClientInfo, claims jwt.MapClaims) error {
	check := func(claim, what, want string) error {
		if claim == "" {
			return nil
		}
		got, ok := claims[claim].(string)
		switch {
		case !ok:
			return fmt.Errorf("claim %q is missing or not a string", claim)
		case want == "" || got != want:
			return fmt.Errorf("claim %q is not the client's %s", claim, what)
		}
		return nil
	}
	if err := check(j.opts.UsernameClaim, "user name", c.Username); err != nil {
		return err
	}
	return check(j.opts.ClientIDClaim, "client id", c.ClientID)
}

// grants returns the Grants of the claims "publish" and "subscribe", or
// nil when the token has neither.
func (j *JWT) grants(claims jwt.MapClaims) (*Grants, error) {
	pub, hasPub, err := stringList(claims, "publish")
	if err != nil {
		return nil, err
	}
	sub, hasSub, err := stringList(claims, "subscribe")
	if err != nil {
		return nil, err
	}
	if !hasPub && !hasSub {
		return nil, nil
	}
	return newGrants(pub, sub, j.opts.UsernameClaim != "", j.opts.ClientIDClaim != "")
}

// stringList returns the claim name as a list of strings: it must be a JSON
// array of strings when present.
func stringList(claims jwt.MapClaims, name string) (list []string, present bool, err error) {
	raw, ok := claims[name]
	if !ok {
		return nil, false, nil
	}
	arr, ok := raw.([]any)
	if !ok {
		return nil, true, fmt.Errorf("claim %q is not an array", name)
	}
	list = make([]string, len(arr))
	for i, v := range arr {
		s, ok := v.(string)
		if !ok {
			return nil, true, fmt.Errorf("claim %q: element %d is not a string", name, i)
		}
		list[i] = s
	}
	return list, true, nil
}

// looksLikeJWT reports whether p has the shape of a JWS compact
// serialization: three parts of base64url characters separated by dots,
// the first of which decodes to a JSON object with a string "alg". It
// tells tokens from passwords; it checks nothing that makes a token valid.
func looksLikeJWT(p []byte) bool {
	if bytes.Count(p, []byte{'.'}) != 2 {
		return false
	}
	for _, b := range p {
		ok := b == '.' || b == '-' || b == '_' || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9')
		if !ok {
			return false
		}
	}
	head, _, _ := bytes.Cut(p, []byte{'.'})
	raw := make([]byte, base64.RawURLEncoding.DecodedLen(len(head)))
	n, err := base64.RawURLEncoding.Decode(raw, head)
	if err != nil {
		return false
	}
	var h struct {
		Alg *string `json:"alg"`
	}
	return json.Unmarshal(raw[:n], &h) == nil && h.Alg != nil
}

// readSecret reads an HMAC secret file, without its trailing white space.
func readSecret(path string) ([]byte, error) {
	data, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	secret := bytes.TrimRight(data, " \t\r\n")
	if len(secret) == 0 {
		return nil, fmt.Errorf("auth: jwt: secret file %s is empty", path)
	}
	return secret, nil
}

// readPublicKeys reads every public key of a PEM file.
func readPublicKeys(path string) ([]crypto.PublicKey, error) {
	data, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	var keys []crypto.PublicKey
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		pk, err := parsePublicKey(block)
		if err != nil {
			return nil, fmt.Errorf("auth: jwt: public key file %s: PEM block %d: %w", path, n, err)
		}
		keys = append(keys, pk)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("auth: jwt: public key file %s: no PEM block", path)
	}
	return keys, nil
}

// parsePublicKey returns the public key of a PEM block.
func parsePublicKey(b *pem.Block) (crypto.PublicKey, error) {
	var pk any
	var err error
	switch b.Type {
	case "PUBLIC KEY":
		pk, err = x509.ParsePKIXPublicKey(b.Bytes)
	case "RSA PUBLIC KEY":
		pk, err = x509.ParsePKCS1PublicKey(b.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(b.Bytes); err == nil {
			pk = cert.PublicKey
		}
	default:
		if strings.Contains(b.Type, "PRIVATE KEY") {
			return nil, fmt.Errorf("%s: want a public key, not a private one", b.Type)
		}
		return nil, fmt.Errorf("%s: not a public key or certificate", b.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Type, err)
	}
	switch k := pk.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits, fewer than %d", k.N.BitLen(), minRSABits)
		}
	case *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("%s: unsupported key type %T", b.Type, pk)
	}
	return pk, nil
}

// readKeyFile reads a key file of at most maxKeyFileSize bytes.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: jwt: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("auth: jwt: read %s: %w", path, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("auth: jwt: %s: larger than %d bytes", path, maxKeyFileSize)
	}
	return data, nil
}
