// Package auth authenticates and authorizes MQTT clients for the broker:
// from Mosquitto-compatible files (a password file, an ACL file), from JSON
// Web Tokens given as the password, or by asking an HTTP backend; a chain
// tries several authenticators in turn.
//
// # Passwords
//
// PasswordFile is a broker.Authenticator over a password file, loaded with
// LoadPasswordFile. Each line is a user name, a colon and a password hash;
// blank lines and lines starting with '#' are ignored, trailing white space
// (and a CR) is dropped, and the user name is everything before the first
// colon:
//
//	# midge passwd alice
//	alice:$7$210000$Yw2mIuCFTsU4tsyL1e1H3Q==$ZKFy…64 bytes in base64…==
//	# made by mosquitto_passwd
//	bob:$7$101$PF1Pc/blWFwO8TtN$4FeQ0vkEZrRW…==
//	carol:$6$jVqimXpD5ltYA2U1$Htt29p5Lv7qo…==
//
// $7$<iterations>$<salt>$<hash> is PBKDF2-HMAC-SHA512 with the given
// iteration count, the salt and a 64-byte derived key, both in standard
// base64. It is Mosquitto's current format: Midge writes it with a random
// 12-byte salt and DefaultIterations (210,000) iterations, mosquitto_passwd
// with a 12-byte salt and 101 iterations, and both load in either. $6$<salt>$<hash>
// is Mosquitto's older format, the SHA-512 of the password followed by the
// salt; it is read but never written. Hashes are compared in constant time,
// and an unknown user costs a hash too, so that timing does not tell which
// users exist.
//
// A client without a user name is refused unless AllowAnonymous is set.
// Reload reads the file again and swaps the users in atomically, for
// SIGHUP. SetPassword and DeletePassword edit a file in place, keeping its
// comments, order and mode, and replace it through a temporary file and a
// rename.
//
// # ACL
//
// ACL is a broker.Authorizer over Mosquitto's ACL file, loaded with
// LoadACLFile:
//
//	# Before the first user line: rules for clients without a user name.
//	topic read public/#
//
//	user alice
//	topic readwrite alice/#
//	topic deny alice/private/#
//	topic read $SYS/broker/#
//
//	user bob
//	topic write sensors/+/temp
//
//	# Pattern rules apply to every client, wherever they are in the file.
//	pattern readwrite devices/%u/#
//	pattern write clients/%c/status
//
// A "user NAME" line starts the rules of the user NAME (the rest of the
// line, spaces included); a user named again gets the rules of every one of
// its sections. "topic [ACCESS] FILTER" grants ACCESS on FILTER to the
// current section, and "pattern [ACCESS] FILTER" to every client, with %u
// replaced by the client's user name and %c by its client id. ACCESS is
// read, write, readwrite (the default when it is left out) or deny; the
// filter is the rest of the line and may hold spaces. Keywords are lower
// case. A malformed line fails the whole file with a *ParseError naming the
// file and the line, as does a filter that is not a valid MQTT topic filter
// or is a $share filter.
//
// A PUBLISH (and a will) needs write access on a filter that matches its
// topic. A SUBSCRIBE needs read access from one rule whose filter covers the
// requested one, that is, matches every topic the requested filter could
// match: "a/#" covers "a/+/c" and "a", "a/+" does not cover "a/#", and "#"
// does not cover "$SYS/#" because a leading wildcard matches no topic
// starting with '$'. A shared subscription $share/{group}/{filter} is
// checked as its filter. A deny rule wins over any grant: it refuses a
// publish to a topic it matches and a subscription whose filter could match
// any topic it matches. Without a matching rule a client is refused.
//
// A pattern rule does not apply to a client whose user name (for %u) or
// client id (for %c) is empty or holds '+', '#', '/' or U+0000, or would
// make the filter start with '$': "pattern read %c/#" must not hand a client
// named "#" every topic, nor one named "$SYS" the broker's own.
//
// # Chain
//
// Chain combines authenticators: it asks each in order and lets the client
// in on the first success. An error carrying the reason code
// BadUserNameOrPassword or NotAuthorized (as ErrBadCredentials and
// ErrAnonymous do) means "not mine" and passes the client on; any other
// error stops the chain and refuses the client.
//
// # Tokens
//
// JWT is a broker.Authenticator that takes a JSON Web Token as the MQTT
// password, made by NewJWT from a file with an HMAC secret or a PEM file of
// public keys (RSA, ECDSA, Ed25519). A token is checked only with a key of
// the kind its "alg" names ("none" never), must carry an "exp" that has
// not passed, and must name the client in the claim chosen by
// JWTOptions.UsernameClaim or ClientIDClaim. A password that is not shaped
// like a token is refused with ErrBadCredentials, so a Chain moves on to,
// say, the password file; an invalid token is refused with
// ErrInvalidToken, and the reason is logged.
//
// # HTTP backend
//
// HTTPHook is a broker.Authenticator that POSTs the client's credentials to
// a URL as JSON and lets the backend answer allow, deny or ignore. A
// backend that cannot be reached or answers anything else makes
// Authenticate fail with ErrHookUnavailable (ServerUnavailable), which
// stops a Chain.
//
// # Grants
//
// A token's "publish" and "subscribe" claims, or the "grants" of the
// backend's answer, are topic filters that the client may use. The
// authenticator stores them as a *Grants in broker.ClientInfo.Grants, and
// the Authorizer that WithGrants returns decides from them for that
// client, with the same matching as the ACL (match for a publish, covers
// for a subscription, %u and %c), and asks the Authorizer it wraps for the
// clients without grants:
//
//	{"sub": "alice", "exp": 1798003600,
//	 "publish": ["devices/%u/telemetry"], "subscribe": ["devices/%u/cmd/#"]}
//
// # Caveats
//
//   - Hash schemes other than $6$ and $7$ (argon2id, bcrypt, ...) and
//     plain-text passwords are not read: such a line fails the load.
//   - Each CONNECT with a user name costs one PBKDF2 run: about 0.16 s of
//     one core (a 2.5 GHz Xeon) at 210,000 iterations, 0.1 ms at
//     Mosquitto's 101. At most one runs per core at once (a CONNECT that
//     waits past its ConnectTimeout is refused with ServerUnavailable,
//     ErrBusy); MaxIterations bounds one run.
//   - Rules are checked when a client publishes or subscribes, not when a
//     message is delivered. That is why a deny rule refuses every
//     subscription that could receive a denied topic ("#" for a client with
//     "topic deny secret/#"), where Mosquitto would allow the subscription
//     and filter the messages, and why a Reload does not revoke
//     subscriptions made under the old rules. It is also why the broker
//     does not let a client resume a persistent session that a client
//     with another user name made (see broker.Options.Authorizer).
//   - A subscription is allowed by one rule that covers it, not by several
//     that cover it together: "topic read a" and "topic read a/+/#" do not
//     allow "a/#".
//   - SetPassword and DeletePassword exclude each other within a process
//     only. Two processes editing one file at once may lose an edit.
//   - A reload replaces everything or nothing: a file with one bad line
//     keeps the old users or rules in force, and the error says which line.
//   - Grants are fixed when the client connects: a connection outlives the
//     "exp" of its token, and a key reload or a backend's change of mind
//     does not revoke what it was granted.
//   - A JWT's "jti" is not checked and nothing is revoked before "exp":
//     keep tokens short-lived.
//   - Refusals and backend failures both count as authentication
//     failures for the broker's ban on an address (Options.AuthFailureLimit),
//     so a backend outage can get well-behaved clients that retry banned
//     for a while.
package auth
