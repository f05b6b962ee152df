package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// editMu serializes SetPassword and DeletePassword within the process, so
// that two edits of one file cannot lose each other's change. Other
// processes editing the same file are not excluded.
var editMu sync.Mutex

// SetPassword adds user to the password file at path, or changes the
// user's password, hashing password with HashPassword and the given
// iteration count (0 or less means DefaultIterations). A missing file is
// created with mode 0600; an existing file keeps its mode, its comments and
// its other lines in their order. The file is replaced atomically: the new
// contents are written to a temporary file in the same directory, synced,
// then renamed over it, so a broker reloading it sees the old file or the
// new one. The user name must not be empty, contain ':', a line break or
// U+0000, start with '#' or white space, or end with white space
// (ErrInvalidUsername). An existing file with a malformed line is left
// alone and returns its *ParseError.
func SetPassword(path, user, password string, iterations int) error {
	if !storableUsername(user) {
		return fmt.Errorf("auth: set password of %q in %s: %w", user, path, ErrInvalidUsername)
	}
	enc, err := HashPassword(password, iterations)
	if err != nil {
		return err
	}
	editMu.Lock()
	defer editMu.Unlock()
	return editPasswordFile(path, true, func(ls []passwordLine) ([]passwordLine, error) {
		line := passwordLine{raw: user + ":" + enc, user: user, hash: enc}
		for i := range ls {
			if ls[i].user == user {
				ls[i] = line
				return ls, nil
			}
		}
		return append(ls, line), nil
	})
}

// DeletePassword removes user from the password file at path, keeping the
// other lines, the comments and the file's mode, and replacing the file
// atomically as SetPassword does. It returns ErrUserNotFound, wrapped, when
// the user is not in the file, and an error wrapping fs.ErrNotExist when the
// file does not exist.
func DeletePassword(path, user string) error {
	editMu.Lock()
	defer editMu.Unlock()
	return editPasswordFile(path, false, func(ls []passwordLine) ([]passwordLine, error) {
		for i := range ls {
			if ls[i].user == user {
				return append(ls[:i], ls[i+1:]...), nil
			}
		}
		return nil, fmt.Errorf("auth: delete %q from %s: %w", user, path, ErrUserNotFound)
	})
}

// storableUsername reports whether user can be written as the first field
// of a password file line and read back unchanged.
func storableUsername(user string) bool {
	switch {
	case user == "", user[0] == '#',
		strings.ContainsAny(user, ":\r\n\x00"),
		strings.TrimSpace(user) != user:
		return false
	}
	return true
}

// editPasswordFile reads the password file at path (or, when create is set
// and it does not exist, starts from no lines), passes its lines to edit,
// and writes the result atomically. The caller holds editMu.
func editPasswordFile(path string, create bool, edit func([]passwordLine) ([]passwordLine, error)) error {
	// Edit the file a symbolic link points to, rather than replacing the
	// link with a regular file.
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	var mode fs.FileMode = 0o600
	var info fs.FileInfo
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		info, err = os.Stat(path)
		if err != nil {
			return fmt.Errorf("auth: edit password file: %w", err)
		}
		mode = info.Mode().Perm()
	case errors.Is(err, fs.ErrNotExist) && create:
	default:
		return fmt.Errorf("auth: edit password file: %w", err)
	}
	// Parse first: an edit must not turn a file the broker cannot load
	// into another one, nor hide its error.
	if _, err := parsePasswords(path, data); err != nil {
		return err
	}
	var ls []passwordLine
	for _, raw := range lines(data) {
		l, _ := splitPasswordLine(raw)
		ls = append(ls, l)
	}
	ls, err = edit(ls)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.raw)
		b.WriteByte('\n')
	}
	return writeFileAtomic(path, []byte(b.String()), mode, info)
}

// writeFileAtomic replaces the file at path with data: it writes a
// temporary file in the same directory with the given mode (and, when old
// is the replaced file's FileInfo and the process may, its owner), syncs it,
// renames it over path and syncs the directory.
func writeFileAtomic(path string, data []byte, mode fs.FileMode, old fs.FileInfo) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("auth: write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(mode); err != nil {
		return fmt.Errorf("auth: write %s: %w", path, err)
	}
	if old != nil {
		keepOwner(f, old)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("auth: write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("auth: write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("auth: write %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("auth: write %s: %w", path, err)
	}
	// The rename is durable only once the directory is synced. The new file
	// is in place already, so a failure here is not reported.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
