package auth_test

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha512"
	"encoding/base64"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/midgemq/midge/auth"
	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

// scramClient is the client side of SCRAM-SHA-512, written from RFC 5802.
type scramClient struct {
	user, password, nonce string
	first, serverFirst    string
	salted                []byte
}

func (s *scramClient) clientFirst() string {
	s.first = "n=" + s.user + ",r=" + s.nonce
	return "n,," + s.first
}

func hmac512(key []byte, msg string) []byte {
	m := hmac.New(sha512.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func (s *scramClient) clientFinal(t *testing.T, serverFirst string) (final, authMessage string) {
	t.Helper()
	s.serverFirst = serverFirst
	attrs := map[string]string{}
	for _, a := range strings.Split(serverFirst, ",") {
		attrs[a[:1]] = a[2:]
	}
	if !strings.HasPrefix(attrs["r"], s.nonce) {
		t.Fatalf("server nonce %q does not extend ours", attrs["r"])
	}
	salt, _ := base64.StdEncoding.DecodeString(attrs["s"])
	iter, _ := strconv.Atoi(attrs["i"])
	s.salted, _ = pbkdf2.Key(sha512.New, s.password, salt, iter, sha512.Size)
	without := "c=" + base64.StdEncoding.EncodeToString([]byte("n,,")) + ",r=" + attrs["r"]
	authMessage = s.first + "," + serverFirst + "," + without
	clientKey := hmac512(s.salted, "Client Key")
	stored := sha512.Sum512(clientKey)
	sig := hmac512(stored[:], authMessage)
	for i := range clientKey {
		clientKey[i] ^= sig[i]
	}
	return without + ",p=" + base64.StdEncoding.EncodeToString(clientKey), authMessage
}

// TestSCRAM logs in with MQTT 5.0 enhanced authentication, SCRAM-SHA-512,
// against a password file: CONNECT, AUTH 0x18 both ways, CONNACK with the
// server's signature, which the client checks (section 4.12); a wrong
// password and an unknown user are refused with Not authorized
// [MQTT-4.12.0-4].
func TestSCRAM(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	if err := auth.SetPassword(file, "alice", "wonder", 4096); err != nil {
		t.Fatal(err)
	}
	pf, err := auth.LoadPasswordFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b := testbroker.Start(t, broker.Options{Authenticator: pf, EnhancedAuth: []broker.EnhancedAuthenticator{pf.SCRAM()}})
	login := func(user, password string) (*packet.Connack, *scramClient, string) {
		c := mqtttest.Dial(t, b.Addr, packet.V5)
		t.Cleanup(c.Close)
		sc := &scramClient{user: user, password: password, nonce: "fyko+d2lbbFgONRv9qkxdawL"}
		con := &packet.Connect{Version: packet.V5, ClientID: "scram-" + user, CleanStart: true}
		con.Properties.AuthenticationMethod = auth.SCRAMMethod
		con.Properties.AuthenticationData = []byte(sc.clientFirst())
		c.Send(con)
		a := c.Expect(packet.TypeAuth).(*packet.Auth)
		if a.ReasonCode != packet.ContinueAuthentication || a.Properties.AuthenticationMethod != auth.SCRAMMethod {
			t.Fatalf("AUTH %v %q", a.ReasonCode, a.Properties.AuthenticationMethod)
		}
		final, authMessage := sc.clientFinal(t, string(a.Properties.AuthenticationData))
		reply := &packet.Auth{ReasonCode: packet.ContinueAuthentication}
		reply.Properties.AuthenticationMethod, reply.Properties.AuthenticationData = auth.SCRAMMethod, []byte(final)
		c.Send(reply)
		ack := c.Expect(packet.TypeConnack).(*packet.Connack)
		if ack.ReasonCode != packet.Success {
			c.ExpectClosed(2 * time.Second)
		}
		return ack, sc, authMessage
	}
	ack, sc, authMessage := login("alice", "wonder")
	if ack.ReasonCode != packet.Success {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	want := "v=" + base64.StdEncoding.EncodeToString(hmac512(hmac512(sc.salted, "Server Key"), authMessage))
	if string(ack.Properties.AuthenticationData) != want || ack.Properties.AuthenticationMethod != auth.SCRAMMethod {
		t.Fatalf("server-final %q, want %q", ack.Properties.AuthenticationData, want)
	}
	if cs, ok := b.Client("scram-alice"); !ok || cs.Username != "alice" {
		t.Fatalf("session user %+v", cs)
	}
	for _, tt := range [][2]string{{"alice", "wrong"}, {"mallory", "x"}} {
		if ack, _, _ := login(tt[0], tt[1]); ack.ReasonCode != packet.NotAuthorized {
			t.Fatalf("%s/%s: CONNACK %v, want NotAuthorized", tt[0], tt[1], ack.ReasonCode)
		}
	}
}

// TestSCRAMReauthentication re-authenticates a SCRAM-SHA-512 client after
// CONNACK with AUTH 0x19 [MQTT-4.12.1-1]: it passes while the password
// stands, and once the password file has changed, the old password fails
// and the broker ends the connection with DISCONNECT 0x87
// [MQTT-4.12.1-2].
func TestSCRAMReauthentication(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	if err := auth.SetPassword(file, "alice", "wonder", 4096); err != nil {
		t.Fatal(err)
	}
	pf, err := auth.LoadPasswordFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b := testbroker.Start(t, broker.Options{Authenticator: pf, EnhancedAuth: []broker.EnhancedAuthenticator{pf.SCRAM()}})
	// exchange runs SCRAM from first (CONNECT or AUTH 0x19) to the server's
	// final answer, which it returns.
	exchange := func(c *mqtttest.Conn, first packet.Packet, sc *scramClient) packet.Packet {
		c.Send(first)
		a := c.Expect(packet.TypeAuth).(*packet.Auth)
		final, _ := sc.clientFinal(t, string(a.Properties.AuthenticationData))
		reply := &packet.Auth{ReasonCode: packet.ContinueAuthentication}
		reply.Properties.AuthenticationMethod, reply.Properties.AuthenticationData = auth.SCRAMMethod, []byte(final)
		c.Send(reply)
		p, err := c.Read(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	reauth := func(sc *scramClient) *packet.Auth {
		a := &packet.Auth{ReasonCode: packet.ReAuthenticate}
		a.Properties.AuthenticationMethod, a.Properties.AuthenticationData = auth.SCRAMMethod, []byte(sc.clientFirst())
		return a
	}

	c := mqtttest.Dial(t, b.Addr, packet.V5)
	sc := &scramClient{user: "alice", password: "wonder", nonce: "rOprNGfwEbeRWgbNEkqO"}
	con := &packet.Connect{Version: packet.V5, ClientID: "scram-reauth", CleanStart: true}
	con.Properties.AuthenticationMethod = auth.SCRAMMethod
	con.Properties.AuthenticationData = []byte(sc.clientFirst())
	if ack, ok := exchange(c, con, sc).(*packet.Connack); !ok || ack.ReasonCode != packet.Success {
		t.Fatalf("login: %+v", ack)
	}
	sc = &scramClient{user: "alice", password: "wonder", nonce: "second-nonce-1234"}
	if a, ok := exchange(c, reauth(sc), sc).(*packet.Auth); !ok || a.ReasonCode != packet.Success {
		t.Fatalf("re-authentication: %+v, want AUTH Success", a)
	}

	if err := auth.SetPassword(file, "alice", "changed", 4096); err != nil {
		t.Fatal(err)
	}
	if err := pf.Reload(); err != nil {
		t.Fatal(err)
	}
	sc = &scramClient{user: "alice", password: "wonder", nonce: "third-nonce-5678"}
	d, ok := exchange(c, reauth(sc), sc).(*packet.Disconnect)
	if !ok || d.ReasonCode != packet.NotAuthorized {
		t.Fatalf("re-authentication with the old password: %+v, want DISCONNECT NotAuthorized", d)
	}
	c.ExpectClosed(2 * time.Second)
}
