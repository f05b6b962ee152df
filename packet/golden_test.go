package packet

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// The codec vectors live in testdata/*.txt, in a golden style:
//
//	case: publish/v5/topic-alias      the case name
//	version: 5                        the protocol version the body is decoded for
//	maxsize: 16                       optional: the maximum packet size given to the fixed header readers
//	reencode: 40 02 00 07             optional: the canonical encoding, when it differs from the input
//	30 05 00 01 "a" ...               the packet, fixed header included
//	----
//	PUBLISH{Topic:"a" ...}            the decoded packet as render writes it, or error: <ReasonCode> (<message>)
//
// The input is hex with whitespace ignored, "quoted" ASCII taken as is, and '#' starting a comment outside quotes.
// Lines starting with '#' between cases are comments. The message in parentheses is optional.

// vector is one case of a testdata file.
type vector struct {
	file, name string
	line       int
	version    Version
	maxSize    int
	input      []byte
	reencode   []byte
	want       string
}

// loadVectors reads every case of every testdata/*.txt file.
func loadVectors(t testing.TB) []vector {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vector files: %v", err)
	}
	var all []vector
	for _, f := range files {
		vs, err := parseVectorFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, vs...)
	}
	return all
}

func parseVectorFile(path string) ([]vector, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var (
		out     []vector
		cur     *vector
		hexText strings.Builder
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: "+format, append([]any{path, ln}, args...)...)
		}
		switch {
		case cur == nil && (line == "" || strings.HasPrefix(line, "#")):
		case cur == nil:
			name, ok := strings.CutPrefix(line, "case:")
			if !ok {
				return nil, fail("want case:, got %q", line)
			}
			cur = &vector{file: filepath.Base(path), name: strings.TrimSpace(name), line: ln}
			hexText.Reset()
		case strings.HasPrefix(line, "version:"):
			n, err := strconv.Atoi(strings.TrimSpace(line[len("version:"):]))
			if err != nil {
				return nil, fail("bad version: %w", err)
			}
			cur.version = Version(n)
		case strings.HasPrefix(line, "maxsize:"):
			n, err := strconv.Atoi(strings.TrimSpace(line[len("maxsize:"):]))
			if err != nil {
				return nil, fail("bad maxsize: %w", err)
			}
			cur.maxSize = n
		case strings.HasPrefix(line, "reencode:"):
			b, err := parseHex(line[len("reencode:"):])
			if err != nil {
				return nil, fail("reencode: %w", err)
			}
			cur.reencode = b
		case line == "----":
			if !sc.Scan() {
				return nil, fail("missing expected result")
			}
			ln++
			b, err := parseHex(hexText.String())
			if err != nil {
				return nil, fail("input: %w", err)
			}
			cur.input = b
			cur.want = strings.TrimSpace(sc.Text())
			if cur.version == 0 {
				return nil, fail("case %q has no version", cur.name)
			}
			out = append(out, *cur)
			cur = nil
		default:
			hexText.WriteString(sc.Text())
			hexText.WriteByte('\n')
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s: case %q has no ----", path, cur.name)
	}
	return out, sc.Err()
}

// parseHex decodes annotated hex: pairs of hex digits, whitespace ignored, "quoted" text taken byte for byte, and
// '#' starting a comment that runs to the end of the line.
func parseHex(s string) ([]byte, error) {
	var out []byte
	var digits strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '"':
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				return nil, errors.New("unterminated quote")
			}
			if digits.Len()%2 != 0 {
				return nil, errors.New("odd number of hex digits before a quote")
			}
			out = appendHexDigits(out, digits.String())
			digits.Reset()
			out = append(out, s[i+1:i+1+end]...)
			i += end + 1
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		default:
			digits.WriteByte(c)
		}
	}
	if _, err := hex.DecodeString(digits.String()); err != nil {
		return nil, err
	}
	return appendHexDigits(out, digits.String()), nil
}

func appendHexDigits(dst []byte, digits string) []byte {
	b, _ := hex.DecodeString(digits)
	return append(dst, b...)
}

// render writes a packet on one line: its type, then the non-zero fields of its struct, nested structs in braces,
// []byte as quoted strings (a non-nil empty slice as ""), reason codes and types by name.
func render(p Packet) string {
	var sb strings.Builder
	sb.WriteString(p.Type().String())
	renderValue(&sb, reflect.ValueOf(p).Elem())
	return sb.String()
}

func renderValue(sb *strings.Builder, v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		sb.WriteByte('{')
		first := true
		for i := range v.NumField() {
			f := v.Field(i)
			if f.IsZero() {
				continue
			}
			if !first {
				sb.WriteByte(' ')
			}
			first = false
			sb.WriteString(v.Type().Field(i).Name)
			sb.WriteByte(':')
			renderValue(sb, f)
		}
		sb.WriteByte('}')
	case reflect.Pointer:
		renderValue(sb, v.Elem())
	case reflect.Slice:
		if v.Type().Elem() == reflect.TypeFor[byte]() {
			renderBytes(sb, v.Bytes())
			return
		}
		sb.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				sb.WriteByte(' ')
			}
			renderValue(sb, v.Index(i))
		}
		sb.WriteByte(']')
	case reflect.String:
		sb.WriteString(strconv.Quote(v.String()))
	default:
		fmt.Fprint(sb, v.Interface())
	}
}

// renderBytes writes b in double quotes, printable ASCII as is and every other byte as \xNN.
func renderBytes(sb *strings.Builder, b []byte) {
	sb.WriteByte('"')
	for _, c := range b {
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			sb.WriteByte(c)
		} else {
			fmt.Fprintf(sb, "\\x%02x", c)
		}
	}
	sb.WriteByte('"')
}

