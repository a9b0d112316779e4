package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/flockvm/flock/host"
	"github.com/flockvm/flock/vm/lang/gen"
	"github.com/flockvm/flock/vm/proc"
	"github.com/flockvm/flock/vm/sys"
)

// The --vm branch of flock run: the program runs on a VM as a process
// homed on the machine at the address, as the credential's user; its
// output streams back and its exit status is flock's.

// takeClientFlags consumes --vm, --credential and --timeout placed right
// after the program file (flock run prog.fl --vm NAME@ADDR args...), as the
// README writes it; the program's own arguments follow them.
func takeClientFlags(cf *clientFlags, args []string) ([]string, error) {
	prog, rest := args[0], args[1:]
	for len(rest) > 0 {
		name, val, inline := strings.Cut(rest[0], "=")
		var dst *string
		switch name {
		case "--vm":
			dst = &cf.vm
		case "--credential":
			dst = &cf.credential
		case "--":
			return append([]string{prog}, rest[1:]...), nil
		default:
			return append([]string{prog}, rest...), nil
		}
		if !inline {
			if len(rest) < 2 {
				return nil, fmt.Errorf("%s needs a value", name)
			}
			val, rest = rest[1], rest[1:]
		}
		*dst = val
		rest = rest[1:]
	}
	return []string{prog}, nil
}

// runRemote runs the program on the VM if --vm names one; ok is false for
// the embedded local VM.
func runRemote(cf *clientFlags, opt proc.LoadOptions, args []string, stdout, stderr io.Writer) (status int, ok bool) {
	args, err := takeClientFlags(cf, args)
	if err != nil {
		fmt.Fprintf(stderr, "flock: run: %v\n", err)
		return exitUsage, true
	}
	if cf.vm == "" {
		return 0, false
	}
	prog, status := load(args[0], opt, stderr)
	if prog == nil {
		return status, true
	}
	c, status := cf.dial(stderr)
	if c == nil {
		return status, true
	}
	defer c.Close()

	// Ctrl-C (or SIGTERM) kills the process; a second one gives up at once.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pids := make(chan uint64, 1)
	killed := make(chan struct{})
	go func() {
		var pid uint64
		select {
		case pid = <-pids:
		case <-ctx.Done():
			return
		}
		select {
		case <-sigs:
		case <-ctx.Done():
			return
		}
		close(killed)
		fmt.Fprintf(stderr, "flock: killing process %d\n", pid)
		go func() { _ = c.Kill(ctx, pid) }()
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	st, err := c.Run(ctx, prog, args[1:], stdout, func(pid uint64) { pids <- pid })
	interrupted := false
	select {
	case <-killed:
		interrupted = true
	default:
	}
	switch {
	case err != nil && interrupted && ctx.Err() != nil:
		fmt.Fprintln(stderr, "flock: interrupted")
		return exitInterrupted, true
	case err != nil:
		var re *host.RequestError
		switch {
		case errors.As(err, &re):
			return requestStatus(stderr, "run", err), true
		case errors.Is(err, host.ErrUnknown):
			fmt.Fprintf(stderr, "flock: run: %v\n", err)
			return exitUnavailable, true
		}
		fmt.Fprintf(stderr, "flock: %v\n", err)
		return exitSoftware, true
	case st.Trap != nil:
		if st.Trap.PC >= 0 {
			st.Trap.Where = gen.Where(prog, st.Trap.PC)
		}
		fmt.Fprintf(stderr, "flock: %v\n", st.Trap)
		if interrupted && st.Trap.Kind == sys.TrapKilled {
			return exitInterrupted, true
		}
		return exitSoftware, true
	case st.Lost != nil:
		fmt.Fprintf(stderr, "flock: %v\n", st.Lost)
		return exitSoftware, true
	}
	return int(st.Code & 0xff), true
}
