package broker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

// challengeMethod is a two-step enhanced authentication method for tests:
// the client names itself ("user"), the broker answers with a challenge,
// and the client proves it knows the user's secret by answering
// "secret:challenge". Every exchange gets a new challenge.
type challengeMethod struct {
	secrets map[string]string
	n       int
}

func (*challengeMethod) Method() string { return "TEST-CHALLENGE" }

func (m *challengeMethod) Begin(_ context.Context, c *broker.ClientInfo) broker.AuthExchange {
	m.n++ // exchanges begin on connection goroutines, one at a time in these tests
	return &challengeExchange{m: m, c: c, challenge: "c" + strings.Repeat("x", m.n)}
}

type challengeExchange struct {
	m         *challengeMethod
	c         *broker.ClientInfo
	user      string
	challenge string
	step      int
}

func (x *challengeExchange) Step(data []byte) ([]byte, bool, error) {
	x.step++
	switch x.step {
	case 1:
		x.user = string(data)
		return []byte(x.challenge), false, nil
	case 2:
		secret, ok := x.m.secrets[x.user]
		if !ok || string(data) != secret+":"+x.challenge {
			return nil, false, errors.New("wrong answer")
		}
		x.c.Username = x.user
		return []byte("welcome " + x.user), true, nil
	}
	return nil, false, errors.New("too many steps")
}

