package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flockvm/flock/host"
	"github.com/flockvm/flock/identity"
	"github.com/flockvm/flock/vm/node"
	"github.com/spf13/cobra"
)

// Exit statuses of the cluster commands, beyond those of main.go
// (sysexits.h).
const (
	exitFailed      = 1   // the VM refused: no such process, a machine that may not leave
	exitUnavailable = 69  // the VM cannot be reached, or cannot serve now (no quorum)
	exitSoftware    = 70  // a program trapped or was lost with a machine (as exitTrap)
	exitNoPerm      = 77  // the user may not do this
	exitInterrupted = 130 // flock run was interrupted and killed its process
)

// Environment variables that stand for --vm and --credential.
const (
	envVM         = "FLOCK_VM"
	envCredential = "FLOCK_CREDENTIAL"
)

// clientFlags are the flags of every command that talks to a VM.
type clientFlags struct {
	vm         string
	credential string
	timeout    time.Duration
}

// add registers the flags; fromEnv says whether --vm defaults to $FLOCK_VM
// (not for flock run, whose default is the embedded local VM).
func (f *clientFlags) add(cmd *cobra.Command, fromEnv bool) {
	fl := cmd.Flags()
	if fromEnv {
		fl.StringVar(&f.vm, "vm", os.Getenv(envVM), "the VM as NAME@ADDR: its name and a machine's address (env "+envVM+")")
	} else {
		fl.StringVar(&f.vm, "vm", "", "run on the VM NAME@ADDR (its name and a machine's address) instead of an embedded local VM")
	}
	fl.StringVar(&f.credential, "credential", os.Getenv(envCredential),
		"the user's credential file (env "+envCredential+"; default: the user config dir's flock/NAME.pem)")
	fl.DurationVar(&f.timeout, "timeout", host.ClientRequestTimeoutDefault, "how long to retry a request the VM cannot serve yet")
}

// splitVM reads NAME@ADDR.
func splitVM(s string) (name, addr string, err error) {
	name, addr, ok := strings.Cut(s, "@")
	if !ok || !identity.ValidVMName(name) {
		return "", "", fmt.Errorf("%q: want NAME@ADDR (a VM name and a machine's host:port)", s)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", "", fmt.Errorf("%q: the address: %w", s, err)
	}
	return name, addr, nil
}

// credentialPath is where the credential is: the flag, else the user's
// config dir.
func (f *clientFlags) credentialPath(vmName string) string {
	if f.credential != "" {
		return f.credential
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "flock", vmName+".pem")
}

// dial connects to the VM of the flags; what went wrong is printed and
// returned as an exit status.
func (f *clientFlags) dial(stderr io.Writer) (*host.Client, int) {
	if f.vm == "" {
		fmt.Fprintf(stderr, "flock: no VM: give --vm NAME@ADDR (or set %s)\n", envVM)
		return nil, exitUsage
	}
	name, addr, err := splitVM(f.vm)
	if err != nil {
		fmt.Fprintf(stderr, "flock: --vm %v\n", err)
		return nil, exitUsage
	}
	path := f.credentialPath(name)
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "flock: no credential for VM %s: %v\n(give --credential FILE: flock new wrote the admin's in its data dir, identity/admin.pem; flock user add makes others)\n", name, err)
		return nil, exitNoInput
	}
	cred, err := identity.DecodeCredential(data, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "flock: %s: %v\n", path, err)
		return nil, exitNoInput
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	c, err := host.DialClient(ctx, host.ClientConfig{VM: name, Addr: addr, Credential: cred, RequestTimeout: f.timeout})
	if err != nil {
		fmt.Fprintf(stderr, "flock: cannot reach VM %s at %s: %v\n", name, addr, err)
		return nil, exitUnavailable
	}
	return c, 0
}

// requestStatus prints a failed request and returns its exit status.
func requestStatus(stderr io.Writer, what string, err error) int {
	fmt.Fprintf(stderr, "flock: %s: %v\n", what, err)
	var re *host.RequestError
	if !errors.As(err, &re) {
		return exitUnavailable
	}
	switch re.Code {
	case node.CodeDenied:
		return exitNoPerm
	case node.CodeUnavailable:
		return exitUnavailable
	case node.CodeBadRequest:
		return exitAsm
	}
	return exitFailed
}

// withClient runs fn with a client of the flags' VM and returns its exit
// status.
func (f *clientFlags) withClient(stderr io.Writer, fn func(ctx context.Context, c *host.Client) int) error {
	c, status := f.dial(stderr)
	if c == nil {
		return exitWith(status)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout+5*time.Second)
	defer cancel()
	status = fn(ctx, c)
	c.Flush(time.Second)
	return exitWith(status)
}
