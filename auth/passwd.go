package auth

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/midgemq/midge/broker"
)

var _ broker.Authenticator = (*PasswordFile)(nil)

// PasswordFile is a broker.Authenticator that checks user names and
// passwords against a password file of "username:hash" lines (see the
// package documentation for the format).
//
// Authenticate may be called from many goroutines at once, also while
// Reload runs. The zero PasswordFile has no users and no file: it refuses
// every client that sends a user name.
type PasswordFile struct {
	// AllowAnonymous lets clients in that send no user name (their password,
	// if any, is ignored). When it is false, the default, they are refused
	// with ErrAnonymous. A client that sends a user name that is not in the
	// file is refused either way. Set it before the broker starts: it is not
	// safe to change while Authenticate may run.
	AllowAnonymous bool

	path string

	// reloadMu serializes Reload, so that a slow reload cannot replace the
	// table of a later one.
	reloadMu sync.Mutex
	// hashing holds a token for each password hash running.
	hashing chan struct{}
	// table is the parsed file. Authenticate loads it without a lock;
	// Reload replaces it whole.
	table atomic.Pointer[passwordTable]
}

// passwordTable is one parse of a password file. It is never changed after
// parsePasswords returns it.
type passwordTable struct {
	users map[string]*passwordHash
	// dummy is verified for unknown users, so that they take about as long
	// to refuse as a wrong password does; nil when the file has no users.
	dummy *passwordHash
}

// LoadPasswordFile reads and parses the password file at path. A malformed
// line returns a *ParseError that names the file and the line.
func LoadPasswordFile(path string) (*PasswordFile, error) {
	t, err := readPasswordFile(path)
	if err != nil {
		return nil, err
	}
	p := &PasswordFile{path: path, hashing: make(chan struct{}, runtime.GOMAXPROCS(0))}
	p.table.Store(t)
	return p, nil
}

// Path returns the path the file was loaded from.
func (p *PasswordFile) Path() string { return p.path }

// Len returns the number of users in the file as last loaded.
func (p *PasswordFile) Len() int {
	if t := p.table.Load(); t != nil {
		return len(t.users)
	}
	return 0
}

// Reload reads the file again and, if it parses, replaces the users all at
// once: every Authenticate call sees either the old file or the new one. On
// error the old users stay in force. It is meant to be called on SIGHUP.
func (p *PasswordFile) Reload() error {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	if p.path == "" {
		return fmt.Errorf("auth: reload password file: %w", os.ErrInvalid)
	}
	t, err := readPasswordFile(p.path)
	if err != nil {
		return err
	}
	p.table.Store(t)
	return nil
}

// Authenticate lets c in when its user name is in the file and password
// matches the user's hash. A client without a user name is let in only when
// AllowAnonymous is set, and is otherwise refused with ErrAnonymous
// (NotAuthorized). An unknown user, a missing password or a wrong one is
// refused with ErrBadCredentials (BadUserNameOrPassword); both are
// *packet.ReasonError values for errors.As. Any other error (ctx is done,
// the hash function failed) is wrapped with the user name and refuses the
// client with NotAuthorized.
func (p *PasswordFile) Authenticate(ctx context.Context, c *broker.ClientInfo, password []byte) error {
	if c.Username == "" {
		if p.AllowAnonymous {
			return nil
		}
		return ErrAnonymous
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("auth: authenticate %q: %w", c.Username, err)
	}
	t := p.table.Load()
	if t == nil {
		return ErrBadCredentials
	}
	h, known := t.users[c.Username]
	if !known {
		h = t.dummy
		if h == nil {
			return ErrBadCredentials
		}
	}
	// A missing password is still hashed, so that it takes as long to
	// refuse as a wrong one. At most one hash per core runs at once: a
	// flood of CONNECTs waits its turn instead of taking every core from
	// the clients already in.
	select {
	case p.hashing <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("auth: authenticate %q: %w (%w)", c.Username, ErrBusy, ctx.Err())
	}
	ok, err := h.verify(password)
	<-p.hashing
	if err != nil {
		return fmt.Errorf("auth: authenticate %q: %w", c.Username, err)
	}
	if !known || !ok || password == nil {
		return ErrBadCredentials
	}
	return nil
}

// readPasswordFile reads and parses the password file at path.
func readPasswordFile(path string) (*passwordTable, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: load password file: %w", err)
	}
	return parsePasswords(path, data)
}

// passwordLine is one line of a password file, split for parsing and
// editing.
type passwordLine struct {
	// raw is the line as read, without its line break.
	raw string
	// user and hash are set for a user's line; both are empty for a blank
	// line or a comment.
	user, hash string
}

// splitPasswordLine splits one line of a password file. Trailing white
// space (and a CR) is dropped; blank lines and lines whose first character
// is '#' are comments. ok is false for a line that is neither a comment nor
// "user:hash" with a non-empty user.
func splitPasswordLine(raw string) (l passwordLine, ok bool) {
	l.raw = raw
	s := strings.TrimRight(raw, " \t\r")
	if s == "" || s[0] == '#' {
		return l, true
	}
	user, hash, found := strings.Cut(s, ":")
	if !found || user == "" {
		return l, false
	}
	l.user, l.hash = user, hash
	return l, true
}

// lines splits data into lines without their line breaks; a final line
// break does not start another line.
func lines(data []byte) []string {
	s := strings.TrimSuffix(string(data), "\n")
	if s == "" && len(data) <= 1 {
		return nil
	}
	return strings.Split(s, "\n")
}

// parsePasswords parses the contents of a password file; name is used in
// errors.
func parsePasswords(name string, data []byte) (*passwordTable, error) {
	t := &passwordTable{users: make(map[string]*passwordHash)}
	firstLine := make(map[string]int)
	type params struct {
		scheme     byte
		iterations int
	}
	count := make(map[params]int)
	for i, raw := range lines(data) {
		l, ok := splitPasswordLine(raw)
		if !ok {
			if strings.HasPrefix(raw, ":") {
				return nil, &ParseError{File: name, Line: i + 1, Msg: "empty user name"}
			}
			return nil, &ParseError{File: name, Line: i + 1, Msg: "not a user:hash line"}
		}
		if l.user == "" {
			continue
		}
		if first, dup := firstLine[l.user]; dup {
			return nil, &ParseError{File: name, Line: i + 1, Msg: fmt.Sprintf("user %q is also on line %d", l.user, first)}
		}
		h, err := parseHash(l.hash)
		if err != nil {
			return nil, &ParseError{File: name, Line: i + 1, Msg: fmt.Sprintf("user %q", l.user), Err: err}
		}
		t.users[l.user] = h
		firstLine[l.user] = i + 1
		count[params{h.scheme, h.iterations}]++
	}
	// The dummy hash has the parameters most users have, so that an
	// unknown user costs what a typical known one does.
	var best params
	for p, n := range count {
		if n > count[best] || (n == count[best] && p.iterations > best.iterations) {
			best = p
		}
	}
	if len(t.users) > 0 {
		salt := make([]byte, saltLen)
		key := make([]byte, keyLen)
		t.dummy = &passwordHash{scheme: best.scheme, iterations: best.iterations, salt: salt, key: key}
	}
	return t, nil
}
