package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/golang-jwt/jwt/v5"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/config"
	"github.com/midgemq/midge/internal/testbroker"
)

// writePublicKey writes the PEM public key of k to path.
func writePublicKey(t *testing.T, path string, k *ecdsa.PrivateKey) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// esToken returns an ES256 token for user, valid from now for ttl (expired
// for a negative ttl), with extra claims.
func esToken(t *testing.T, k *ecdsa.PrivateKey, user string, ttl time.Duration, extra jwt.MapClaims) string {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{"sub": user, "iss": "test-issuer", "iat": now.Add(-time.Minute).Unix(), "exp": now.Add(ttl).Unix()}
	for k, v := range extra {
		claims[k] = v
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// pahoConnect connects a Paho MQTT 3.1.1 client to addr with user and
// password, and returns it with the error of the connection attempt.
func pahoConnect(t *testing.T, addr, id, user, password string) (mqtt.Client, error) {
	t.Helper()
	o := mqtt.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID(id).
		SetUsername(user).
		SetPassword(password).
		SetProtocolVersion(4).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(5 * time.Second)
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatalf("paho %s: connect timed out", id)
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, nil
}

// pahoWait waits for a Paho token and fails the test on its error.
func pahoWait(t *testing.T, tok mqtt.Token) {
	t.Helper()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("paho: token timed out")
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("paho: %v", err)
	}
}

// TestE2ETokenAuth runs the binary with [jwt], [http_auth], a password file
// and an ACL file, and connects real Paho clients: a token's grants decide
// what its holder may do, the HTTP backend and the password file let their
// users in after it, a bad token is refused, and SIGHUP reloads the key.
func TestE2ETokenAuth(t *testing.T) {
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pubFile := filepath.Join(dir, "jwt.pem")
	writePublicKey(t, pubFile, key)

	// The HTTP backend lets bob in with grants and leaves everyone else to
	// the password file.
	var hookMu sync.Mutex
	var hookUsers []string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Username, Password string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		hookMu.Lock()
		hookUsers = append(hookUsers, req.Username)
		hookMu.Unlock()
		if req.Username == "bob" && req.Password == "builder" {
			io.WriteString(w, `{"result":"allow","grants":{"publish":["sensors/bob/#"],"subscribe":["sensors/+/temp"]}}`)
			return
		}
		io.WriteString(w, `{"result":"ignore"}`)
	}))
	defer backend.Close()

	passwd := filepath.Join(dir, "passwd")
	var sink bytes.Buffer
	if code := run([]string{"passwd", "-b", "-iterations", "1000", passwd, "carol", "c-pw"}, &sink, &sink); code != exitOK {
		t.Fatalf("passwd: %s", sink.String())
	}
	acl := filepath.Join(dir, "acl")
	os.WriteFile(acl, []byte("user carol\ntopic readwrite carol/#\n"), 0o600)

	addr := freeAddr(t)
	cfg := filepath.Join(dir, "midge.toml")
	os.WriteFile(cfg, fmt.Appendf(nil, `data_dir = %q
password_file = %q
acl_file = %q

[jwt]
public_key_file = %q
issuer = "test-issuer"

[http_auth]
url = %q
timeout = "2s"

[[listener]]
address = %q
`, filepath.Join(dir, "data"), passwd, acl, pubFile, backend.URL+"/mqtt/auth", addr), 0o600)
	p := startMidge(t, "serve", "--config", cfg)
	dialMidge(t, p, addr).Close()

	// alice's token grants her own sensors.
	grants := jwt.MapClaims{"publish": []string{"sensors/%u/#"}, "subscribe": []string{"sensors/%u/#", "alerts/+"}}
	aliceToken := esToken(t, key, "alice", time.Hour, grants)
	alice, err := pahoConnect(t, addr, "alice-1", "alice", aliceToken)
	if err != nil {
		t.Fatalf("alice with a valid token: %v", err)
	}
	got := make(chan string, 10)
	sub := alice.SubscribeMultiple(map[string]byte{"sensors/alice/#": 1, "sensors/bob/#": 1, "alerts/+": 0},
		func(_ mqtt.Client, m mqtt.Message) { got <- m.Topic() + " " + string(m.Payload()) })
	pahoWait(t, sub)
	result := sub.(*mqtt.SubscribeToken).Result()
	if result["sensors/alice/#"] != 1 || result["alerts/+"] != 0 {
		t.Fatalf("granted subscriptions: SUBACK %v", result)
	}
	// A filter outside the token's grants is refused: SUBACK return code
	// 0x80 [MQTT-3.9.3-2].
	if result["sensors/bob/#"] != 0x80 {
		t.Fatalf("subscription outside the grants: SUBACK %#x, want 0x80", result["sensors/bob/#"])
	}
	pahoWait(t, alice.Publish("sensors/alice/temp", 1, false, "21.5"))
	select {
	case m := <-got:
		if m != "sensors/alice/temp 21.5" {
			t.Fatalf("alice got %q", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("alice's granted publish was not delivered")
	}

	// bob gets in through the HTTP backend, with the backend's grants. His
	// publish to alice's sensors is outside them: acknowledged and dropped
	// (a 3.1.1 PUBACK cannot refuse), so alice never sees it.
	bob, err := pahoConnect(t, addr, "bob-1", "bob", "builder")
	if err != nil {
		t.Fatalf("bob through the http backend: %v", err)
	}
	bobSub := bob.Subscribe("sensors/+/temp", 1, nil)
	pahoWait(t, bobSub)
	if r := bobSub.(*mqtt.SubscribeToken).Result(); r["sensors/+/temp"] != 1 {
		t.Fatalf("bob's granted subscription: SUBACK %v", r)
	}
	pahoWait(t, bob.Publish("sensors/alice/temp", 1, false, "forged"))
	pahoWait(t, bob.Publish("sensors/bob/temp", 1, false, "bob"))
	pahoWait(t, alice.Publish("sensors/alice/temp", 1, false, "22.0"))
	select {
	case m := <-got:
		// bob's forged reading was dropped; alice's next one comes first.
		if m != "sensors/alice/temp 22.0" {
			t.Fatalf("alice got %q, want her own 22.0 (bob's publish outside his grants must be dropped)", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("alice's second publish was not delivered")
	}

	// carol is not the backend's (it says ignore), so the password file
	// lets her in, and the ACL file decides for her.
	carol, err := pahoConnect(t, addr, "carol-1", "carol", "c-pw")
	if err != nil {
		t.Fatalf("carol through the password file: %v", err)
	}
	cs := carol.SubscribeMultiple(map[string]byte{"carol/#": 0, "sensors/#": 0}, nil)
	pahoWait(t, cs)
	if r := cs.(*mqtt.SubscribeToken).Result(); r["carol/#"] != 0 || r["sensors/#"] != 0x80 {
		t.Fatalf("carol's SUBACK %v, want carol/# granted and sensors/# refused by the ACL", r)
	}
	hookMu.Lock()
	asked := strings.Join(hookUsers, ",")
	hookMu.Unlock()
	if asked != "bob,carol" {
		t.Fatalf("the backend was asked about %q, want bob,carol (a valid token never reaches it)", asked)
	}

	// [MQTT-3.1.4-2] A token that fails the checks refuses the CONNECT:
	// 3.1.1 return code 4, bad user name or password.
	refused := func(name, user, password string) {
		t.Helper()
		_, err := pahoConnect(t, addr, name, user, password)
		if err == nil || !errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) {
			t.Fatalf("%s: err = %v, want bad user name or password", name, err)
		}
	}
	refused("expired", "alice", esToken(t, key, "alice", -time.Hour, grants))
	refused("stolen", "mallory", aliceToken)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	refused("unknown-key", "alice", esToken(t, other, "alice", time.Hour, grants))

	// SIGHUP: the signer's new key replaces the old one.
	writePublicKey(t, pubFile, other)
	p.cmd.Process.Signal(syscall.SIGHUP)
	testbroker.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(p.stderr.String(), "jwt key file reloaded") {
			return errors.New("not reloaded yet")
		}
		return nil
	})
	if _, err := pahoConnect(t, addr, "alice-2", "alice", esToken(t, other, "alice", time.Hour, grants)); err != nil {
		t.Fatalf("token of the new key after SIGHUP: %v", err)
	}
	refused("old-key", "alice", esToken(t, key, "alice", time.Hour, grants))

	if strings.Contains(p.stderr.String(), aliceToken) || strings.Contains(p.stderr.String(), "builder") {
		t.Fatalf("a token or a password reached the log:\n%s", p.stderr.String())
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 15); code != exitOK {
		t.Fatalf("exit %d\n%s", code, p.stderr.String())
	}
}

