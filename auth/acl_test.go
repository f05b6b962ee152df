package auth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/midgemq/midge/broker"
)

const matrixACL = `# Rules before the first user line are for clients without a user name.
topic read public/#
topic write public/anon-inbox

user alice
topic readwrite alice/#
topic deny alice/private/#
topic read shared/+/status

user bob
topic write sensors/+/temp
topic read sensors/#
topic deny sensors/secret/#

user root
topic #

user sysmon
topic read $SYS/broker/#

# A second section for alice adds to the first.
user alice
topic write $SYS/alice

pattern readwrite devices/%u/#
pattern write clients/%c/out
pattern read clients/%c/in/#
pattern read %c/#
pattern deny banned/%u
`

// matrixClients are the columns of the permission matrix.
var matrixClients = []struct {
	name string
	info broker.ClientInfo
}{
	{name: "anon", info: broker.ClientInfo{ClientID: "anon1"}},
	{name: "alice", info: broker.ClientInfo{Username: "alice", ClientID: "a1"}},
	{name: "bob", info: broker.ClientInfo{Username: "bob", ClientID: "b1"}},
	{name: "root", info: broker.ClientInfo{Username: "root", ClientID: "r1"}},
	{name: "sysmon", info: broker.ClientInfo{Username: "sysmon", ClientID: "m1"}},
	{name: "carol", info: broker.ClientInfo{Username: "carol", ClientID: "c1"}},
	// User names and client ids that would widen a pattern rule, or reach
	// a $ topic through it, do not get the pattern rules that use them.
	{name: "plus", info: broker.ClientInfo{Username: "+", ClientID: "p1"}},
	{name: "hash", info: broker.ClientInfo{Username: "h", ClientID: "#"}},
	{name: "slash", info: broker.ClientInfo{Username: "x/y", ClientID: "s/1"}},
	{name: "dollar", info: broker.ClientInfo{Username: "d", ClientID: "$SYS"}},
}

