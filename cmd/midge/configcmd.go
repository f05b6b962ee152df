package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/midgemq/midge/config"
)

const configUsage = `Usage:
  midge config defaults     print the complete default configuration file
  midge config check FILE   check a configuration file
`

// runConfig runs "midge config SUBCOMMAND".
func runConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "midge: config needs a subcommand\n\n%s", configUsage)
		return exitUsage
	}
	switch args[0] {
	case "defaults":
		return configDefaults(args[1:], stdout, stderr)
	case "check":
		return configCheck(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, configUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "midge: unknown config subcommand %q\n\n%s", args[0], configUsage)
	return exitUsage
}

// configDefaults prints config.DefaultsFile.
func configDefaults(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("config defaults", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: midge config defaults\n\nPrint the complete default configuration file.\n")
	}
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	fmt.Fprint(stdout, config.DefaultsFile())
	return exitOK
}

// configCheck loads each file given and reports it ok or prints its
// problems.
func configCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: midge config check FILE...\n\nCheck configuration files: print \"FILE: ok\" for each valid one, the problems of the others.\n")
	}
	if err := fs.Parse(args); err != nil {
		return parseExit(err)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	code := exitOK
	for _, file := range fs.Args() {
		if _, err := config.Load(file); err != nil {
			printErr(stderr, err)
			code = exitError
			continue
		}
		fmt.Fprintf(stdout, "%s: ok\n", file)
	}
	return code
}

// parseExit returns the exit code for an error of flag.FlagSet.Parse: 0 for
// -h, which printed the usage, and the usage code for the rest.
func parseExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}
