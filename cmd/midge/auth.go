package main

import (
	"fmt"
	"log/slog"

	"github.com/midgemq/midge/auth"
	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/config"
)

// setupAuth sets up what c configures for authentication and authorization
// in opts, and returns the function that reloads its files (on SIGHUP) and
// the one that releases what it holds (idle connections to an HTTP
// backend). A reload that fails keeps what was loaded before and logs why;
// reload reports whether the ACL file was loaded again, after which the
// broker's subscriptions must be authorized again (Server.Reauthorize).
//
// A CONNECT is checked by each configured authenticator in turn, the first
// that accepts letting the client in (auth.Chain): a JWT ([jwt]), when the
// password is shaped like one; the HTTP backend ([http_auth]); the
// password file; and last, when there is no password file, a step that
// lets clients without a user name in if allow_anonymous is set. Tokens
// come first because they are cheap to tell apart and to check; the
// password file last, because an unknown user costs it a full hash. With
// [jwt] or [http_auth], the grants their credentials carry decide what a
// client may do (auth.WithGrants), and the ACL file decides for the others.
func setupAuth(c *config.Config, opts *broker.Options, logger *slog.Logger) (reload func() bool, stop func(), err error) {
	var (
		pf    *auth.PasswordFile
		acl   *auth.ACL
		jwt   *auth.JWT
		hook  *auth.HTTPHook
		chain []broker.Authenticator
	)
	if c.JWT.Enabled() {
		jwt, err = auth.NewJWT(auth.JWTOptions{
			SecretFile:    c.JWT.SecretFile,
			PublicKeyFile: c.JWT.PublicKeyFile,
			Algorithms:    c.JWT.Algorithms,
			Issuer:        c.JWT.Issuer,
			Audience:      c.JWT.Audience,
			UsernameClaim: c.JWT.UsernameClaim,
			ClientIDClaim: c.JWT.ClientIDClaim,
			Leeway:        c.JWT.Leeway.Duration,
			Logger:        logger,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("jwt: %w", err)
		}
		chain = append(chain, jwt)
		logger.Info("jwt authentication on", "file", jwt.Path(), "algorithms", jwt.Algorithms())
	}
	if c.HTTPAuth.Enabled() {
		hook, err = auth.NewHTTPHook(auth.HTTPHookOptions{
			URL:           c.HTTPAuth.URL,
			CAFile:        c.HTTPAuth.CAFile,
			Timeout:       c.HTTPAuth.Timeout.Duration,
			MaxConcurrent: c.HTTPAuth.MaxConcurrent,
			CacheTTL:      c.HTTPAuth.CacheTTL.Duration,
			Logger:        logger,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("http_auth: %w", err)
		}
		chain = append(chain, hook)
		logger.Info("http authentication on", "url", hook.URL(), "timeout", c.HTTPAuth.Timeout.Duration,
			"max_concurrent", c.HTTPAuth.MaxConcurrent, "cache_ttl", c.HTTPAuth.CacheTTL.Duration)
	}
	if c.PasswordFile != "" {
		if pf, err = auth.LoadPasswordFile(c.PasswordFile); err != nil {
			return nil, nil, fmt.Errorf("password_file: %w", err)
		}
		pf.AllowAnonymous = c.AllowAnonymous
		chain = append(chain, pf)
		// The same users can log in with MQTT 5.0 SCRAM-SHA-512.
		opts.EnhancedAuth = append(opts.EnhancedAuth, pf.SCRAM())
		logger.Info("password file loaded", "file", c.PasswordFile, "users", pf.Len(), "allow_anonymous", c.AllowAnonymous)
	} else if len(chain) > 0 {
		// A password file without users: it lets clients without a user
		// name in when allow_anonymous is set, and refuses the rest.
		chain = append(chain, &auth.PasswordFile{AllowAnonymous: c.AllowAnonymous})
	}
	switch len(chain) {
	case 0:
		if c.AllowAnonymous {
			logger.Warn("no password_file, [jwt] or [http_auth], and allow_anonymous = true: every client is let in")
		} else {
			// Safe without configuration: local tools and a local proxy
			// work, the network is kept out until an operator decides.
			opts.Authenticator = auth.LoopbackOnly()
			logger.Warn("no password_file, [jwt] or [http_auth]: only clients on this machine (loopback addresses) are let in; set allow_anonymous = true to let in every client")
		}
	case 1:
		opts.Authenticator = chain[0]
	default:
		opts.Authenticator = auth.Chain(chain...)
	}

	var next broker.Authorizer
	if c.ACLFile != "" {
		if acl, err = auth.LoadACLFile(c.ACLFile); err != nil {
			return nil, nil, fmt.Errorf("acl_file: %w", err)
		}
		next = acl
		logger.Info("ACL file loaded", "file", c.ACLFile)
	}
	if jwt != nil || hook != nil {
		opts.Authorizer = auth.WithGrants(next)
	} else if next != nil {
		opts.Authorizer = next
	}

	reload = func() (aclReloaded bool) {
		if jwt != nil {
			if err := jwt.Reload(); err != nil {
				logger.Error("jwt key file not reloaded; the previous keys stay", "file", jwt.Path(), "err", err)
			} else {
				logger.Info("jwt key file reloaded", "file", jwt.Path(), "algorithms", jwt.Algorithms())
			}
		}
		if hook != nil {
			if err := hook.Reload(); err != nil {
				logger.Error("http_auth CA file not reloaded; the previous one stays", "file", c.HTTPAuth.CAFile, "err", err)
			} else {
				logger.Info("http_auth reloaded", "ca_file", c.HTTPAuth.CAFile)
			}
		}
		if pf != nil {
			if err := pf.Reload(); err != nil {
				logger.Error("password file not reloaded; the previous one stays", "file", c.PasswordFile, "err", err)
			} else {
				logger.Info("password file reloaded", "file", c.PasswordFile, "users", pf.Len())
			}
		}
		if acl != nil {
			if err := acl.Reload(); err != nil {
				logger.Error("ACL file not reloaded; the previous one stays", "file", c.ACLFile, "err", err)
			} else {
				logger.Info("ACL file reloaded", "file", c.ACLFile)
				aclReloaded = true
			}
		}
		return aclReloaded
	}
	stop = func() {
		if hook != nil {
			hook.Close()
		}
	}
	return reload, stop, nil
}
