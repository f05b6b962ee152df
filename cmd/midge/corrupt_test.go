package main

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/midgemq/midge/internal/mqtttest"
	"github.com/midgemq/midge/packet"
)

// TestE2ECorruptStore starts the binary on a store damaged in each way
// below. Each time it exits with an error before it listens, names the
// store's directory and the command that moves it aside, and leaves every
// file of the store as it was.
func TestE2ECorruptStore(t *testing.T) {
	pristine := filledDataDir(t)
	tests := []struct {
		name   string
		damage func(t *testing.T, store string)
	}{
		{name: "garbage manifest", damage: func(t *testing.T, store string) {
			writeTestFile(t, onlyStoreFile(t, store, "MANIFEST-*"), []byte("not a manifest"))
		}},
		{name: "truncated manifest", damage: func(t *testing.T, store string) {
			p := onlyStoreFile(t, store, "MANIFEST-*")
			b := readTestFile(t, p)
			writeTestFile(t, p, b[:len(b)/2])
		}},
		{name: "garbage options", damage: func(t *testing.T, store string) {
			writeTestFile(t, onlyStoreFile(t, store, "OPTIONS-*"), []byte("[Version]\n  garbage ] ["))
		}},
		{name: "byte flipped in a table's data block", damage: func(t *testing.T, store string) {
			// Data blocks come first in a table file, its index and
			// footer last: a quarter of the way into the largest table,
			// which holds hundreds of kilobytes, is inside a data block.
			p := largestTable(t, store)
			b := readTestFile(t, p)
			b[len(b)/4] ^= 0x01
			writeTestFile(t, p, b)
		}},
		{name: "missing table", damage: func(t *testing.T, store string) {
			if err := os.Remove(largestTable(t, store)); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			copyTree(t, pristine, data)
			store := filepath.Join(data, "store")
			tc.damage(t, store)
			before := hashTree(t, store)

			addr := freeAddr(t)
			p := startMidge(t, "serve", "--listen", addr, "--data", data)
			if code := p.wait(t, 30); code != exitError {
				t.Fatalf("exit code %d with a damaged store, want %d\n%s", code, exitError, p.stderr.String())
			}
			logs := p.stderr.String()
			for _, want := range []string{store, "mv " + store + " " + store + ".corrupt-"} {
				if !strings.Contains(logs, want) {
					t.Errorf("stderr does not contain %q:\n%s", want, logs)
				}
			}
			if strings.Contains(logs, "midge started") {
				t.Errorf("midge listened before it failed:\n%s", logs)
			}
			if after := hashTree(t, store); !slices.Equal(before, after) {
				t.Errorf("the store's files changed:\nbefore %s\nafter  %s", strings.Join(before, "\n       "),
					strings.Join(after, "\n       "))
			}
		})
	}
}

// filledDataDir returns a data directory whose store a broker stopped
// cleanly after filling it with retained messages and the queue of an
// offline persistent session, enough for table files of many blocks.
func filledDataDir(t *testing.T) string {
	t.Helper()
	data := t.TempDir()
	addr := freeAddr(t)
	p := startMidge(t, "serve", "--listen", addr, "--data", data)
	dialMidge(t, p, addr).Close()
	sub, _ := mqtttest.Connect(t, addr, packet.V311, &packet.Connect{ClientID: "offline"})
	sub.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "q/#", QoS: 1}}})
	sub.Expect(packet.TypeSuback)
	sub.Send(&packet.Disconnect{})
	sub.ExpectClosed(5 * time.Second)
	pub, _ := mqtttest.Connect(t, addr, packet.V311, &packet.Connect{ClientID: "filler", CleanStart: true})
	rng := rand.New(rand.NewPCG(11, 12))
	for i := range 400 {
		payload := make([]byte, 1024) // incompressible
		for j := range payload {
			payload[j] = byte(rng.Uint32())
		}
		topic, retain := fmt.Sprintf("r/%03d", i), true
		if i%2 == 1 {
			topic, retain = fmt.Sprintf("q/%03d", i), false
		}
		pub.Send(&packet.Publish{Topic: topic, QoS: 1, Retain: retain, PacketID: uint16(i + 1), Payload: payload})
		pub.Expect(packet.TypePuback)
	}
	pub.Close()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 15); code != exitOK {
		t.Fatalf("exit code %d after SIGTERM\n%s", code, p.stderr.String())
	}
	return data
}

// hashTree returns one line per file under dir, sorted: its path, size
// and the SHA-256 of its content.
func hashTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out = append(out, fmt.Sprintf("%s %d %x", rel, len(b), sha256.Sum256(b)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// copyTree copies the files and directories under src into dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// onlyStoreFile returns the one file in store that matches pattern.
func onlyStoreFile(t *testing.T, store, pattern string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(store, pattern))
	if err != nil || len(m) != 1 {
		t.Fatalf("files matching %s in %s: %v, %v; want one", pattern, store, m, err)
	}
	return m[0]
}

// largestTable returns the largest table file in store.
func largestTable(t *testing.T, store string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(store, "*.sst"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no table file in %s: %v", store, err)
	}
	var best string
	var size int64 = -1
	for _, p := range m {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > size {
			best, size = p, fi.Size()
		}
	}
	if size < 64<<10 {
		t.Fatalf("largest table %s holds %d bytes, too few for many data blocks", best, size)
	}
	return best
}

func readTestFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeTestFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
