package scenarios

import (
	"errors"
	"fmt"

	"github.com/flockvm/flock/checker"
	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/sim"
	"github.com/flockvm/flock/vm/raftkv"
)

// kvServer drives one raftkv replica on a simulated machine: it opens the
// server at every boot, ticks it, reopens it after a disk error (a process
// restart over the same disk), and fail-stops the machine when its persisted
// state is corrupt, as an operator-less production machine would.
type kvServer struct {
	run     *kvRun
	id      sim.NodeID
	peers   []sim.NodeID
	m       *sim.Machine
	srv     *raftkv.Server
	boots   uint64 // Opens so far: the checker's Boot of applied entries
	reopens int
	// failStop, once set, is why this machine stopped serving for good.
	failStop string
}

func (s *kvServer) boot(m *sim.Machine) netmodel.Receiver {
	s.m, s.srv = m, nil
	if s.failStop == "" {
		s.open()
	}
	m.After(kvTick, "kv.server.tick", s.tick)
	return netmodel.ReceiverFunc(s.receive)
}

func (s *kvServer) open() {
	cfg := raftkv.Config{
		ID:        s.id,
		Peers:     s.peers,
		Disk:      s.m.Disk(),
		Dir:       "kv",
		Transport: s.m,
		Rand:      s.m.Rand(),
		Bugs:      s.run.bugs,
		OnApply:   s.onApply(s.boots),
		Buggify:   s.m.Buggify,
	}
	s.run.shape.limits.apply(&cfg)
	srv, err := raftkv.Open(cfg)
	s.boots++
	switch {
	case err == nil:
		s.srv = srv
	case errors.Is(err, raftkv.ErrCorrupt):
		s.failStop = err.Error()
		s.m.Record("fail-stop: %v", err)
	default:
		// A transient disk error (read error, full disk): try again at the
		// next tick, like a supervisor restarting the process.
		s.m.Record("open failed: %v", err)
	}
}

func (s *kvServer) tick() {
	if s.failStop != "" {
		return
	}
	if s.srv != nil && s.srv.Err() != nil {
		err := s.srv.Err()
		_ = s.srv.Close()
		s.srv = nil
		if errors.Is(err, raftkv.ErrCorrupt) {
			// The server found that its disk lost what it had
			// acknowledged: serving again would be unsafe.
			s.failStop = err.Error()
			s.m.Record("fail-stop: %v", err)
			return
		}
		s.m.Record("server failed: %v", err)
		s.reopens++
	}
	if s.srv == nil {
		s.open()
	}
	if s.srv != nil {
		s.srv.Tick()
	}
	s.m.After(kvTick, "kv.server.tick", s.tick)
}

// restartProcess closes the server and opens it again over the same disk,
// as a process restart would.
func (s *kvServer) restartProcess() {
	_ = s.srv.Close()
	s.srv = nil
	s.m.Record("restart: process")
	s.open()
}

func (s *kvServer) receive(from netmodel.NodeID, payload []byte) {
	if s.srv != nil {
		s.srv.Receive(from, payload)
	}
}

// onApply records every applied entry for the log invariants. Only executed
// requests carry their request id: a duplicate answered from the session
// table is the system working, not a second application.
func (s *kvServer) onApply(boot uint64) func(raftkv.ApplyEvent) {
	return func(ev raftkv.ApplyEvent) {
		if ev.Kind == raftkv.ApplySnapshot {
			return
		}
		a := checker.Applied{Index: ev.Index, Term: ev.Term, Digest: ev.Digest, Boot: boot}
		if ev.Kind == raftkv.ApplyExecuted && ev.Op != raftkv.OpRegister {
			a.Request = checker.RequestID{Session: ev.Session, Seq: ev.Seq}
			a.Identity = kvIdentity(ev)
		}
		id := uint64(s.id)
		s.run.applied[id] = append(s.run.applied[id], a)
	}
}

// kvIdentity names the logical operation an executed entry carries: the
// workload writes a value unique to each put and CAS ("c<client>-<n>"),
// whatever session and sequence number carried it. Deletes carry no value
// and no identity.
func kvIdentity(ev raftkv.ApplyEvent) string {
	if (ev.Op == raftkv.OpPut || ev.Op == raftkv.OpCAS) && ev.Value != "" {
		return ev.Op.String() + " " + ev.Value
	}
	return ""
}

func (s *kvServer) String() string { return fmt.Sprintf("server %v", s.id) }
