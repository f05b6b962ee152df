//go:build !unix || aix || (solaris && !illumos)

package main

// lockDataDir does nothing on systems without syscall.Flock (Windows, Plan 9,
// AIX, Solaris, js and wasip1): nothing keeps two midge processes from
// sharing a data directory there.
func lockDataDir(string) (unlock func() error, err error) {
	return func() error { return nil }, nil
}
