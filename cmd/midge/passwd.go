package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/midgemq/midge/auth"
)

// runPasswd manages a password file, as mosquitto_passwd does:
//
//	midge passwd FILE USER            add USER or change its password, read from stdin
//	midge passwd -b FILE USER PASS    the same, with the password as an argument
//	midge passwd -D FILE USER         delete USER
func runPasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	batch := fs.Bool("b", false, "take the password from the command line")
	del := fs.Bool("D", false, "delete the user")
	iterations := fs.Int("iterations", auth.DefaultIterations, "PBKDF2 iterations of a new hash")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage:
  midge passwd FILE USER           add USER, or change its password (read from stdin)
  midge passwd -b FILE USER PASS   the same, with the password on the command line
  midge passwd -D FILE USER        delete USER

The file is created if missing (mode 0600). Mosquitto's mosquitto_passwd
files are read and written unchanged.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	want := 2
	if *batch {
		want = 3
	}
	if fs.NArg() != want || (*batch && *del) {
		fs.Usage()
		return exitUsage
	}
	file, user := fs.Arg(0), fs.Arg(1)
	if *del {
		if err := auth.DeletePassword(file, user); err != nil {
			printErr(stderr, err)
			return exitError
		}
		return exitOK
	}
	password := ""
	if *batch {
		password = fs.Arg(2)
	} else {
		fmt.Fprintf(stdout, "Password for %s: ", user)
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			printErr(stderr, fmt.Errorf("read password: %w", err))
			return exitError
		}
		fmt.Fprintln(stdout)
		password = strings.TrimRight(line, "\r\n")
	}
	if password == "" {
		printErr(stderr, errors.New("empty password"))
		return exitError
	}
	if err := auth.SetPassword(file, user, password, *iterations); err != nil {
		printErr(stderr, err)
		return exitError
	}
	return exitOK
}

// stdin is the password source of runPasswd; tests replace it.
var stdin io.Reader = os.Stdin
