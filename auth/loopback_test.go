package auth_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/midgemq/midge/auth"
	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/packet"
)

type strAddr string

func (a strAddr) Network() string { return "test" }
func (a strAddr) String() string  { return string(a) }

// TestLoopbackOnly lets in clients from loopback addresses only, whatever
// their credentials, and refuses the others with NotAuthorized.
func TestLoopbackOnly(t *testing.T) {
	a := auth.LoopbackOnly()
	for _, tt := range []struct {
		remote net.Addr
		in     bool
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 5000}, true},
		{&net.TCPAddr{IP: net.ParseIP("127.8.9.10"), Port: 5000}, true},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 5000}, true},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1"), Port: 5000}, true},
		{strAddr("127.0.0.1:1883"), true},
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 5000}, false},
		{&net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 5000}, false},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 5000}, false},
		{strAddr("not an address"), false},
		{nil, false},
	} {
		err := a.Authenticate(context.Background(), &broker.ClientInfo{ClientID: "c", Remote: tt.remote}, []byte("any"))
		if tt.in && err != nil {
			t.Errorf("%v: refused: %v", tt.remote, err)
		}
		var re *packet.ReasonError
		if !tt.in && (!errors.As(err, &re) || re.Code != packet.NotAuthorized) {
			t.Errorf("%v: %v, want NotAuthorized", tt.remote, err)
		}
	}
}
