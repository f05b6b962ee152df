package auth_test

// The permission matrices below run against a live broker over real
// sockets: each cell is what a client was actually let do, seen from the
// outside (acknowledgements, a watcher that may read everything, retained
// messages arriving or not, wills published or not), compared with what
// the configuration is meant to allow. TestPermissionMatrix (acl_test.go)
// asks the ACL directly; these check that the broker asks it at every
// door and acts on the answer.

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/midgemq/midge/auth"
	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/internal/testbroker"
	"github.com/midgemq/midge/packet"
	"github.com/midgemq/midge/topic"
)

// matrixACLFile has a rule of every kind: general rules before the first
// user line (for clients without a user name), user sections with read,
// write, readwrite (also by default, without a keyword) and deny, wildcards
// + and #, a $SYS rule, and pattern rules with %u and %c.
const matrixACLFile = `# Clients without a user name.
topic read public/#
topic write upload/anon

user alice
topic readwrite alice/#
topic deny alice/secret
topic write sensors/+/temp

user bob
topic read sensors/#
topic deny sensors/secret/#

user sysmon
topic read $SYS/#

user root
topic readwrite #
topic $SYS/matrix/#

pattern readwrite devices/%u/#
pattern readwrite inbox/%c/#
`

// TestBrokerPermissionMatrix runs a broker with a password file and
// matrixACLFile and checks, for each client and operation, which topics it
// may use. mallory's client id "+" would turn "inbox/%c/#" into
// "inbox/+/#", everyone's inboxes: the pattern does not apply to it.
func TestBrokerPermissionMatrix(t *testing.T) {
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	users := []string{"alice", "bob", "carol", "mallory", "sysmon", "root"}
	for _, u := range users {
		// Few iterations: each of the about 170 CONNECTs of a user here
		// checks a password.
		if err := auth.SetPassword(passwd, u, u+"-secret", 64); err != nil {
			t.Fatal(err)
		}
	}
	pf, err := auth.LoadPasswordFile(passwd)
	if err != nil {
		t.Fatal(err)
	}
	pf.AllowAnonymous = true
	acl, err := auth.LoadACLFile(writeMatrixFile(t, dir, "acl", matrixACLFile))
	if err != nil {
		t.Fatal(err)
	}
	b := testbroker.Start(t, broker.Options{Authenticator: pf, Authorizer: acl})

	client := func(name, clientID string) matrixClient {
		return matrixClient{name: name, username: name, clientID: clientID,
			password: func(string) []byte { return []byte(name + "-secret") }}
	}
	m := &liveMatrix{
		t:    t,
		addr: b.Addr,
		root: client("root", "root-1"),
		clients: []matrixClient{
			{name: "anon", clientID: "anon-1"},
			client("alice", "alice-1"),
			client("bob", "bob-1"),
			client("carol", "carol-1"),
			client("mallory", "+"),
			client("sysmon", "sysmon-1"),
			client("root", "root-1"),
		},
		columns: []matrixColumn{
			{topic: "public/news", rule: "general: topic read public/#", write: "root", read: "anon root"},
			{topic: "upload/anon", rule: "general: topic write upload/anon", write: "anon root", read: "root"},
			{topic: "alice/notes", rule: "alice: topic readwrite alice/#", write: "alice root", read: "alice root"},
			{topic: "alice/secret", rule: "alice: topic deny alice/secret", write: "root", read: "root"},
			{topic: "sensors/k1/temp", rule: "alice: topic write sensors/+/temp; bob: topic read sensors/#",
				write: "alice root", read: "bob root"},
			{topic: "sensors/secret/temp", rule: "bob: topic deny sensors/secret/#", write: "alice root", read: "root"},
			{topic: "devices/carol/up", rule: "pattern readwrite devices/%u/#", write: "carol root", read: "carol root"},
			{topic: "inbox/carol-1/x", rule: "pattern readwrite inbox/%c/#", write: "carol root", read: "carol root"},
			{topic: "$SYS/matrix/status", rule: "sysmon: topic read $SYS/#; root: topic $SYS/matrix/#",
				write: "root", read: "sysmon root"},
			// Filters: a subscription needs one rule that covers it and no
			// deny rule that could match a topic it matches.
			{topic: "alice/#", rule: "alice's deny refuses the whole filter", read: "root"},
			{topic: "sensors/#", rule: "bob's deny refuses the whole filter", read: "root"},
			{topic: "inbox/+/#", rule: "client id + does not widen inbox/%c/#", read: "root"},
			{topic: "#", rule: "root: topic readwrite # (no $ topics [MQTT-4.7.2-1])", read: "root"},
		},
	}
	m.run()
}

