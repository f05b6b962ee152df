package auth

import (
	"context"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/packet"
)

// testIterations keeps the tests fast; the iteration count does not change
// what is tested.
const testIterations = 64

// writeFile writes a file in a new temporary directory and returns its path.
func writeFile(t *testing.T, name, contents string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(contents), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// mustHash returns the $7$ hash of password.
func mustHash(t testing.TB, password string) string {
	t.Helper()
	enc, err := HashPassword(password, testIterations)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// reasonCode returns the reason code that the broker would answer err with.
func reasonCode(err error) packet.ReasonCode {
	if err == nil {
		return packet.Success
	}
	var re *packet.ReasonError
	if errors.As(err, &re) {
		return re.Code
	}
	return packet.NotAuthorized
}

func authenticate(a broker.Authenticator, user string, password []byte) error {
	return a.Authenticate(context.Background(), &broker.ClientInfo{ClientID: "c1", Username: user}, password)
}

func TestAuthenticate(t *testing.T) {
	salt := "c2FsdHNhbHRzYWx0"
	file := "# users\n" +
		"alice:" + mustHash(t, "alice-pw") + "\n" +
		"\n" +
		"bob:" + mustHash(t, "") + "\r\n" +
		"carol:$6$" + salt + "$" + sha512Base64("carol-pw", "saltsaltsalt") + "   \n"
	p, err := LoadPasswordFile(writeFile(t, "passwd", file))
	if err != nil {
		t.Fatal(err)
	}
	if p.Len() != 3 {
		t.Fatalf("Len = %d, want 3", p.Len())
	}
	for _, tc := range []struct {
		name      string
		anonymous bool
		user      string
		password  []byte
		want      error
		code      packet.ReasonCode
	}{
		{name: "right-password", user: "alice", password: []byte("alice-pw")},
		{name: "wrong-password", user: "alice", password: []byte("alice-pw2"), want: ErrBadCredentials, code: packet.BadUserNameOrPassword},
		{name: "no-password", user: "alice", password: nil, want: ErrBadCredentials, code: packet.BadUserNameOrPassword},
		{name: "empty-password-stored", user: "bob", password: []byte{}},
		{name: "empty-password-stored-none-sent", user: "bob", password: nil, want: ErrBadCredentials, code: packet.BadUserNameOrPassword},
		{name: "sha512-scheme", user: "carol", password: []byte("carol-pw")},
		{name: "sha512-scheme-wrong", user: "carol", password: []byte("alice-pw"), want: ErrBadCredentials, code: packet.BadUserNameOrPassword},
		{name: "unknown-user", user: "mallory", password: []byte("alice-pw"), want: ErrBadCredentials, code: packet.BadUserNameOrPassword},
		{name: "user-name-case", user: "Alice", password: []byte("alice-pw"), want: ErrBadCredentials, code: packet.BadUserNameOrPassword},
		{name: "anonymous-refused", user: "", password: nil, want: ErrAnonymous, code: packet.NotAuthorized},
		{name: "anonymous-refused-with-password", user: "", password: []byte("alice-pw"), want: ErrAnonymous, code: packet.NotAuthorized},
		{name: "anonymous-allowed", anonymous: true, user: ""},
		{name: "anonymous-allowed-unknown-user", anonymous: true, user: "mallory", password: []byte("x"), want: ErrBadCredentials, code: packet.BadUserNameOrPassword},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.AllowAnonymous = tc.anonymous
			err := authenticate(p, tc.user, tc.password)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("Authenticate(%q, %q) = %v, want %v", tc.user, tc.password, err, tc.want)
			}
			if got := reasonCode(err); got != tc.code {
				t.Fatalf("reason code %v, want %v", got, tc.code)
			}
		})
	}
}