// TestSetupAuthAnonymous: with [jwt] and no password file, allow_anonymous
// still decides whether clients without a user name get in, and a client
// with a user name needs a token.
func TestSetupAuthAnonymous(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pubFile := filepath.Join(t.TempDir(), "jwt.pem")
	writePublicKey(t, pubFile, key)
	logger := slog.New(slog.DiscardHandler)
	for _, anonymous := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow_anonymous=%v", anonymous), func(t *testing.T) {
			c := config.Defaults()
			c.JWT.PublicKeyFile = pubFile
			c.AllowAnonymous = anonymous
			var opts broker.Options
			_, stop, err := setupAuth(c, &opts, logger)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			if opts.Authenticator == nil || opts.Authorizer == nil {
				t.Fatalf("Authenticator %v, Authorizer %v: want both", opts.Authenticator, opts.Authorizer)
			}
			authn := func(user, password string) error {
				var pw []byte
				if password != "" {
					pw = []byte(password)
				}
				return opts.Authenticator.Authenticate(context.Background(), &broker.ClientInfo{ClientID: "c", Username: user}, pw)
			}
			if err := authn("", ""); (err == nil) != anonymous {
				t.Errorf("anonymous client: err = %v", err)
			}
			if err := authn("alice", "not-a-token"); err == nil {
				t.Error("a user name without a token got in")
			}
			if err := authn("alice", esToken(t, key, "alice", time.Hour, nil)); err != nil {
				t.Errorf("valid token: %v", err)
			}
			// Without an acl_file, a client without grants may do anything.
			if !opts.Authorizer.Authorize(context.Background(), &broker.ClientInfo{ClientID: "c"}, broker.ActionPublish, "a/b") {
				t.Error("no acl_file, no grants: publish refused")
			}
		})
	}
}

// TestSetupAuthNothingConfigured: with no password_file, [jwt] or
// [http_auth], allow_anonymous = false (the default) lets in only clients on
// loopback addresses, and allow_anonymous = true every client.
func TestSetupAuthNothingConfigured(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	local := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 50000}
	remote := &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 50000}
	for _, anonymous := range []bool{false, true} {
		c := config.Defaults()
		c.AllowAnonymous = anonymous
		var opts broker.Options
		_, stop, err := setupAuth(c, &opts, logger)
		if err != nil {
			t.Fatal(err)
		}
		stop()
		authn := func(a net.Addr) error {
			if opts.Authenticator == nil {
				return nil // the broker lets every client in
			}
			return opts.Authenticator.Authenticate(context.Background(), &broker.ClientInfo{ClientID: "c", Remote: a}, nil)
		}
		if err := authn(local); err != nil {
			t.Errorf("allow_anonymous=%v: loopback client refused: %v", anonymous, err)
		}
		if err := authn(remote); (err == nil) != anonymous {
			t.Errorf("allow_anonymous=%v: remote client: err = %v", anonymous, err)
		}
	}
}
