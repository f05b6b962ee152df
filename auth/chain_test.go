package auth

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/packet"
)

// stub is an Authenticator that returns err and counts its calls.
type stub struct {
	err   error
	calls int
}

func (s *stub) Authenticate(context.Context, *broker.ClientInfo, []byte) error {
	s.calls++
	return s.err
}

func TestChain(t *testing.T) {
	banned := &packet.ReasonError{Code: packet.Banned, Msg: "banned"}
	refusedPlain := &packet.ReasonError{Code: packet.NotAuthorized, Msg: "not mine"}
	for _, tc := range []struct {
		name  string
		errs  []error
		calls string // which stubs were called, one digit per stub
		want  error  // nil, or an error the result must match with errors.Is
		code  packet.ReasonCode
	}{
		{name: "first-accepts", errs: []error{nil, ErrBadCredentials}, calls: "10"},
		{name: "second-accepts", errs: []error{ErrBadCredentials, nil}, calls: "11"},
		{name: "anonymous-then-accept", errs: []error{ErrAnonymous, nil}, calls: "11"},
		{name: "plain-reason-refusal-continues", errs: []error{refusedPlain, nil}, calls: "11"},
		{name: "all-refuse-last-wins", errs: []error{ErrAnonymous, ErrBadCredentials}, calls: "11", want: ErrBadCredentials, code: packet.BadUserNameOrPassword},
		{name: "banned-stops", errs: []error{banned, nil}, calls: "10", want: banned, code: packet.Banned},
		{name: "io-error-stops", errs: []error{io.ErrUnexpectedEOF, nil}, calls: "10", want: io.ErrUnexpectedEOF, code: packet.NotAuthorized},
		{name: "refusal-then-error", errs: []error{ErrBadCredentials, io.EOF, nil}, calls: "110", want: io.EOF, code: packet.NotAuthorized},
		{name: "empty", errs: nil, calls: "", want: ErrNoAuthenticator, code: packet.NotAuthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stubs []*stub
			var as []broker.Authenticator
			for _, err := range tc.errs {
				s := &stub{err: err}
				stubs = append(stubs, s)
				as = append(as, s)
			}
			err := authenticate(Chain(as...), "alice", []byte("pw"))
			var calls strings.Builder
			for _, s := range stubs {
				calls.WriteByte(byte('0' + s.calls))
			}
			if calls.String() != tc.calls {
				t.Fatalf("calls %s, want %s", calls.String(), tc.calls)
			}
			if tc.want == nil && err != nil || !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if got := reasonCode(err); got != tc.code {
				t.Fatalf("reason code %v, want %v", got, tc.code)
			}
		})
	}
}

func TestChainCanceled(t *testing.T) {
	s := &stub{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Chain(s).Authenticate(ctx, &broker.ClientInfo{Username: "a"}, nil)
	if !errors.Is(err, context.Canceled) || s.calls != 0 {
		t.Fatalf("err = %v after %d calls, want context.Canceled before any", err, s.calls)
	}
}

func TestChainNilPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Chain(nil) did not panic")
		}
	}()
	Chain(&stub{}, nil)
}

// TestChainPasswordFiles chains two real password files: a user of either
// gets in, and anonymous clients get in only through the one that allows
// them.
func TestChainPasswordFiles(t *testing.T) {
	a, err := LoadPasswordFile(writeFile(t, "a", "alice:"+mustHash(t, "a-pw")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadPasswordFile(writeFile(t, "b", "bob:"+mustHash(t, "b-pw")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	ch := Chain(a, b)
	if err := authenticate(ch, "alice", []byte("a-pw")); err != nil {
		t.Fatal(err)
	}
	if err := authenticate(ch, "bob", []byte("b-pw")); err != nil {
		t.Fatal(err)
	}
	if err := authenticate(ch, "bob", []byte("a-pw")); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if err := authenticate(ch, "", nil); !errors.Is(err, ErrAnonymous) {
		t.Fatalf("anonymous: %v", err)
	}
	b.AllowAnonymous = true
	if err := authenticate(ch, "", nil); err != nil {
		t.Fatalf("anonymous allowed by the second: %v", err)
	}
}

// grantingStub sets Grants, then returns err.
type grantingStub struct {
	grants any
	err    error
}

func (s *grantingStub) Authenticate(_ context.Context, c *broker.ClientInfo, _ []byte) error {
	c.Grants = s.grants
	return s.err
}

// TestChainGrants: only the authenticator that lets the client in chooses
// its grants; one that refuses leaves none behind.
func TestChainGrants(t *testing.T) {
	c := &broker.ClientInfo{ClientID: "c1", Username: "alice"}
	err := Chain(&grantingStub{grants: "refused", err: ErrBadCredentials}, &stub{}).Authenticate(context.Background(), c, nil)
	if err != nil || c.Grants != nil {
		t.Fatalf("err %v, grants %v; want nil, nil", err, c.Grants)
	}
	err = Chain(&grantingStub{grants: "refused", err: ErrBadCredentials}, &grantingStub{grants: "accepted"}).Authenticate(context.Background(), c, nil)
	if err != nil || c.Grants != "accepted" {
		t.Fatalf("err %v, grants %v; want nil, accepted", err, c.Grants)
	}
	c.Grants = nil
	hard := &packet.ReasonError{Code: packet.ServerUnavailable}
	err = Chain(&grantingStub{grants: "failed", err: hard}).Authenticate(context.Background(), c, nil)
	if !errors.Is(err, hard) || c.Grants != nil {
		t.Fatalf("err %v, grants %v; want the hard error, nil", err, c.Grants)
	}
}
