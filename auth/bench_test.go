package auth

import (
	"context"
	"fmt"
	"testing"

	"github.com/midgemq/midge/broker"
)

func BenchmarkAuthenticate(b *testing.B) {
	for _, n := range []int{101, DefaultIterations} {
		b.Run(fmt.Sprintf("iterations=%d", n), func(b *testing.B) {
			enc, err := HashPassword("pw", n)
			if err != nil {
				b.Fatal(err)
			}
			tab, err := parsePasswords("bench", []byte("alice:"+enc+"\n"))
			if err != nil {
				b.Fatal(err)
			}
			var p PasswordFile
			p.table.Store(tab)
			c := &broker.ClientInfo{Username: "alice", ClientID: "a1"}
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Authenticate(context.Background(), c, []byte("pw")); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAuthorize(b *testing.B) {
	tab, err := parseACL("bench", []byte(matrixACL))
	if err != nil {
		b.Fatal(err)
	}
	var acl ACL
	acl.table.Store(tab)
	c := &broker.ClientInfo{Username: "alice", ClientID: "a1"}
	for _, bc := range []struct {
		name string
		act  broker.Action
		tp   string
	}{
		{name: "publish/user-rule", act: broker.ActionPublish, tp: "alice/notes/today"},
		{name: "publish/pattern", act: broker.ActionPublish, tp: "devices/alice/t"},
		{name: "subscribe/covered", act: broker.ActionSubscribe, tp: "alice/notes/+"},
		{name: "subscribe/shared", act: broker.ActionSubscribe, tp: "$share/g/clients/a1/in/#"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !acl.Authorize(context.Background(), c, bc.act, bc.tp) {
					b.Fatal("refused")
				}
			}
		})
	}
}
