package auth

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

// TestBrokerTokenGrants runs a broker with a JWT authenticator and the
// WithGrants authorizer over real sockets: the grants that Authenticate
// stores in the connection's ClientInfo reach the Authorizer for the will,
// every PUBLISH and every SUBSCRIBE.
func TestBrokerTokenGrants(t *testing.T) {
	j, err := NewJWT(JWTOptions{SecretFile: writeFile(t, "secret", testSecret), UsernameClaim: "sub",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	// A real clock: the broker runs in real time.
	now := time.Now()
	token := func(user string, extra jwt.MapClaims) []byte {
		c := jwt.MapClaims{"sub": user, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for k, v := range extra {
			c[k] = v
		}
		return []byte(sign(t, jwt.SigningMethodHS256, []byte(testSecret), c))
	}
	b := testbroker.Start(t, broker.Options{Authenticator: Chain(j), Authorizer: WithGrants(nil)})

	connect := func(user string, password []byte, will *packet.Will) (*mqtttest.Conn, packet.ReasonCode) {
		c := mqtttest.Dial(t, b.Addr, packet.V5)
		c.Send(&packet.Connect{Version: packet.V5, ClientID: "c-" + user, CleanStart: true, Will: will,
			Username: user, UsernameFlag: true, Password: password, PasswordFlag: true})
		return c, c.Expect(packet.TypeConnack).(*packet.Connack).ReasonCode
	}

	grants := jwt.MapClaims{"publish": []string{"devices/%u/up"}, "subscribe": []string{"devices/%u/down/#"}}
	alice, code := connect("alice", token("alice", grants), nil)
	if code != packet.Success {
		t.Fatalf("CONNACK %v with a valid token", code)
	}
	alice.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{
		{Filter: "devices/alice/down/#"}, {Filter: "devices/bob/down/#"}, {Filter: "#"},
	}})
	ack := alice.Expect(packet.TypeSuback).(*packet.Suback)
	want := []packet.ReasonCode{packet.GrantedQoS0, packet.NotAuthorized, packet.NotAuthorized}
	if !bytes.Equal(codes(ack.ReasonCodes), codes(want)) {
		t.Fatalf("SUBACK %v, want %v", ack.ReasonCodes, want)
	}
	alice.Send(&packet.Publish{Topic: "devices/alice/up", QoS: 1, PacketID: 2, Payload: []byte("ok")})
	if a := alice.Expect(packet.TypePuback).(*packet.Ack); a.ReasonCode != packet.Success {
		t.Fatalf("granted publish: PUBACK %v", a.ReasonCode)
	}
	alice.Send(&packet.Publish{Topic: "devices/bob/up", QoS: 1, PacketID: 3, Payload: []byte("no")})
	if a := alice.Expect(packet.TypePuback).(*packet.Ack); a.ReasonCode != packet.NotAuthorized {
		t.Fatalf("publish outside the grants: PUBACK %v, want NotAuthorized", a.ReasonCode)
	}

	// A will outside the grants refuses the CONNECT.
	will := &packet.Will{Topic: "devices/bob/up", Payload: []byte("gone")}
	if _, code := connect("carol", token("carol", grants), will); code != packet.NotAuthorized {
		t.Fatalf("will outside the grants: CONNACK %v, want NotAuthorized", code)
	}

	// [MQTT-3.1.4-2] A token that fails the checks refuses the CONNECT, and
	// the server closes the connection after the CONNACK [MQTT-3.2.2-5].
	expired := token("dave", jwt.MapClaims{"exp": now.Add(-time.Hour).Unix()})
	c, code := connect("dave", expired, nil)
	if code != packet.BadUserNameOrPassword {
		t.Fatalf("expired token: CONNACK %v, want BadUserNameOrPassword", code)
	}
	c.ExpectClosed(5 * time.Second)
	if _, code := connect("erin", token("mallory", nil), nil); code != packet.BadUserNameOrPassword {
		t.Fatalf("someone else's token: CONNACK %v, want BadUserNameOrPassword", code)
	}
}

func codes(cs []packet.ReasonCode) []byte {
	out := make([]byte, len(cs))
	for i, c := range cs {
		out[i] = byte(c)
	}
	return out
}