// TestBrokerGrantsMatrix runs a broker whose clients log in with JSON Web
// Tokens: tokens with "publish" and "subscribe" claims are authorized by
// their grants alone (auth.WithGrants), and the other clients (a token
// without grants, anonymous clients) by the ACL it wraps. Tokens name the
// client id ("cid"), so %c grants apply, but not to mallory's "+".
func TestBrokerGrantsMatrix(t *testing.T) {
	dir := t.TempDir()
	secret := strings.Repeat("matrix-hmac-key!", 4)
	j, err := auth.NewJWT(auth.JWTOptions{SecretFile: writeMatrixFile(t, dir, "secret", secret),
		UsernameClaim: "sub", ClientIDClaim: "cid", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	pf, err := auth.LoadPasswordFile(writeMatrixFile(t, dir, "passwd", ""))
	if err != nil {
		t.Fatal(err)
	}
	pf.AllowAnonymous = true
	acl, err := auth.LoadACLFile(writeMatrixFile(t, dir, "acl",
		"topic read fleet/#\n\nuser grace\ntopic readwrite fleet/#\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := testbroker.Start(t, broker.Options{Authenticator: auth.Chain(j, pf), Authorizer: auth.WithGrants(acl)})

	// client makes a client whose token carries the claims in grants (none
	// when nil) and names the connection's client id.
	client := func(name, clientID string, grants jwt.MapClaims) matrixClient {
		return matrixClient{name: name, username: name, clientID: clientID, password: func(cid string) []byte {
			now := time.Now()
			claims := jwt.MapClaims{"sub": name, "cid": cid, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
			for k, v := range grants {
				claims[k] = v
			}
			s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
			if err != nil {
				t.Fatal(err)
			}
			return []byte(s)
		}}
	}
	inboxGrants := jwt.MapClaims{"publish": []string{"clients/%c/out"}, "subscribe": []string{"clients/%c/in/#"}}
	m := &liveMatrix{
		t:    t,
		addr: b.Addr,
		root: client("root", "root-1", jwt.MapClaims{"publish": []string{"#", "$SYS/#"}, "subscribe": []string{"#", "$SYS/#"}}),
		clients: []matrixClient{
			{name: "anon", clientID: "anon-1"},
			client("dave", "dave-1", jwt.MapClaims{
				"publish":   []string{"devices/%u/up", "fleet/+/status"},
				"subscribe": []string{"devices/%u/cmd/#", "fleet/#"},
			}),
			client("erin", "erin-1", inboxGrants),
			client("mallory", "+", inboxGrants),
			client("grace", "grace-1", nil),
		},
		columns: []matrixColumn{
			{topic: "devices/dave/up", rule: "dave: publish devices/%u/up", write: "dave root", read: "root"},
			{topic: "devices/dave/cmd/reboot", rule: "dave: subscribe devices/%u/cmd/#", write: "root", read: "dave root"},
			{topic: "devices/erin/up", rule: "%u is dave's own name only", write: "root", read: "root"},
			{topic: "fleet/7/status", rule: "dave: grants; grace, anon: the ACL (no grants in their token)",
				write: "dave grace root", read: "dave grace anon root"},
			{topic: "clients/erin-1/out", rule: "erin: publish clients/%c/out", write: "erin root", read: "root"},
			{topic: "clients/erin-1/in/x", rule: "erin: subscribe clients/%c/in/#", write: "root", read: "erin root"},
			{topic: "$SYS/matrix/jwt", rule: "root: $SYS/# (# does not reach it)", write: "root", read: "root"},
			{topic: "fleet/#", rule: "covered by one grant or rule", read: "dave grace anon root"},
			{topic: "devices/+/up", rule: "devices/%u/up does not cover +", read: "root"},
			{topic: "clients/+/in/#", rule: "client id + does not widen clients/%c/in/#", read: "root"},
			{topic: "#", rule: "root: subscribe #", read: "root"},
		},
	}
	m.run()
}

// writeMatrixFile writes contents to the file name in dir.
func writeMatrixFile(t *testing.T, dir, name, contents string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(contents), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// matrixClient is a client of a live permission matrix: one group of rows.
type matrixClient struct {
	name     string
	username string // "" connects without a user name
	clientID string
	// password returns the password of a connection with the client id
	// cid; nil sends none.
	password func(cid string) []byte
}

// matrixColumn is a column of a live permission matrix: a topic name, or a
// filter (it holds a wildcard) that only the subscribe and retained rows
// use.
type matrixColumn struct {
	topic string
	// rule says what the column exercises, for the legend.
	rule string
	// write and read are the names of the clients expected to be allowed
	// to publish to the topic and to subscribe to it, space-separated.
	write, read string
}

// isFilter reports whether the column is a filter rather than a topic name.
func (col matrixColumn) isFilter() bool { return strings.ContainsAny(col.topic, "+#") }

// The marks of a matrix cell; a cell that differs from the expected answer
// gets a "!" too.
const (
	markAllowed = "allow"
	markDenied  = "deny"
	markNone    = "-"
)

// syncTopic carries the markers that tell the watcher it has seen
// everything routed before them.
const syncTopic = "matrix/sync"

// liveMatrix runs every operation of every client against a broker with
// the configuration under test. root may do everything the columns hold:
// one connection of it sets a retained message on every topic column before
// the rows run, and another, the watcher, subscribes to every topic column
// and sees what the rows publish.
type liveMatrix struct {
	t       *testing.T
	addr    string
	root    matrixClient
	clients []matrixClient
	columns []matrixColumn

	setter, watcher *mqtttest.Conn
	syncs           int
	// rows are the printed rows, label and cells.
	rows [][]string
}

// run sets the stage, runs every row and logs the table.
func (m *liveMatrix) run() {
	m.setter = m.mustConnect(m.root, "matrix-set")
	for i, col := range m.columns {
		if col.isFilter() {
			continue
		}
		m.setter.Send(&packet.Publish{Topic: col.topic, QoS: 1, Retain: true, PacketID: uint16(i + 1),
			Payload: []byte(retainedPayload(col.topic))})
		if a := m.setter.Expect(packet.TypePuback).(*packet.Ack); a.ReasonCode.IsError() {
			m.t.Fatalf("root's retained message on %s: PUBACK %v", col.topic, a.ReasonCode)
		}
	}
	m.watcher = m.mustConnect(m.root, "matrix-watch")
	// Retain Handling 2: the watcher gets only what is published from now
	// on [MQTT-3.3.1-11]; QoS 0 keeps everything it gets in routing order.
	subs := []packet.Subscription{{Filter: syncTopic, RetainHandling: 2}}
	for _, col := range m.columns {
		if !col.isFilter() {
			subs = append(subs, packet.Subscription{Filter: col.topic, RetainHandling: 2})
		}
	}
	m.watcher.Send(&packet.Subscribe{PacketID: 1, Subscriptions: subs})
	for i, code := range m.watcher.Expect(packet.TypeSuback).(*packet.Suback).ReasonCodes {
		if code != packet.GrantedQoS0 {
			m.t.Fatalf("the watcher may not subscribe to %s: %v", subs[i].Filter, code)
		}
	}

	for _, c := range m.clients {
		for _, v := range []packet.Version{packet.V311, packet.V5} {
			m.publishRow(c, v, 0)
			m.publishRow(c, v, 1)
		}
		m.subscribeRows(c, packet.V311)
		m.subscribeRows(c, packet.V5)
		m.willRow(c, packet.V311)
		m.willRow(c, packet.V5)
	}
	// Nothing is left on its way to the watcher.
	m.watcher.ExpectNothing(200 * time.Millisecond)
	m.t.Log(m.table())
}

// retainedPayload is the payload of root's retained message on name.
func retainedPayload(name string) string { return "retained on " + name }

// connectPacket is the CONNECT of c, speaking v, with the client id cid and
// the will w (nil for none).
func connectPacket(c matrixClient, cid string, v packet.Version, w *packet.Will) *packet.Connect {
	p := &packet.Connect{Version: v, ClientID: cid, CleanStart: true, Will: w}
	if c.username != "" {
		p.Username, p.UsernameFlag = c.username, true
	}
	if c.password != nil {
		p.Password, p.PasswordFlag = c.password(cid), true
	}
	return p
}

// mustConnect connects c over 5.0 with the client id cid.
func (m *liveMatrix) mustConnect(c matrixClient, cid string) *mqtttest.Conn {
	m.t.Helper()
	conn, _ := mqtttest.Connect(m.t, m.addr, packet.V5, connectPacket(c, cid, packet.V5, nil))
	return conn
}

// sync returns what the watcher received since the last sync, as "topic
// payload" strings. root publishes a marker, and the marker comes after
// everything routed to the watcher before it: the broker routes each
// PUBLISH before it reads the next packet of its connection, and a
// subscriber gets its QoS 0 messages in the order they were routed.
func (m *liveMatrix) sync() []string {
	m.t.Helper()
	m.syncs++
	marker := fmt.Sprintf("sync %d", m.syncs)
	m.setter.Send(&packet.Publish{Topic: syncTopic, Payload: []byte(marker)})
	var got []string
	for {
		p := m.watcher.Expect(packet.TypePublish).(*packet.Publish)
		if p.Topic == syncTopic && string(p.Payload) == marker {
			return got
		}
		got = append(got, p.Topic+" "+string(p.Payload))
	}
}

// take removes want from got and reports whether it was there.
func take(got *[]string, want string) bool {
	i := slices.Index(*got, want)
	if i < 0 {
		return false
	}
	*got = slices.Delete(*got, i, i+1)
	return true
}

// mark returns the cell for what a client was seen to do, and reports an
// error when allowed differs from whether the client is among the names in
// want.
func (m *liveMatrix) mark(c matrixClient, op string, col matrixColumn, want string, allowed bool) string {
	m.t.Helper()
	s := markDenied
	if allowed {
		s = markAllowed
	}
	if allowed != slices.Contains(strings.Fields(want), c.name) {
		m.t.Errorf("%s %s %s: %s, want the opposite (%s)", c.name, op, col.topic, s, col.rule)
		s += "!"
	}
	return s
}

// publishRow publishes to every topic column at qos, speaking v, and checks
// which of the messages the watcher gets, and for 5.0 QoS 1 that the
// PUBACK says the same: Success, or Not authorized (0x87), a PUBACK reason
// code [MQTT-3.4.2-1]. 3.1.1 cannot refuse a PUBLISH: the broker
// acknowledges it and drops it (3.1.1 [MQTT-3.3.5-2]).
func (m *liveMatrix) publishRow(c matrixClient, v packet.Version, qos byte) {
	op := fmt.Sprintf("pub %s qos%d", v, qos)
	conn, _ := mqtttest.Connect(m.t, m.addr, v, connectPacket(c, c.clientID, v, nil))
	acks := make([]packet.ReasonCode, len(m.columns))
	for i, col := range m.columns {
		if col.isFilter() {
			continue
		}
		p := &packet.Publish{Topic: col.topic, QoS: qos, Payload: []byte(c.name + " " + op)}
		if qos > 0 {
			p.PacketID = uint16(i + 1)
		}
		conn.Send(p)
		if qos > 0 {
			a := conn.Expect(packet.TypePuback).(*packet.Ack)
			if a.PacketID != p.PacketID {
				m.t.Fatalf("%s %s %s: PUBACK for packet %d, want %d", c.name, op, col.topic, a.PacketID, p.PacketID)
			}
			acks[i] = a.ReasonCode
		}
	}
	// The PINGRESP comes once everything before the PINGREQ is handled.
	conn.Send(&packet.Pingreq{})
	conn.Expect(packet.TypePingresp)
	conn.Send(&packet.Disconnect{})
	conn.Close()

	seen := m.sync()
	row := []string{c.name + " " + op}
	for i, col := range m.columns {
		if col.isFilter() {
			row = append(row, markNone)
			continue
		}
		delivered := take(&seen, col.topic+" "+c.name+" "+op)
		if qos > 0 {
			code := acks[i]
			ackAllowed := code == packet.Success || code == packet.NoMatchingSubscribers
			switch {
			case v == packet.V311 && code != packet.Success:
				m.t.Errorf("%s %s %s: 3.1.1 PUBACK %v", c.name, op, col.topic, code)
			case v == packet.V5 && !ackAllowed && code != packet.NotAuthorized:
				m.t.Errorf("%s %s %s: PUBACK %v, want Success or NotAuthorized", c.name, op, col.topic, code)
			case v == packet.V5 && ackAllowed != delivered:
				m.t.Errorf("%s %s %s: PUBACK %v, but the watcher got the message: %v", c.name, op, col.topic, code, delivered)
			}
		}
		row = append(row, m.mark(c, op, col, col.write, delivered))
	}
	for _, s := range seen {
		m.t.Errorf("%s %s: the watcher got the unexpected %q", c.name, op, s)
	}
	m.rows = append(m.rows, row)
}

// subscribeRows subscribes to every column in turn, speaking v, and checks
// the SUBACK (granted QoS 0; refused with Not authorized 0x87 in 5.0
// [MQTT-3.9.3-2], Failure 0x80 in 3.1.1, which has no other refusal) and
// the retained messages that follow it [MQTT-3.3.1-9]: root's retained
// message of every topic the filter matches when it is granted, none when
// it is refused. Every retained message that arrives must be on a topic the
// client may read: a filter granted must not carry the message of a topic
// that the client may not read.
func (m *liveMatrix) subscribeRows(c matrixClient, v packet.Version) {
	subOp, retOp := "sub "+v.String(), "retained "+v.String()
	conn, _ := mqtttest.Connect(m.t, m.addr, v, connectPacket(c, c.clientID, v, nil))
	codes := make([]packet.ReasonCode, len(m.columns))
	retained := make([][]*packet.Publish, len(m.columns))
	// The retained messages of a subscription are sent after its SUBACK
	// and before the SUBACK of the next SUBSCRIBE: one more SUBSCRIBE after
	// the last column marks the end of its retained messages.
	for i := 0; i <= len(m.columns); i++ {
		filter := syncTopic
		if i < len(m.columns) {
			filter = m.columns[i].topic
		}
		id := uint16(i + 1)
		conn.Send(&packet.Subscribe{PacketID: id, Subscriptions: []packet.Subscription{{Filter: filter}}})
		var before []*packet.Publish
		for {
			p, err := conn.Read(mqtttest.DefaultTimeout)
			if err != nil {
				m.t.Fatalf("%s %s %s: waiting for SUBACK: %v", c.name, subOp, filter, err)
			}
			if pub, ok := p.(*packet.Publish); ok {
				before = append(before, pub)
				continue
			}
			ack, ok := p.(*packet.Suback)
			if !ok || ack.PacketID != id || len(ack.ReasonCodes) != 1 {
				m.t.Fatalf("%s %s %s: got %s %+v, want the SUBACK of packet %d", c.name, subOp, filter, p.Type(), p, id)
			}
			if i < len(m.columns) {
				codes[i] = ack.ReasonCodes[0]
			}
			break
		}
		if i == 0 && len(before) > 0 {
			m.t.Fatalf("%s %s: %d messages before the first SUBACK", c.name, subOp, len(before))
		}
		if i > 0 {
			retained[i-1] = before
		}
	}
	conn.Send(&packet.Disconnect{})
	conn.Close()

	subRow, retRow := []string{c.name + " " + subOp}, []string{c.name + " " + retOp}
	for i, col := range m.columns {
		code := codes[i]
		refusal := packet.NotAuthorized
		if v != packet.V5 {
			refusal = packet.UnspecifiedError // 0x80, Failure
		}
		granted := code == packet.GrantedQoS0
		if !granted && code != refusal {
			m.t.Errorf("%s %s %s: SUBACK %v, want GrantedQoS0 or %v", c.name, subOp, col.topic, code, refusal)
		}
		subRow = append(subRow, m.mark(c, subOp, col, col.read, granted))

		var got, want []string
		for _, p := range retained[i] {
			got = append(got, p.Topic)
			if !p.Retain || string(p.Payload) != retainedPayload(p.Topic) {
				m.t.Errorf("%s %s %s: got %q on %s with RETAIN %v, want root's retained message",
					c.name, retOp, col.topic, p.Payload, p.Topic, p.Retain)
			}
			if !m.mayRead(c, p.Topic) {
				m.t.Errorf("%s %s %s: got the retained message of %s, which it may not read",
					c.name, retOp, col.topic, p.Topic)
			}
		}
		if granted {
			for _, other := range m.columns {
				if !other.isFilter() && topic.Match(col.topic, other.topic) {
					want = append(want, other.topic)
				}
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			m.t.Errorf("%s %s %s: retained messages of %q, want %q", c.name, retOp, col.topic, got, want)
		}
		retRow = append(retRow, m.mark(c, retOp, col, col.read, len(got) > 0))
	}
	m.rows = append(m.rows, subRow, retRow)
}

// mayRead reports whether the configuration means c to read name, a topic
// column.
func (m *liveMatrix) mayRead(c matrixClient, name string) bool {
	for _, col := range m.columns {
		if col.topic == name {
			return slices.Contains(strings.Fields(col.read), c.name)
		}
	}
	return false
}

// willRow connects once per topic column with a will on it, speaking v.
// The broker refuses a CONNECT whose will topic the client may not publish
// to, with Not authorized (0x87; return code 5 in 3.1.1), and closes the
// connection [MQTT-3.1.4-2] [MQTT-3.2.2-7]. An accepted connection is then
// killed, without DISCONNECT, and its will must be published
// [MQTT-3.1.2-8].
func (m *liveMatrix) willRow(c matrixClient, v packet.Version) {
	op := "will " + v.String()
	row := []string{c.name + " " + op}
	for _, col := range m.columns {
		if col.isFilter() {
			row = append(row, markNone)
			continue
		}
		payload := c.name + " " + op
		conn := mqtttest.Dial(m.t, m.addr, v)
		conn.Send(connectPacket(c, c.clientID, v, &packet.Will{Topic: col.topic, Payload: []byte(payload)}))
		published := false
		switch code := conn.Expect(packet.TypeConnack).(*packet.Connack).ReasonCode; code {
		case packet.Success:
			conn.Close()
			if published = m.awaitWill(col.topic, payload); !published {
				m.t.Errorf("%s %s %s: CONNECT accepted, but no will within %s", c.name, op, col.topic, mqtttest.DefaultTimeout)
			}
		case packet.NotAuthorized:
			conn.ExpectClosed(mqtttest.DefaultTimeout)
		default:
			m.t.Errorf("%s %s %s: CONNACK %v, want Success or NotAuthorized", c.name, op, col.topic, code)
			conn.Close()
		}
		row = append(row, m.mark(c, op, col, col.write, published))
	}
	for _, s := range m.sync() {
		m.t.Errorf("%s %s: the watcher got the unexpected %q", c.name, op, s)
	}
	m.rows = append(m.rows, row)
}

// awaitWill reads the watcher until the will payload on name arrives, and
// reports whether it did within mqtttest.DefaultTimeout. Anything else that
// arrives meanwhile is an error.
func (m *liveMatrix) awaitWill(name, payload string) bool {
	m.t.Helper()
	deadline := time.Now().Add(mqtttest.DefaultTimeout)
	for {
		p, err := m.watcher.Read(time.Until(deadline))
		if err != nil {
			return false
		}
		pub, ok := p.(*packet.Publish)
		if !ok {
			m.t.Fatalf("the watcher got %s %+v", p.Type(), p)
		}
		if pub.Topic == name && string(pub.Payload) == payload {
			return true
		}
		m.t.Errorf("waiting for the will on %s, the watcher got the unexpected %q on %s", name, pub.Payload, pub.Topic)
	}
}

// table formats the matrix: a row per client and operation, a column per
// topic (numbered, with a legend), and in each cell whether the client was
// allowed.
func (m *liveMatrix) table() string {
	var b strings.Builder
	const labelWidth, cellWidth = 26, 7
	fmt.Fprintf(&b, "\n%-*s", labelWidth, "client operation")
	for i := range m.columns {
		fmt.Fprintf(&b, "%-*s", cellWidth, fmt.Sprintf("t%d", i+1))
	}
	b.WriteString("\n")
	for _, row := range m.rows {
		fmt.Fprintf(&b, "%-*s", labelWidth, row[0])
		for _, cell := range row[1:] {
			fmt.Fprintf(&b, "%-*s", cellWidth, cell)
		}
		b.WriteString("\n")
	}
	for i, col := range m.columns {
		fmt.Fprintf(&b, "t%-3d %-24s %s\n", i+1, col.topic, col.rule)
	}
	b.WriteString("allow: allowed, deny: denied, -: not a topic name, !: differs from the expected answer")
	return b.String()
}
