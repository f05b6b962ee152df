package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/packet"
)

// SCRAMMethod is the MQTT 5.0 Authentication Method of SCRAM-SHA-512.
const SCRAMMethod = "SCRAM-SHA-512"

// errSCRAM refuses a SCRAM exchange; it carries Not authorized.
var errSCRAM = &packet.ReasonError{Code: packet.NotAuthorized, Msg: "SCRAM authentication failed"}

// SCRAM returns the MQTT 5.0 enhanced authentication method SCRAM-SHA-512
// (RFC 5802, RFC 7677's scheme with SHA-512) against the users of p. A $7$
// hash is PBKDF2-HMAC-SHA512 of the password, which is SCRAM's salted
// password, so the file serves both methods unchanged; users with an older
// $6$ hash can only log in with a password.
//
// The exchange: CONNECT carries the client-first message, the broker's AUTH
// the server-first message, the client's AUTH the client-final message, and
// the CONNACK the server-final message with the broker's signature.
func (p *PasswordFile) SCRAM() broker.EnhancedAuthenticator { return scramMethod{p} }

type scramMethod struct{ p *PasswordFile }

func (scramMethod) Method() string { return SCRAMMethod }

func (m scramMethod) Begin(ctx context.Context, c *broker.ClientInfo) broker.AuthExchange {
	return &scramExchange{p: m.p, client: c}
}

type scramExchange struct {
	p      *PasswordFile
	client *broker.ClientInfo
	step   int

	user        string
	hash        *passwordHash // nil for an unknown user: the exchange runs on and fails
	salt        []byte
	iterations  int
	nonce       string
	gs2         string
	clientFirst string // the bare part
	serverFirst string
}

func (x *scramExchange) Step(data []byte) ([]byte, bool, error) {
	x.step++
	switch x.step {
	case 1:
		return x.first(string(data))
	case 2:
		return x.final(string(data))
	}
	return nil, false, errSCRAM
}

// first answers the client-first message with the server-first message.
func (x *scramExchange) first(msg string) ([]byte, bool, error) {
	// gs2-header: no channel binding ("n,," or "y,,"), no authzid.
	var bare string
	switch {
	case strings.HasPrefix(msg, "n,,"), strings.HasPrefix(msg, "y,,"):
		x.gs2, bare = msg[:3], msg[3:]
	default:
		return nil, false, errSCRAM
	}
	attrs := strings.Split(bare, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") || len(attrs[1]) < 3 {
		return nil, false, errSCRAM
	}
	user, ok := saslName(attrs[0][2:])
	if !ok || user == "" {
		return nil, false, errSCRAM
	}
	x.user, x.clientFirst = user, bare
	var snonce [18]byte
	rand.Read(snonce[:])
	x.nonce = attrs[1][2:] + base64.RawStdEncoding.EncodeToString(snonce[:])

	if t := x.p.table.Load(); t != nil {
		if h := t.users[user]; h != nil && h.scheme == schemePBKDF2 {
			x.hash = h
		}
	}
	if x.hash != nil {
		x.salt, x.iterations = x.hash.salt, x.hash.iterations
	} else {
		// An unknown user gets a salt that looks like any other and the
		// usual iteration count, and fails at the end like a wrong
		// password.
		mac := hmac.New(sha512.New, []byte("midge scram unknown user"))
		mac.Write([]byte(user))
		x.salt, x.iterations = mac.Sum(nil)[:saltLen], DefaultIterations
	}
	x.serverFirst = "r=" + x.nonce + ",s=" + base64.StdEncoding.EncodeToString(x.salt) + ",i=" + strconv.Itoa(x.iterations)
	return []byte(x.serverFirst), false, nil
}

// final checks the client-final message's proof and answers with the
// server's signature.
func (x *scramExchange) final(msg string) ([]byte, bool, error) {
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return nil, false, errSCRAM
	}
	withoutProof, proofB64 := msg[:i], msg[i+3:]
	attrs := strings.Split(withoutProof, ",")
	if len(attrs) < 2 || attrs[0] != "c="+base64.StdEncoding.EncodeToString([]byte(x.gs2)) || attrs[1] != "r="+x.nonce {
		return nil, false, errSCRAM
	}
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil || len(proof) != sha512.Size || x.hash == nil {
		return nil, false, errSCRAM
	}
	salted := x.hash.key // PBKDF2-HMAC-SHA512(password, salt, iterations)
	authMessage := x.clientFirst + "," + x.serverFirst + "," + withoutProof
	clientKey := hmacSHA512(salted, "Client Key")
	storedKey := sha512.Sum512(clientKey)
	signature := hmacSHA512(storedKey[:], authMessage)
	for i := range proof {
		proof[i] ^= signature[i] // now the client's ClientKey
	}
	got := sha512.Sum512(proof)
	if subtle.ConstantTimeCompare(got[:], storedKey[:]) != 1 {
		return nil, false, errSCRAM
	}
	x.client.Username = x.user
	serverSignature := hmacSHA512(hmacSHA512(salted, "Server Key"), authMessage)
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSignature)), true, nil
}

func hmacSHA512(key []byte, msg string) []byte {
	mac := hmac.New(sha512.New, key)
	mac.Write([]byte(msg))
	return mac.Sum(nil)
}

// saslName decodes a SCRAM user name: "=2C" is ',' and "=3D" is '='; any
// other '=' is an error.
func saslName(s string) (string, bool) {
	if !strings.Contains(s, "=") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}
