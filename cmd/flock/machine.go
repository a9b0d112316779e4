package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/flockvm/flock/diskmodel/osdisk"
	"github.com/flockvm/flock/host"
	"github.com/flockvm/flock/identity"
	"github.com/flockvm/flock/vm/node"
	"github.com/spf13/cobra"
)

// machineFlags are the flags of the commands that run a machine (new and
// join).
type machineFlags struct {
	data      string
	listen    string
	advertise string
	provide   string
	metrics   string
	logLevel  string
}

func (f *machineFlags) add(cmd *cobra.Command, listenDefault string) {
	home, _ := os.UserHomeDir()
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", filepath.Join(home, ".flock_data"), "the machine's data dir (its identity, incarnation, metadata, files)")
	fl.StringVar(&f.listen, "listen", listenDefault, "the address to serve on (host:port)")
	fl.StringVar(&f.advertise, "advertise", "", "the address other machines and clients reach this one at (default: --listen, or this machine's address if --listen names no host)")
	fl.StringVar(&f.provide, "provide", "", "what the machine lends the VM, e.g. cpu:3,disk:32GiB,ram:95% (default: every core, half the RAM and half the disk)")
	fl.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics at http://ADDR/metrics")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error (logs go to stderr)")
}

// machine is a machine process being started: its data dir, held.
type machine struct {
	f      *machineFlags
	dir    string // absolute
	made   bool   // this run created the data dir
	lock   *identity.Lock
	disk   *osdisk.FS
	log    *slog.Logger
	stderr io.Writer
}

// openMachine checks the flags, makes the data dir if needed and takes its
// lock. On failure it prints why and returns the exit status.
func openMachine(f *machineFlags, stderr io.Writer) (*machine, int) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		fmt.Fprintf(stderr, "flock: --log-level %q: want debug, info, warn or error\n", f.logLevel)
		return nil, exitUsage
	}
	if _, _, err := net.SplitHostPort(f.listen); err != nil {
		fmt.Fprintf(stderr, "flock: --listen %q: %v\n", f.listen, err)
		return nil, exitUsage
	}
	dir, err := filepath.Abs(f.data)
	if err != nil {
		fmt.Fprintf(stderr, "flock: --data %q: %v\n", f.data, err)
		return nil, exitUsage
	}
	m := &machine{f: f, dir: dir, stderr: stderr,
		log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		m.made = true
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		fmt.Fprintf(stderr, "flock: data dir: %v\n", err)
		return nil, exitFailed
	}
	if m.lock, err = identity.LockDir(dir); err != nil {
		fmt.Fprintf(stderr, "flock: %v\n", err)
		m.undo()
		return nil, exitFailed
	}
	if m.disk, err = osdisk.Open(dir); err != nil {
		fmt.Fprintf(stderr, "flock: data dir: %v\n", err)
		m.close()
		return nil, exitFailed
	}
	return m, 0
}

// close releases the data dir.
func (m *machine) close() {
	if m.disk != nil {
		m.disk.Close()
	}
	if m.lock != nil {
		m.lock.Unlock()
	}
}

// undo removes what this run left in a data dir that holds no machine (a
// refused join): the lock file, and the dir itself if this run made it.
func (m *machine) undo() {
	m.close()
	_ = os.Remove(filepath.Join(m.dir, identity.LockFile))
	if m.made {
		_ = os.Remove(m.dir)
	}
}

// inspect says what the data dir holds; a dir that cannot serve is
// reported (and its status returned).
func (m *machine) inspect(vmName string) (host.DirState, int) {
	state, name, err := host.Inspect(m.disk)
	switch {
	case err != nil:
		fmt.Fprintf(m.stderr, "flock: %s: %v\n", m.dir, err)
		return 0, exitFailed
	case state == host.DirLeft:
		fmt.Fprintf(m.stderr, "flock: %s holds a machine that left its VM: it must not come back; join with a new data dir\n", m.dir)
		return 0, exitFailed
	case state == host.DirPartial:
		fmt.Fprintf(m.stderr, "flock: %s holds part of a machine (flock new or join stopped midway): remove it and start again\n", m.dir)
		return 0, exitFailed
	case state == host.DirMachine && name != vmName:
		fmt.Fprintf(m.stderr, "flock: %s holds a machine of VM %q, not %q\n", m.dir, name, vmName)
		return 0, exitUsage
	}
	return state, 0
}

// provide resolves --provide against this machine.
func (m *machine) provide() (node.Resources, int) {
	var r node.Resources
	if m.f.provide != "" {
		var err error
		if r, err = node.ParseResources(m.f.provide); err != nil {
			fmt.Fprintf(m.stderr, "flock: %v\n", err)
			return r, exitUsage
		}
	}
	r, err := host.ResolveProvide(r, m.dir)
	if err != nil {
		fmt.Fprintf(m.stderr, "flock: %v\n", err)
		return r, exitFailed
	}
	return r, 0
}

// advertised is the address to tell others: --advertise, or --listen
// completed with this machine's address on the route toward.
func (m *machine) advertised(toward string) (string, int) {
	if m.f.advertise != "" {
		if _, _, err := net.SplitHostPort(m.f.advertise); err != nil {
			fmt.Fprintf(m.stderr, "flock: --advertise %q: %v\n", m.f.advertise, err)
			return "", exitUsage
		}
		return m.f.advertise, 0
	}
	a, err := host.DefaultAdvertise(m.f.listen, toward)
	if err != nil {
		fmt.Fprintf(m.stderr, "flock: %v\n", err)
		return "", exitUsage
	}
	return a, 0
}

// serve runs the machine until SIGINT or SIGTERM, it fails for good or it
// leaves the VM; ready prints what the user needs once it listens.
func (m *machine) serve(provide node.Resources, advertise string, ready func(addr string)) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := host.Serve(ctx, m.disk, host.ServeConfig{Listen: m.f.listen, Advertise: advertise, Provide: provide,
		Metrics: m.f.metrics, Logger: m.log, Ready: func(a, metrics net.Addr) {
			if metrics != nil {
				m.log.Info("metrics", "url", "http://"+metrics.String()+"/metrics")
			}
			if ready != nil {
				ready(a.String())
			}
		}})
	switch {
	case err == nil:
		return 0
	case errors.Is(err, node.ErrLeft):
		fmt.Fprintf(m.stderr, "flock: the machine left the VM; %s must not serve again\n", m.dir)
		return 0
	}
	fmt.Fprintf(m.stderr, "flock: %v\n", err)
	return exitFailed
}

// quoteArg quotes a word for a shell if it needs it.
func quoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
