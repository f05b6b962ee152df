package main

import (
	"fmt"
	"log/slog"

	"github.com/midgemq/midge/auth"
	"github.com/midgemq/midge/broker"
	"github.com/midgemq/midge/config"
)

// setupAuth loads the password and ACL files that c names into opts, and
// returns the function that reloads them (on SIGHUP). A reload that fails
// keeps what was loaded before and logs why.
func setupAuth(c *config.Config, opts *broker.Options, logger *slog.Logger) (reload func(), err error) {
	var pf *auth.PasswordFile
	var acl *auth.ACL
	if c.PasswordFile != "" {
		if pf, err = auth.LoadPasswordFile(c.PasswordFile); err != nil {
			return nil, fmt.Errorf("password_file: %w", err)
		}
		pf.AllowAnonymous = c.AllowAnonymous
		opts.Authenticator = pf
		// The same users can log in with MQTT 5.0 SCRAM-SHA-512.
		opts.EnhancedAuth = append(opts.EnhancedAuth, pf.SCRAM())
		logger.Info("password file loaded", "file", c.PasswordFile, "users", pf.Len(), "allow_anonymous", c.AllowAnonymous)
	} else {
		logger.Warn("no password_file: every client is let in")
	}
	if c.ACLFile != "" {
		if acl, err = auth.LoadACLFile(c.ACLFile); err != nil {
			return nil, fmt.Errorf("acl_file: %w", err)
		}
		opts.Authorizer = acl
		logger.Info("ACL file loaded", "file", c.ACLFile)
	}
	return func() {
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
			}
		}
	}, nil
}
