//go:build !linux

package main

import (
	"errors"
	"os/exec"
	"time"
)

// errNotLinux is returned by what reads /proc.
var errNotLinux = errors.New("benchcompare: needs Linux's /proc")

func killWithParent(*exec.Cmd) {}

func raiseFileLimit() (uint64, error) { return 0, errNotLinux }

func residentBytes(int) (int64, error) { return 0, errNotLinux }

func openFiles(int) (int, error) { return 0, errNotLinux }

func cpuTime(int) (time.Duration, error) { return 0, errNotLinux }

func cpuModel() string { return "unknown" }

func loadAverage() string { return "unknown" }

func memTotal() string { return "unknown" }

func kernelRelease() string { return "unknown" }