// challengeLogin connects with TEST-CHALLENGE as user.
func challengeLogin(t *testing.T, addr, user, secret string) *mqtttest.Conn {
	t.Helper()
	c := mqtttest.Dial(t, addr, packet.V5)
	con := &packet.Connect{Version: packet.V5, ClientID: "reauth-" + user, CleanStart: true, KeepAlive: 60}
	con.Properties.AuthenticationMethod = "TEST-CHALLENGE"
	con.Properties.AuthenticationData = []byte(user)
	c.Send(con)
	a := c.Expect(packet.TypeAuth).(*packet.Auth)
	c.Send(authPacket(packet.ContinueAuthentication, "TEST-CHALLENGE", secret+":"+string(a.Properties.AuthenticationData)))
	if ack := c.Expect(packet.TypeConnack).(*packet.Connack); ack.ReasonCode != packet.Success {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	return c
}

func authPacket(code packet.ReasonCode, method, data string) *packet.Auth {
	a := &packet.Auth{ReasonCode: code}
	a.Properties.AuthenticationMethod, a.Properties.AuthenticationData = method, []byte(data)
	return a
}

// expectDisconnect reads until the broker closes c and checks that it sent
// a DISCONNECT with code first.
func expectDisconnect(t *testing.T, c *mqtttest.Conn, code packet.ReasonCode) {
	t.Helper()
	got := c.ExpectClosed(2 * time.Second)
	for _, p := range got {
		if d, ok := p.(*packet.Disconnect); ok {
			if d.ReasonCode != code {
				t.Fatalf("DISCONNECT %v, want %v", d.ReasonCode, code)
			}
			return
		}
	}
	t.Fatalf("closed without DISCONNECT %v (got %d packets)", code, len(got))
}

// TestReauthentication: a client that logged in with an enhanced
// authentication method authenticates again after CONNACK with AUTH 0x19
// and the same method, its other packets flowing meanwhile
// [MQTT-4.12.1-1]; the broker answers AUTH 0x18 while more is needed and
// AUTH 0x00 when done. A failed re-authentication ends the connection with
// DISCONNECT and the reason [MQTT-4.12.1-2]; so does proving another
// identity. A client that logged in without a method may send no AUTH
// [MQTT-4.12.0-7], and the method stays the same [MQTT-4.12.0-5].
func TestReauthentication(t *testing.T) {
	m := &challengeMethod{secrets: map[string]string{"alice": "a-secret", "bob": "b-secret"}}
	b := testbroker.Start(t, broker.Options{EnhancedAuth: []broker.EnhancedAuthenticator{m}})

	t.Run("success", func(t *testing.T) {
		c := challengeLogin(t, b.Addr, "alice", "a-secret")
		c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "reauth/ok", QoS: 1}}})
		c.Expect(packet.TypeSuback)
		for round := range 2 {
			c.Send(authPacket(packet.ReAuthenticate, "TEST-CHALLENGE", "alice"))
			a := c.Expect(packet.TypeAuth).(*packet.Auth)
			if a.ReasonCode != packet.ContinueAuthentication || a.Properties.AuthenticationMethod != "TEST-CHALLENGE" {
				t.Fatalf("round %d: AUTH %v %q, want ContinueAuthentication", round, a.ReasonCode, a.Properties.AuthenticationMethod)
			}
			// Other packets flow during the exchange.
			c.Send(&packet.Publish{Topic: "reauth/ok", QoS: 1, PacketID: uint16(10 + round), Payload: []byte("during")})
			var acked, delivered bool
			for range 2 {
				p, err := c.Read(2 * time.Second)
				if err != nil {
					t.Fatal(err)
				}
				switch p := p.(type) {
				case *packet.Ack:
					acked = p.Kind == packet.TypePuback
				case *packet.Publish:
					delivered = true
					c.Send(&packet.Ack{Kind: packet.TypePuback, PacketID: p.PacketID})
				}
			}
			if !acked || !delivered {
				t.Fatalf("round %d: during re-authentication: PUBACK %v, PUBLISH %v", round, acked, delivered)
			}
			c.Send(authPacket(packet.ContinueAuthentication, "TEST-CHALLENGE", "a-secret:"+string(a.Properties.AuthenticationData)))
			a = c.Expect(packet.TypeAuth).(*packet.Auth)
			if a.ReasonCode != packet.Success || string(a.Properties.AuthenticationData) != "welcome alice" {
				t.Fatalf("round %d: AUTH %v %q, want Success", round, a.ReasonCode, a.Properties.AuthenticationData)
			}
		}
		c.Send(&packet.Pingreq{})
		c.Expect(packet.TypePingresp)
		if cs, ok := b.Client("reauth-alice"); !ok || !cs.Connected || cs.Username != "alice" {
			t.Fatalf("session after re-authentication: %+v", cs)
		}
	})

	refused := []struct {
		name string
		send func(c *mqtttest.Conn)
		code packet.ReasonCode
	}{
		{"wrong answer", func(c *mqtttest.Conn) {
			c.Send(authPacket(packet.ReAuthenticate, "TEST-CHALLENGE", "alice"))
			c.Expect(packet.TypeAuth)
			c.Send(authPacket(packet.ContinueAuthentication, "TEST-CHALLENGE", "a-secret:guess"))
		}, packet.NotAuthorized},
		{"another identity", func(c *mqtttest.Conn) {
			c.Send(authPacket(packet.ReAuthenticate, "TEST-CHALLENGE", "bob"))
			a := c.Expect(packet.TypeAuth).(*packet.Auth)
			c.Send(authPacket(packet.ContinueAuthentication, "TEST-CHALLENGE", "b-secret:"+string(a.Properties.AuthenticationData)))
		}, packet.NotAuthorized},
		{"another method", func(c *mqtttest.Conn) {
			c.Send(authPacket(packet.ReAuthenticate, "SCRAM-SHA-512", "n,,n=alice,r=x"))
		}, packet.ProtocolError},
		{"continue before re-authenticate", func(c *mqtttest.Conn) {
			c.Send(authPacket(packet.ContinueAuthentication, "TEST-CHALLENGE", "x"))
		}, packet.ProtocolError},
		{"re-authenticate twice", func(c *mqtttest.Conn) {
			c.Send(authPacket(packet.ReAuthenticate, "TEST-CHALLENGE", "alice"))
			c.Expect(packet.TypeAuth)
			c.Send(authPacket(packet.ReAuthenticate, "TEST-CHALLENGE", "alice"))
		}, packet.ProtocolError},
		{"success code from the client", func(c *mqtttest.Conn) {
			c.Send(authPacket(packet.Success, "TEST-CHALLENGE", ""))
		}, packet.ProtocolError},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			c := challengeLogin(t, b.Addr, "alice", "a-secret")
			tt.send(c)
			expectDisconnect(t, c, tt.code)
		})
	}

	t.Run("no method at CONNECT", func(t *testing.T) {
		c, ack := mqtttest.Connect(t, b.Addr, packet.V5, &packet.Connect{ClientID: "reauth-plain", CleanStart: true})
		if ack.Properties.AuthenticationMethod != "" {
			t.Fatalf("CONNACK names method %q to a client that gave none [MQTT-4.12.0-6]", ack.Properties.AuthenticationMethod)
		}
		c.Send(authPacket(packet.ReAuthenticate, "TEST-CHALLENGE", "alice"))
		expectDisconnect(t, c, packet.ProtocolError)
	})
}