// renderError writes an error as a vector expects it: "error: <Code> (<message>)".
func renderError(err error) string {
	var re *ReasonError
	if !errors.As(err, &re) {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("error: %s (%s)", re.Code, re.Msg)
}

// matchResult compares a result with an expectation whose error message is optional.
func matchResult(got, want string) bool {
	if got == want {
		return true
	}
	code, _, ok := strings.Cut(got, " (")
	return ok && strings.HasPrefix(want, "error:") && !strings.Contains(want, "(") && code == want
}

// decodeVector decodes a whole packet the way a connection does: the fixed header, then the body.
func decodeVector(in []byte, v Version, maxSize int) (Packet, error) {
	h, n, err := ParseFixedHeader(in, maxSize)
	if err != nil {
		return nil, err
	}
	if len(in)-n != h.Remaining {
		return nil, fmt.Errorf("vector holds %d body bytes, Remaining Length is %d", len(in)-n, h.Remaining)
	}
	return Decode(h, in[n:], v)
}

// vectorFiles lists the testdata files and the test that runs each; TestVectorFilesHaveTests keeps it complete.
var vectorFiles = map[string]string{
	"header.txt":      "TestHeaderVectors",
	"connect.txt":     "TestConnectVectors",
	"connack.txt":     "TestConnackVectors",
	"publish.txt":     "TestPublishVectors",
	"ack.txt":         "TestAckVectors",
	"subscribe.txt":   "TestSubscribeVectors",
	"unsubscribe.txt": "TestUnsubscribeVectors",
	"ping.txt":        "TestPingVectors",
	"disconnect.txt":  "TestDisconnectVectors",
	"auth.txt":        "TestAuthVectors",
}

func TestVectorFilesHaveTests(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range files {
		if _, ok := vectorFiles[filepath.Base(f)]; !ok {
			t.Errorf("%s is run by no test; add it to vectorFiles", f)
		}
		vs, err := parseVectorFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, vc := range vs {
			if names[vc.name] {
				t.Errorf("%s:%d: duplicate case name %q", vc.file, vc.line, vc.name)
			}
			names[vc.name] = true
		}
	}
}

// runVectors decodes every vector of one testdata file, compares the result, and re-encodes every valid one.
func runVectors(t *testing.T, file string) {
	vectors, err := parseVectorFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	for _, vc := range vectors {
		t.Run(vc.name, func(t *testing.T) {
			p, err := decodeVector(vc.input, vc.version, vc.maxSize)
			got := ""
			if err != nil {
				got = renderError(err)
			} else {
				got = render(p)
			}
			if !matchResult(got, vc.want) {
				t.Fatalf("%s:%d:\n got: %s\nwant: %s", vc.file, vc.line, got, vc.want)
			}
			checkReader(t, vc)
			if err != nil {
				return
			}
			checkReuse(t, vc, p)
			enc, err := p.Append(nil, vc.version)
			if err != nil {
				t.Fatalf("%s:%d: re-encode: %v", vc.file, vc.line, err)
			}
			want := vc.input
			if vc.reencode != nil {
				want = vc.reencode
			}
			if !bytes.Equal(enc, want) {
				t.Fatalf("%s:%d: re-encode:\n got: % x\nwant: % x", vc.file, vc.line, enc, want)
			}
			p2, err := decodeVector(enc, vc.version, 0)
			if err != nil {
				t.Fatalf("%s:%d: decode of re-encoding: %v", vc.file, vc.line, err)
			}
			if !reflect.DeepEqual(p, p2) {
				t.Fatalf("%s:%d: round trip:\n got: %s\nwant: %s", vc.file, vc.line, render(p2), render(p))
			}
		})
	}
}

// checkReader checks that ReadFixedHeader agrees with ParseFixedHeader on the vector.
func checkReader(t *testing.T, vc vector) {
	t.Helper()
	h1, n, err1 := ParseFixedHeader(vc.input, vc.maxSize)
	r := bytes.NewReader(vc.input)
	h2, err2 := ReadFixedHeader(r, vc.maxSize)
	if err1 != nil || err2 != nil {
		if !errors.Is(err2, err1) {
			t.Fatalf("%s:%d: ReadFixedHeader error %v, ParseFixedHeader error %v", vc.file, vc.line, err2, err1)
		}
		headerLen := 2
		for headerLen < len(vc.input) && vc.input[headerLen-1]&0x80 != 0 {
			headerLen++
		}
		if errors.Is(err1, ErrPacketTooLarge) && len(vc.input)-r.Len() != headerLen {
			t.Fatalf("%s:%d: ReadFixedHeader read past the header of a packet too large", vc.file, vc.line)
		}
		return
	}
	if h1 != h2 || len(vc.input)-r.Len() != n {
		t.Fatalf("%s:%d: ReadFixedHeader %+v used %d, ParseFixedHeader %+v used %d", vc.file, vc.line, h2,
			len(vc.input)-r.Len(), h1, n)
	}
}

// checkReuse decodes the vector into a struct that already holds a decoded packet, the way a connection reuses
// one Publish, and checks that nothing of the old packet is left.
func checkReuse(t *testing.T, vc vector, fresh Packet) {
	t.Helper()
	h, n, _ := ParseFixedHeader(vc.input, 0)
	p, _ := New(h.Type)
	d := p.(decoder)
	if err := d.Decode(h, vc.input[n:], vc.version); err != nil {
		t.Fatal(err)
	}
	if err := d.Decode(h, vc.input[n:], vc.version); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d, fresh) {
		t.Fatalf("%s:%d: decode into a used struct:\n got: %s\nwant: %s", vc.file, vc.line, render(d), render(fresh))
	}
}
