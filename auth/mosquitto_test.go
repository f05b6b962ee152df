package auth

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	installOnce sync.Once
	installLog  string
)

// mosquittoPasswd returns the path of Mosquitto's mosquitto_passwd. When it
// is missing and the test runs as root on a machine with apt-get, it
// installs Debian's mosquitto package first. If it is still missing the test
// is skipped, or fails when CI is set.
func mosquittoPasswd(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("mosquitto_passwd"); err == nil {
		return p
	}
	installOnce.Do(func() { installLog = installMosquitto() })
	if p, err := exec.LookPath("mosquitto_passwd"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("mosquitto_passwd is not installed and could not be installed:\n%s", installLog)
	}
	t.Skipf("mosquitto_passwd is not installed (apt-get install mosquitto): %s", installLog)
	return ""
}

// installMosquitto installs Debian's mosquitto package with apt-get, when
// running as root, and returns what happened.
func installMosquitto() string {
	if os.Geteuid() != 0 {
		return "not root, so not installing"
	}
	apt, err := exec.LookPath("apt-get")
	if err != nil {
		return "no apt-get"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var log strings.Builder
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, apt, append([]string{"-o", "DPkg::Lock::Timeout=60", "-qq"}, args...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		log.WriteString("apt-get " + strings.Join(args, " ") + "\n")
		log.Write(out)
		return err
	}
	// Install from the package lists already there, and update them only
	// if that fails.
	if run("install", "-y", "--no-install-recommends", "mosquitto") != nil {
		if err := run("update"); err != nil {
			return log.String()
		}
		if err := run("install", "-y", "--no-install-recommends", "mosquitto"); err != nil {
			return log.String()
		}
	}
	return log.String()
}

// runMosquittoPasswd runs mosquitto_passwd with args.
func runMosquittoPasswd(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, mosquittoPasswd(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_passwd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
