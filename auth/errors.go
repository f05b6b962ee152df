package auth

import (
	"errors"
	"fmt"

	"github.com/midgemq/midge/packet"
)

// ErrBadCredentials is returned by PasswordFile.Authenticate when the user
// name is not in the file, the client sent no password, or the password does
// not match. It wraps a *packet.ReasonError with the code
// BadUserNameOrPassword, so the broker refuses the CONNECT with that code.
var ErrBadCredentials error = &refusal{
	msg:    "auth: bad user name or password",
	reason: &packet.ReasonError{Code: packet.BadUserNameOrPassword, Msg: "bad user name or password"},
}

// ErrAnonymous is returned by PasswordFile.Authenticate when a client sent
// no user name and AllowAnonymous is false. It wraps a *packet.ReasonError
// with the code NotAuthorized.
var ErrAnonymous error = &refusal{
	msg:    "auth: anonymous clients are not allowed",
	reason: &packet.ReasonError{Code: packet.NotAuthorized, Msg: "anonymous clients are not allowed"},
}

// ErrNoAuthenticator is returned by the Authenticator of an empty Chain: no
// authenticator accepted the client because there is none. It wraps a
// *packet.ReasonError with the code NotAuthorized.
var ErrNoAuthenticator error = &refusal{
	msg:    "auth: no authenticator in the chain",
	reason: &packet.ReasonError{Code: packet.NotAuthorized, Msg: "no authenticator"},
}

// ErrUserNotFound is returned by DeletePassword when the user is not in the
// password file.
var ErrUserNotFound = errors.New("auth: user not in the password file")

// ErrInvalidUsername is returned by SetPassword when the user name cannot be
// written to a password file: it is empty, contains ':', a line break or
// U+0000, starts with '#' (a comment) or with white space, or ends with
// white space.
var ErrInvalidUsername = errors.New("auth: user name cannot be stored in a password file")

// ErrIterations is returned by HashPassword and SetPassword when the
// iteration count is above MaxIterations.
var ErrIterations = errors.New("auth: too many pbkdf2 iterations")

// refusal is an error that refuses a client with a reason code: errors.As
// finds the *packet.ReasonError through Unwrap, and errors.Is compares the
// refusal itself, so callers can test for ErrBadCredentials.
type refusal struct {
	msg    string
	reason *packet.ReasonError
}

func (r *refusal) Error() string { return r.msg }

func (r *refusal) Unwrap() error { return r.reason }

// ParseError is returned when a line of a password file or an ACL file is
// malformed. It names the file and the line.
type ParseError struct {
	// File is the path of the file, as it was given.
	File string
	// Line is the number of the malformed line, from 1.
	Line int
	// Msg says what is wrong with the line, in lower case.
	Msg string
	// Err is the underlying error, such as a topic validation error, or
	// nil.
	Err error
}

// Error returns "auth: FILE:LINE: MSG", followed by ": " and Err when Err is
// not nil.
func (e *ParseError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("auth: %s:%d: %s: %s", e.File, e.Line, e.Msg, e.Err.Error())
	}
	return fmt.Sprintf("auth: %s:%d: %s", e.File, e.Line, e.Msg)
}

// Unwrap returns Err.
func (e *ParseError) Unwrap() error { return e.Err }

// Errors of parseHash; a ParseError carries them with the file and line.
var (
	errUnknownScheme = errors.New("unknown password hash scheme (want $6$ or $7$)")
	errHashFields    = errors.New("wrong number of '$' fields in the password hash")
	errIterations    = fmt.Errorf("pbkdf2 iteration count is not an integer from 1 to %d", MaxIterations)
	errSalt          = errors.New("salt is not non-empty base64")
	errKey           = fmt.Errorf("hash is not %d bytes of base64", keyLen)
)

// ErrInvalidToken is returned by JWT.Authenticate when the password is a
// JSON Web Token that is not valid for the client: a bad signature, an
// algorithm the keys do not accept, an expired token, a missing or wrong
// claim. It wraps a *packet.ReasonError with the code
// BadUserNameOrPassword, so a Chain asks the next authenticator. The reason
// is logged, not returned.
var ErrInvalidToken error = &refusal{
	msg:    "auth: invalid token",
	reason: &packet.ReasonError{Code: packet.BadUserNameOrPassword, Msg: "invalid token"},
}

// errNoKeyForAlg is returned when no loaded key verifies an algorithm.
var errNoKeyForAlg = errors.New("no key of the kind this algorithm needs")

// ErrHookDenied is returned by HTTPHook.Authenticate when the backend
// answers {"result": "deny"} or 401. It wraps a *packet.ReasonError with
// the code BadUserNameOrPassword.
var ErrHookDenied error = &refusal{
	msg:    "auth: http hook denied the client",
	reason: &packet.ReasonError{Code: packet.BadUserNameOrPassword, Msg: "bad user name or password"},
}

// ErrHookForbidden is returned by HTTPHook.Authenticate when the backend
// answers 403. It wraps a *packet.ReasonError with the code NotAuthorized.
var ErrHookForbidden error = &refusal{
	msg:    "auth: http hook forbade the client",
	reason: &packet.ReasonError{Code: packet.NotAuthorized, Msg: "not authorized"},
}

// ErrBusy is returned by PasswordFile.Authenticate when the client waited
// for a turn to hash its password until its context was done: as many
// hashes as there are cores were running all along. It wraps a
// *packet.ReasonError with the code ServerUnavailable, which does not count
// towards a ban.
var ErrBusy error = &refusal{
	msg:    "auth: too many password checks at once",
	reason: &packet.ReasonError{Code: packet.ServerUnavailable, Msg: "server busy checking passwords"},
}

// ErrHookUnavailable is wrapped by the error HTTPHook.Authenticate returns
// when the check failed: the backend could not be reached in time, or its
// answer was not one of those HTTPHook lists. It wraps a
// *packet.ReasonError with the code ServerUnavailable, which is not a
// refusal: a Chain stops, and the client is refused whatever a later
// authenticator would say.
var ErrHookUnavailable error = &refusal{
	msg:    "auth: http hook unavailable",
	reason: &packet.ReasonError{Code: packet.ServerUnavailable, Msg: "authentication backend unavailable"},
}