// TestPermissionMatrix checks, for each client, which publishes (pub) and
// subscriptions (sub) matrixACL allows, and logs the whole matrix.
func TestPermissionMatrix(t *testing.T) {
	acl, err := LoadACLFile(writeFile(t, "acl", matrixACL))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		act     broker.Action
		topic   string
		allowed string // the names of the clients allowed, space-separated
	}{
		// Anonymous rules apply only to clients without a user name.
		{act: broker.ActionSubscribe, topic: "public/#", allowed: "anon root"},
		{act: broker.ActionSubscribe, topic: "public/+/x", allowed: "anon root"},
		{act: broker.ActionSubscribe, topic: "$share/g/public/news", allowed: "anon root"},
		{act: broker.ActionPublish, topic: "public/news", allowed: "root"},
		{act: broker.ActionPublish, topic: "public/anon-inbox", allowed: "anon root"},
		// User rules; readwrite grants both.
		{act: broker.ActionPublish, topic: "alice/notes", allowed: "alice root"},
		{act: broker.ActionSubscribe, topic: "alice/notes/+", allowed: "alice root"},
		{act: broker.ActionSubscribe, topic: "$share/team/alice/notes", allowed: "alice root"},
		// Deny wins over readwrite, and refuses any subscription that could
		// receive a denied topic.
		{act: broker.ActionPublish, topic: "alice/private/diary", allowed: "root"},
		{act: broker.ActionSubscribe, topic: "alice/private/diary", allowed: "root"},
		{act: broker.ActionSubscribe, topic: "alice/#", allowed: "root"},
		{act: broker.ActionSubscribe, topic: "alice/+/diary", allowed: "root"},
		// Read covers only filters inside the rule's filter.
		{act: broker.ActionSubscribe, topic: "shared/+/status", allowed: "alice root"},
		{act: broker.ActionSubscribe, topic: "shared/kitchen/status", allowed: "alice root"},
		{act: broker.ActionSubscribe, topic: "shared/#", allowed: "root"},
		{act: broker.ActionPublish, topic: "shared/kitchen/status", allowed: "root"},
		// Write only, read only.
		{act: broker.ActionPublish, topic: "sensors/k1/temp", allowed: "bob root"},
		{act: broker.ActionSubscribe, topic: "sensors/k1/temp", allowed: "bob root"},
		{act: broker.ActionPublish, topic: "sensors/k1/humidity", allowed: "root"},
		{act: broker.ActionSubscribe, topic: "sensors/k1/#", allowed: "bob root"},
		{act: broker.ActionPublish, topic: "sensors/secret/temp", allowed: "root"},
		{act: broker.ActionSubscribe, topic: "sensors/#", allowed: "root"},
		{act: broker.ActionSubscribe, topic: "sensors/+/temp", allowed: "root"},
		// A leading wildcard does not reach $SYS [MQTT-4.7.2-1]: root's "#"
		// covers every other topic, but not these. (root may not subscribe
		// to "#" itself: it would receive banned/root, which a pattern
		// denies it.)
		{act: broker.ActionSubscribe, topic: "#", allowed: ""},
		{act: broker.ActionSubscribe, topic: "sensors/#", allowed: "root"},
		{act: broker.ActionSubscribe, topic: "+/broker/uptime", allowed: "root"},
		{act: broker.ActionSubscribe, topic: "$SYS/broker/uptime", allowed: "sysmon"},
		{act: broker.ActionSubscribe, topic: "$SYS/broker/#", allowed: "sysmon"},
		{act: broker.ActionSubscribe, topic: "$SYS/#", allowed: ""},
		{act: broker.ActionPublish, topic: "$SYS/broker/uptime", allowed: ""},
		{act: broker.ActionPublish, topic: "$SYS/alice", allowed: "alice"},
		// Pattern rules with %u apply to users, not to anonymous clients.
		{act: broker.ActionPublish, topic: "devices/alice/t", allowed: "alice root"},
		{act: broker.ActionPublish, topic: "devices/carol/t", allowed: "carol root"},
		{act: broker.ActionSubscribe, topic: "devices/carol/#", allowed: "carol root"},
		{act: broker.ActionSubscribe, topic: "devices/+/#", allowed: "root"},
		{act: broker.ActionSubscribe, topic: "devices/+/t", allowed: "root"},
		{act: broker.ActionPublish, topic: "devices/x/y/t", allowed: "root"},
		{act: broker.ActionPublish, topic: "devices//t", allowed: "root"},
		// Pattern rules with %c apply to every client, anonymous ones too.
		{act: broker.ActionPublish, topic: "clients/a1/out", allowed: "alice root"},
		{act: broker.ActionPublish, topic: "clients/anon1/out", allowed: "anon root"},
		{act: broker.ActionSubscribe, topic: "clients/anon1/out", allowed: "root"},
		{act: broker.ActionSubscribe, topic: "clients/c1/in/#", allowed: "carol root"},
		{act: broker.ActionSubscribe, topic: "clients/+/in/#", allowed: "root"},
		{act: broker.ActionSubscribe, topic: "c1/x", allowed: "carol root"},
		{act: broker.ActionSubscribe, topic: "p1/#", allowed: "plus root"},
		{act: broker.ActionSubscribe, topic: "s/1/x", allowed: "root"},
		// A client id "$SYS" does not turn "%c/#" into "$SYS/#".
		{act: broker.ActionSubscribe, topic: "$SYS/x", allowed: ""},
		// A pattern deny wins over root's "#", for root only.
		{act: broker.ActionPublish, topic: "banned/root", allowed: ""},
		{act: broker.ActionPublish, topic: "banned/alice", allowed: "root"},
		{act: broker.ActionSubscribe, topic: "banned/+", allowed: ""},
		// Invalid topics and filters are refused, even for root.
		{act: broker.ActionPublish, topic: "a/+", allowed: ""},
		{act: broker.ActionPublish, topic: "", allowed: ""},
		{act: broker.ActionSubscribe, topic: "a/#/b", allowed: ""},
		{act: broker.ActionSubscribe, topic: "$share/g", allowed: ""},
	} {
		want := strings.Fields(tc.allowed)
		var row strings.Builder
		fmt.Fprintf(&row, "%-4s %-28s", tc.act.String()[:3], tc.topic)
		for _, c := range matrixClients {
			got := acl.Authorize(context.Background(), &c.info, tc.act, tc.topic)
			mark := "."
			if got {
				mark = "Y"
			}
			if got != slices.Contains(want, c.name) {
				mark += "!"
				t.Errorf("%s %s %q = %v, want %v", c.name, tc.act, tc.topic, got, !got)
			}
			fmt.Fprintf(&row, " %-6s", mark)
		}
		t.Log(row.String())
	}
	var head strings.Builder
	fmt.Fprintf(&head, "%-4s %-28s", "", "")
	for _, c := range matrixClients {
		fmt.Fprintf(&head, " %-6s", c.name)
	}
	t.Log(head.String())
	t.Log("Y allowed, . refused, ! differs from the expected answer")
}

