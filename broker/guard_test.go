package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
)

// onePassword lets in the clients that give the password "good".
type onePassword struct{}

func (onePassword) Authenticate(_ context.Context, _ *broker.ClientInfo, password []byte) error {
	if string(password) != "good" {
		return &packet.ReasonError{Code: packet.BadUserNameOrPassword, Msg: "wrong password"}
	}
	return nil
}

// TestAuthBan: an address that fails authentication AuthFailureLimit times
// is refused with Banned, even with the right password, until the ban ends.
func TestAuthBan(t *testing.T) {
	b := testbroker.Start(t, broker.Options{Authenticator: onePassword{}, AuthFailureLimit: 3, AuthBanTime: 500 * time.Millisecond})
	try := func(password string) packet.ReasonCode {
		c := mqtttest.Dial(t, b.Addr, packet.V5)
		defer c.Close()
		c.Send(&packet.Connect{Version: packet.V5, ClientID: "g", CleanStart: true,
			UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte(password)})
		return c.Expect(packet.TypeConnack).(*packet.Connack).ReasonCode
	}
	if code := try("good"); code != packet.Success {
		t.Fatalf("right password: %v", code)
	}
	for range 3 {
		if code := try("bad"); code != packet.BadUserNameOrPassword {
			t.Fatalf("wrong password: %v", code)
		}
	}
	if code := try("good"); code != packet.Banned {
		t.Fatalf("right password while banned: %v, want Banned", code)
	}
	if n := b.Stats().Dropped["banned"]; n != 1 {
		t.Fatalf("banned drops = %d", n)
	}
	testbroker.Eventually(t, 5*time.Second, func() error {
		if try("good") != packet.Success {
			return errNotYet
		}
		return nil
	})
}

// TestAuthFailureDelay: failed logins from one address are refused ever
// more slowly before the ban: the n-th failure in a row waits at least
// (n-1) × 100 ms. (Lower bounds only: a slow machine cannot make it fail.)
func TestAuthFailureDelay(t *testing.T) {
	b := testbroker.Start(t, broker.Options{Authenticator: onePassword{}, AuthFailureLimit: 10, AuthBanTime: time.Minute})
	for n := 1; n <= 4; n++ {
		c := mqtttest.Dial(t, b.Addr, packet.V311)
		start := time.Now()
		c.Send(&packet.Connect{Version: packet.V311, ClientID: "slow", CleanStart: true,
			UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("bad")})
		if code := c.Expect(packet.TypeConnack).(*packet.Connack).ReasonCode; code != packet.BadUserNameOrPassword {
			t.Fatalf("failure %d: CONNACK %v", n, code)
		}
		if took, least := time.Since(start), time.Duration(n-1)*100*time.Millisecond; took < least {
			t.Fatalf("failure %d answered after %s, want at least %s", n, took, least)
		}
		c.Close()
	}
}
