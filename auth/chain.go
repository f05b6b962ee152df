package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/packet"
)

// Chain returns a broker.Authenticator that asks each of authenticators in
// order and lets the client in as soon as one returns nil.
//
// broker.Authenticator has a single error result for both "these
// credentials are not accepted" and "the check could not be made", so Chain
// tells them apart by the reason code, and that is the contract for
// authenticators meant to be chained:
//
//   - A refusal is an error that errors.As turns into a *packet.ReasonError
//     with the code BadUserNameOrPassword or NotAuthorized, as
//     ErrBadCredentials and ErrAnonymous are. It means "not mine": Chain asks
//     the next authenticator. When all of them refuse, Chain returns the last
//     refusal, so its reason code reaches the client.
//   - Any other error is a hard error and stops the chain at once: a
//     *packet.ReasonError with another code (Banned, ServerUnavailable,
//     ServerBusy, ...) is a deliberate verdict that a later authenticator
//     must not overturn, and an error without a reason code (an I/O error,
//     a timeout, ctx being done) means the check failed, and letting a later
//     authenticator decide instead would let a failing backend widen access.
//     Chain returns it wrapped with the authenticator's position; the
//     broker answers it with its reason code, or NotAuthorized.
//
// An authenticator that refuses leaves no broker.ClientInfo.Grants behind:
// Chain puts back what c.Grants held before asking it, so only the
// authenticator that lets the client in chooses its grants.
//
// Chain also stops when ctx is done before an authenticator is asked. With
// no authenticators every client is refused with ErrNoAuthenticator. A nil
// authenticator is a programming error and makes Chain panic.
func Chain(authenticators ...broker.Authenticator) broker.Authenticator {
	for i, a := range authenticators {
		if a == nil {
			panic(fmt.Sprintf("auth: Chain: authenticator %d is nil", i))
		}
	}
	return chain(append([]broker.Authenticator(nil), authenticators...))
}

// chain is the Authenticator that Chain returns.
type chain []broker.Authenticator

// Authenticate asks each authenticator in order, as Chain describes.
func (ch chain) Authenticate(ctx context.Context, c *broker.ClientInfo, password []byte) error {
	err := ErrNoAuthenticator
	grants := c.Grants
	for i, a := range ch {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("auth: chain: before authenticator %d: %w", i, cerr)
		}
		err = a.Authenticate(ctx, c, password)
		if err == nil {
			return nil
		}
		c.Grants = grants
		if !isRefusal(err) {
			return fmt.Errorf("auth: chain: authenticator %d: %w", i, err)
		}
	}
	return err
}

// isRefusal reports whether err refuses the credentials rather than failing
// to check them: it carries the reason code BadUserNameOrPassword or
// NotAuthorized.
func isRefusal(err error) bool {
	var re *packet.ReasonError
	if !errors.As(err, &re) {
		return false
	}
	return re.Code == packet.BadUserNameOrPassword || re.Code == packet.NotAuthorized
}