func TestAuthorizeUnusual(t *testing.T) {
	acl, err := LoadACLFile(writeFile(t, "acl", "topic #\n"))
	if err != nil {
		t.Fatal(err)
	}
	anon := &broker.ClientInfo{ClientID: "x"}
	if !acl.Authorize(context.Background(), anon, broker.ActionPublish, "a") {
		t.Fatal("anonymous readwrite # refused a publish")
	}
	if acl.Authorize(context.Background(), nil, broker.ActionPublish, "a") {
		t.Fatal("nil client allowed")
	}
	if acl.Authorize(context.Background(), anon, broker.Action(0), "a") {
		t.Fatal("unknown action allowed")
	}
	var zero ACL
	if zero.Authorize(context.Background(), anon, broker.ActionPublish, "a") {
		t.Fatal("zero ACL allowed a publish")
	}
	if err := zero.Reload(); err == nil {
		t.Fatal("zero ACL reloaded")
	}
	// A user with no section, or an empty one, has only the patterns.
	acl, err = LoadACLFile(writeFile(t, "acl", "user alice\nuser bob\ntopic a\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "carol"} {
		if acl.Authorize(context.Background(), &broker.ClientInfo{Username: u}, broker.ActionPublish, "a") {
			t.Fatalf("%s allowed without a rule", u)
		}
	}
	if !acl.Authorize(context.Background(), &broker.ClientInfo{Username: "bob"}, broker.ActionPublish, "a") {
		t.Fatal("bob refused")
	}
}

func TestAuthorizeDoesNotAllocate(t *testing.T) {
	acl, err := LoadACLFile(writeFile(t, "acl", matrixACL))
	if err != nil {
		t.Fatal(err)
	}
	c := &broker.ClientInfo{Username: "alice", ClientID: "a1"}
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		acl.Authorize(ctx, c, broker.ActionPublish, "devices/alice/t")
		acl.Authorize(ctx, c, broker.ActionSubscribe, "$share/g/clients/a1/in/#")
		acl.Authorize(ctx, c, broker.ActionSubscribe, "alice/#")
	})
	if allocs != 0 {
		t.Fatalf("Authorize allocates %v times per run", allocs)
	}
}

func TestACLReload(t *testing.T) {
	path := writeFile(t, "acl", "user alice\ntopic read a/#\n")
	acl, err := LoadACLFile(path)
	if err != nil {
		t.Fatal(err)
	}
	alice := &broker.ClientInfo{Username: "alice", ClientID: "a1"}
	can := func(act broker.Action, topic string) bool {
		return acl.Authorize(context.Background(), alice, act, topic)
	}
	if !can(broker.ActionSubscribe, "a/b") || can(broker.ActionPublish, "a/b") {
		t.Fatal("before reload: want read only")
	}
	if err := os.WriteFile(path, []byte("user alice\ntopic write a/#\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := acl.Reload(); err != nil {
		t.Fatal(err)
	}
	if can(broker.ActionSubscribe, "a/b") || !can(broker.ActionPublish, "a/b") {
		t.Fatal("after reload: want write only")
	}
	if err := os.WriteFile(path, []byte("user alice\ntopic write a/#/b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var pe *ParseError
	if err := acl.Reload(); !errors.As(err, &pe) || pe.Line != 2 {
		t.Fatalf("Reload of a broken file: %v", err)
	}
	if !can(broker.ActionPublish, "a/b") {
		t.Fatal("a failed reload dropped the rules")
	}
}

// TestACLConcurrentReload authorizes from several goroutines while the
// rules flip between two files; run it with -race. The rules are never
// seen half loaded.
func TestACLConcurrentReload(t *testing.T) {
	files := []string{
		"user alice\ntopic readwrite a/#\ntopic deny a/x\n",
		"user alice\ntopic readwrite b/#\ntopic deny b/x\n",
	}
	path := writeFile(t, "acl", files[0])
	acl, err := LoadACLFile(path)
	if err != nil {
		t.Fatal(err)
	}
	alice := &broker.ClientInfo{Username: "alice", ClientID: "a1"}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				// Each file denies what the other allows: only half a
				// file could allow these.
				for _, tp := range []string{"a/x", "b/x"} {
					if acl.Authorize(context.Background(), alice, broker.ActionPublish, tp) ||
						acl.Authorize(context.Background(), alice, broker.ActionSubscribe, tp) {
						t.Errorf("%s allowed", tp)
						return
					}
				}
				acl.Authorize(context.Background(), alice, broker.ActionSubscribe, "a/#")
			}
		})
	}
	for i := range 200 {
		if err := writeFileAtomic(path, []byte(files[i%2]), 0o600, nil); err != nil {
			t.Fatal(err)
		}
		if err := acl.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
}