// sha512Base64 returns the base64 SHA-512 of password followed by salt,
// the hash of Mosquitto's $6$ lines.
func sha512Base64(password, salt string) string {
	sum := sha512.Sum512([]byte(password + salt))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func TestAuthenticateZeroAndCanceled(t *testing.T) {
	var zero PasswordFile
	if err := authenticate(&zero, "alice", []byte("x")); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("zero PasswordFile: %v", err)
	}
	if err := zero.Reload(); err == nil {
		t.Fatal("zero PasswordFile reloaded")
	}
	p, err := LoadPasswordFile(writeFile(t, "passwd", "alice:"+mustHash(t, "pw")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = p.Authenticate(ctx, &broker.ClientInfo{Username: "alice"}, []byte("pw"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled context: %v", err)
	}
}

func TestLoadPasswordFileErrors(t *testing.T) {
	key := strings.Repeat("A", 86) + "=="
	for _, tc := range []struct {
		name     string
		contents string
		line     int
		msg      string
	}{
		{name: "no-colon", contents: "# c\nalice\n", line: 2, msg: "not a user:hash line"},
		{name: "empty-user", contents: ":$7$101$c2FsdA==$" + key + "\n", line: 1, msg: "empty user name"},
		{name: "plain-text-password", contents: "alice:secret\n", line: 1, msg: "unknown password hash scheme"},
		{name: "empty-hash", contents: "\n\nalice:\n", line: 3, msg: "unknown password hash scheme"},
		{name: "bad-iterations", contents: "alice:$7$x$c2FsdA==$" + key + "\n", line: 1, msg: "iteration count"},
		{name: "bad-salt", contents: "alice:$7$101$%%%%$" + key, line: 1, msg: "salt"},
		{name: "short-key", contents: "alice:$7$101$c2FsdA==$c2FsdA==\n", line: 1, msg: "hash is not 64 bytes"},
		{name: "duplicate", contents: "alice:" + mustHash(t, "a") + "\nbob:" + mustHash(t, "b") + "\nalice:" + mustHash(t, "c") + "\n", line: 3, msg: `user "alice" is also on line 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "passwd", tc.contents)
			_, err := LoadPasswordFile(path)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *ParseError", err)
			}
			if pe.File != path || pe.Line != tc.line {
				t.Fatalf("error at %s:%d, want %s:%d", pe.File, pe.Line, path, tc.line)
			}
			prefix := fmt.Sprintf("auth: %s:%d: ", path, tc.line)
			if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tc.msg) {
				t.Fatalf("error %q, want prefix %q and %q", msg, prefix, tc.msg)
			}
		})
	}
	if _, err := LoadPasswordFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestReload(t *testing.T) {
	path := writeFile(t, "passwd", "alice:"+mustHash(t, "old")+"\n")
	p, err := LoadPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := SetPassword(path, "alice", "new", testIterations); err != nil {
		t.Fatal(err)
	}
	if err := SetPassword(path, "bob", "bob-pw", testIterations); err != nil {
		t.Fatal(err)
	}
	if err := authenticate(p, "alice", []byte("old")); err != nil {
		t.Fatalf("before Reload, the old password: %v", err)
	}
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := authenticate(p, "alice", []byte("new")); err != nil {
		t.Fatalf("after Reload, the new password: %v", err)
	}
	if err := authenticate(p, "bob", []byte("bob-pw")); err != nil {
		t.Fatalf("after Reload, the new user: %v", err)
	}
	// A broken file is refused and the loaded users stay.
	if err := os.WriteFile(path, []byte("alice:plain\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var pe *ParseError
	if err := p.Reload(); !errors.As(err, &pe) || pe.Line != 1 {
		t.Fatalf("Reload of a broken file: %v", err)
	}
	if err := authenticate(p, "alice", []byte("new")); err != nil {
		t.Fatalf("after a failed Reload: %v", err)
	}
	os.Remove(path)
	if err := p.Reload(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Reload of a removed file: %v", err)
	}
	if p.Len() != 2 {
		t.Fatalf("Len = %d after failed reloads, want 2", p.Len())
	}
}

func TestSetAndDeletePassword(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "passwd")
	if err := SetPassword(path, "alice", "a1", testIterations); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("new file mode %v, want 0600", info.Mode().Perm())
	}
	// Comments and other users stay where they are; a changed user keeps
	// its line.
	data, _ := os.ReadFile(path)
	contents := "# managed by hand\n" + string(data) + "\n# bob below\nbob:" + mustHash(t, "b1")
	if err := os.WriteFile(path, []byte(contents), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := SetPassword(path, "alice", "a2", testIterations); err != nil {
		t.Fatal(err)
	}
	if err := SetPassword(path, "carol", "c1", testIterations); err != nil {
		t.Fatal(err)
	}
	got := users(t, path)
	if want := "# managed by hand|alice|(blank)|# bob below|bob|carol"; got != want {
		t.Fatalf("lines %s, want %s", got, want)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v after edit, want 0640 kept", info.Mode().Perm())
	}
	p, err := LoadPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for user, pw := range map[string]string{"alice": "a2", "bob": "b1", "carol": "c1"} {
		if err := authenticate(p, user, []byte(pw)); err != nil {
			t.Fatalf("%s: %v", user, err)
		}
	}
	if err := authenticate(p, "alice", []byte("a1")); err == nil {
		t.Fatal("alice's old password still works")
	}

	if err := DeletePassword(path, "bob"); err != nil {
		t.Fatal(err)
	}
	if got, want := users(t, path), "# managed by hand|alice|(blank)|# bob below|carol"; got != want {
		t.Fatalf("after delete: %s, want %s", got, want)
	}
	if err := DeletePassword(path, "bob"); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("deleting a missing user: %v", err)
	}
	if err := DeletePassword(filepath.Join(dir, "none"), "bob"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("deleting from a missing file: %v", err)
	}
	// No temporary file is left behind.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the password file", len(entries))
	}
}

// users returns the user names of the file's lines, comments as written,
// joined with '|'.
func users(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, raw := range lines(data) {
		l, _ := splitPasswordLine(raw)
		switch {
		case l.user != "":
			out = append(out, l.user)
		case raw == "":
			out = append(out, "(blank)")
		default:
			out = append(out, raw)
		}
	}
	return strings.Join(out, "|")
}

func TestSetPasswordRefuses(t *testing.T) {
	path := writeFile(t, "passwd", "")
	for _, user := range []string{"", "a:b", "a\nb", "a\rb", "#alice", " alice", "alice ", "a\x00b"} {
		if err := SetPassword(path, user, "pw", testIterations); !errors.Is(err, ErrInvalidUsername) {
			t.Errorf("SetPassword(%q) = %v, want ErrInvalidUsername", user, err)
		}
	}
	if err := SetPassword(path, "alice", "pw", MaxIterations+1); !errors.Is(err, ErrIterations) {
		t.Errorf("too many iterations: %v", err)
	}
	// A malformed file is not rewritten.
	broken := writeFile(t, "passwd", "alice:plain\n")
	var pe *ParseError
	if err := SetPassword(broken, "bob", "pw", testIterations); !errors.As(err, &pe) {
		t.Fatalf("SetPassword on a broken file: %v", err)
	}
	if data, _ := os.ReadFile(broken); string(data) != "alice:plain\n" {
		t.Fatalf("broken file rewritten: %q", data)
	}
}

func TestSetPasswordThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	link := filepath.Join(dir, "link")
	if err := os.WriteFile(real, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, link); err != nil {
		t.Skip("no symbolic links:", err)
	}
	if err := SetPassword(link, "alice", "pw", testIterations); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v", err)
	}
	if got := users(t, real); got != "alice" {
		t.Fatalf("real file holds %q", got)
	}
}

// TestMosquittoPasswd checks that files made by Mosquitto's own tool load
// unchanged and verify.
func TestMosquittoPasswd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	runMosquittoPasswd(t, "-b", "-c", path, "alice", "alice-pw")
	runMosquittoPasswd(t, "-b", path, "bob", "bøb pw:$#")
	data, _ := os.ReadFile(path)
	t.Logf("mosquitto_passwd wrote:\n%s", data)
	p, err := LoadPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, password string
		ok             bool
	}{
		{user: "alice", password: "alice-pw", ok: true},
		{user: "bob", password: "bøb pw:$#", ok: true},
		{user: "alice", password: "bøb pw:$#"},
		{user: "bob", password: "bob"},
	} {
		err := authenticate(p, tc.user, []byte(tc.password))
		if (err == nil) != tc.ok {
			t.Errorf("%s/%q: err = %v, want ok %v", tc.user, tc.password, err, tc.ok)
		}
	}
	// Midge can edit Mosquitto's file and keep its users.
	if err := SetPassword(path, "carol", "carol-pw", testIterations); err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := authenticate(p, "alice", []byte("alice-pw")); err != nil {
		t.Fatalf("alice after Midge's edit: %v", err)
	}
	t.Run("sha512", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "passwd")
		runMosquittoPasswd(t, "-H", "sha512", "-b", "-c", path, "dave", "dave-pw")
		data, _ := os.ReadFile(path)
		if !strings.Contains(string(data), ":$6$") {
			t.Skipf("mosquitto_passwd -H sha512 wrote %q", data)
		}
		p, err := LoadPasswordFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := authenticate(p, "dave", []byte("dave-pw")); err != nil {
			t.Fatal(err)
		}
	})
}

// TestConcurrentReload authenticates from several goroutines while the
// file is rewritten and reloaded; run it with -race. Every answer must be
// one that the old or the new file gives.
func TestConcurrentReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	if err := SetPassword(path, "alice", "pw0", 1); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 40
	var version atomic.Int32
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Passwords pw<n> are set in order, so a check against
				// the version that was current just before must pass
				// against it or a later one.
				v := version.Load()
				ok := false
				for n := v; n <= v+1 && n < rounds; n++ {
					if authenticate(p, "alice", fmt.Appendf(nil, "pw%d", n)) == nil {
						ok = true
						break
					}
				}
				if !ok && version.Load() == v {
					t.Errorf("goroutine %d: alice refused with pw%d and pw%d", g, v, v+1)
					return
				}
				if err := authenticate(p, "mallory", []byte("pw0")); !errors.Is(err, ErrBadCredentials) {
					t.Errorf("mallory: %v", err)
					return
				}
			}
		})
	}
	for n := 1; n < rounds; n++ {
		if err := SetPassword(path, "alice", fmt.Sprintf("pw%d", n), 1); err != nil {
			t.Fatal(err)
		}
		if err := p.Reload(); err != nil {
			t.Fatal(err)
		}
		version.Store(int32(n))
	}
	close(stop)
	wg.Wait()
}

// TestHashingBounded keeps one password hash per core running and checks
// that another CONNECT waits for a turn, and is refused with ErrBusy
// (ServerUnavailable) when its context ends first.
func TestHashingBounded(t *testing.T) {
	h, err := HashPassword("secret", 100_000)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(path, []byte("alice:"+h+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	busy := cap(p.hashing)
	var wg sync.WaitGroup
	for range busy {
		wg.Go(func() {
			if err := p.Authenticate(context.Background(), &broker.ClientInfo{Username: "alice"}, []byte("secret")); err != nil {
				t.Error(err)
			}
		})
	}
	// Wait until every turn is taken.
	for len(p.hashing) < busy {
		runtime.Gosched()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err = p.Authenticate(ctx, &broker.ClientInfo{Username: "alice"}, []byte("secret"))
	var re *packet.ReasonError
	if !errors.Is(err, ErrBusy) || !errors.As(err, &re) || re.Code != packet.ServerUnavailable {
		t.Fatalf("with %d hashes running: %v, want ErrBusy with ServerUnavailable", busy, err)
	}
	wg.Wait()
	// With the turns free again the same client gets in.
	if err := p.Authenticate(context.Background(), &broker.ClientInfo{Username: "alice"}, []byte("secret")); err != nil {
		t.Fatal(err)
	}
}
