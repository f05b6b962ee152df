package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestDockerfileBuildsStaticBinary runs the build command of the
// Dockerfile's build stage and checks that the binary is static (no
// program interpreter, no shared libraries), as its distroless "static"
// base image requires, and that the image runs it as a non-root user with
// its data in the /data volume. (No container engine runs here, so the
// image itself is not built.)
func TestDockerfileBuildsStaticBinary(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("checks a Linux ELF binary")
	}
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(df)
	m := regexp.MustCompile(`(?m)^RUN (CGO_ENABLED=0 go build .*) -o /midge (\./cmd/midge)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("Dockerfile: no \"RUN CGO_ENABLED=0 go build ... -o /midge ./cmd/midge\" line")
	}
	for _, want := range []string{"FROM gcr.io/distroless/static", "USER nonroot", "VOLUME /data", `"--data", "/data"`} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	bin := filepath.Join(t.TempDir(), "midge")
	// The Dockerfile's own command line, through a shell as in RUN, for
	// this package instead of ./cmd/midge.
	cmd := exec.Command("sh", "-c", m[1]+` -o "$BIN" .`)
	cmd.Env = append(os.Environ(), "VERSION=test", "BIN="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary has a program interpreter: it is not static")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Fatalf("the binary needs shared libraries %v (%v)", libs, err)
	}
}

// TestSystemdUnitVerifies checks dist/midge.service with systemd-analyze
// verify (syntax, known options, an executable ExecStart) and that it
// reloads with SIGHUP and keeps its state in the StateDirectory.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze not found")
		}
		t.Skip("systemd-analyze not found")
	}
	unit, err := os.ReadFile("../../dist/midge.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ExecReload=/bin/kill -HUP $MAINPID", "StateDirectory=midge", "--data /var/lib/midge",
		"NoNewPrivileges=yes", "ProtectSystem=strict", "DynamicUser=yes"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("midge.service lacks %q", want)
		}
	}
	// verify checks that ExecStart names an executable: point it at a
	// build of this tree.
	dir := t.TempDir()
	path := filepath.Join(dir, "midge.service")
	bin := buildMidge(t)
	os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/midge", bin)), 0o644)
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
