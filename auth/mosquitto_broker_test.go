package auth

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMosquittoReadsOurFile: a password file that SetPassword writes is
// one that Mosquitto's own broker accepts, so files go both ways.
func TestMosquittoReadsOurFile(t *testing.T) {
	mosquittoPasswd(t) // installs mosquitto when it can, or skips
	broker, err := exec.LookPath("mosquitto")
	if err != nil {
		if broker, err = exec.LookPath("/usr/sbin/mosquitto"); err != nil {
			t.Skip("mosquitto broker not installed")
		}
	}
	pub, err := exec.LookPath("mosquitto_pub")
	if err != nil {
		t.Skip("mosquitto_pub not installed")
	}
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	if err := SetPassword(passwd, "alice", "wonder", 1000); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := filepath.Join(dir, "mosquitto.conf")
	// Run as the test's user, so that Mosquitto (which drops root for its
	// own user) can read the test's files.
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(conf, fmt.Appendf(nil, "user %s\nlistener %d 127.0.0.1\nallow_anonymous false\npassword_file %s\n",
		me.Username, port, passwd), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, broker, "-c", conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	publish := func(pass string) error {
		var err error
		for range 50 { // until the broker listens
			c := exec.CommandContext(ctx, pub, "-h", "127.0.0.1", "-p", fmt.Sprint(port), "-u", "alice", "-P", pass, "-t", "t", "-m", "m")
			out, e := c.CombinedOutput()
			if err = e; err == nil {
				return nil
			}
			if !bytesContains(out, "refused") || bytesContains(out, "not authorised") || bytesContains(out, "Not authorized") {
				return fmt.Errorf("%w: %s", err, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
		return err
	}
	if err := publish("wonder"); err != nil {
		t.Fatalf("mosquitto refused the password SetPassword wrote: %v", err)
	}
	if err := publish("wrong"); err == nil {
		t.Fatal("mosquitto accepted a wrong password")
	}
}

func bytesContains(b []byte, s string) bool { return strings.Contains(string(b), s) }
