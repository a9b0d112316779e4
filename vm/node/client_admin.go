package node

import (
	"errors"
	"fmt"
	"time"

	"github.com/flockvm/flock/vm/raftkv"
	"github.com/flockvm/flock/vm/sys"
)

// Admin requests: join tokens, users, a machine's departure. Only the
// admin user may make them.

// ErrLeft: the machine left the VM (flock leave); it stops for good and its
// data dir must not rejoin.
var ErrLeft = errors.New("node: the machine left the VM")

// Bounds of a token request.
const (
	tokenUsesMax = 1000
	tokenTTLMax  = 365 * 24 * time.Hour
)

func (n *Node) denyUnlessAdmin(s *clientSession, seq uint64, what string) bool {
	if s.user == AdminUser {
		return false
	}
	n.answer(s, seq, &ClientMsg{Code: CodeDenied, Text: fmt.Sprintf("%s: only user %q may, not %q", what, AdminUser, s.user)})
	return true
}

// noCA is the answer of a machine without the VM's certificate authority.
func (n *Node) noCA() *ClientMsg {
	return &ClientMsg{Code: CodeRefused, Text: fmt.Sprintf(
		"machine %v does not hold the VM's certificate authority: ask the machine that made the VM (flock new)", n.cfg.ID)}
}

func (n *Node) clientToken(s *clientSession, m *ClientMsg) {
	if n.denyUnlessAdmin(s, m.Seq, "creating a join token") {
		return
	}
	if n.clients.cfg.Admin == nil {
		n.answer(s, m.Seq, n.noCA())
		return
	}
	ttl := time.Duration(m.TTL) * time.Second
	if m.Uses == 0 || m.Uses > tokenUsesMax || m.TTL == 0 || ttl > tokenTTLMax {
		n.answer(s, m.Seq, &ClientMsg{Code: CodeBadRequest, Text: fmt.Sprintf(
			"a token needs 1 to %d uses and a lifetime of 1s to %v; got %d uses, %ds", tokenUsesMax, tokenTTLMax, m.Uses, m.TTL)})
		return
	}
	tok, err := n.clients.cfg.Admin.CreateToken(int(m.Uses), ttl)
	if err != nil {
		n.answer(s, m.Seq, &ClientMsg{Code: CodeRefused, Text: err.Error()})
		return
	}
	n.answer(s, m.Seq, &ClientMsg{Text: tok})
}

func (n *Node) clientUserAdd(s *clientSession, m *ClientMsg) {
	if n.denyUnlessAdmin(s, m.Seq, "adding a user") {
		return
	}
	if m.Text == sys.UserRoot {
		// The filesystem's superuser is the admin (fsUser): a user of
		// that name would hold every file.
		n.answer(s, m.Seq, &ClientMsg{Code: CodeBadRequest, Text: fmt.Sprintf("user name %q is reserved: the admin acts as the filesystem's %s", m.Text, sys.UserRoot)})
		return
	}
	if n.clients.cfg.Admin == nil {
		n.answer(s, m.Seq, n.noCA())
		return
	}
	cert, err := n.clients.cfg.Admin.AddUser(m.Text, m.Data)
	if err != nil {
		n.answer(s, m.Seq, &ClientMsg{Code: CodeBadRequest, Text: err.Error()})
		return
	}
	n.answer(s, m.Seq, &ClientMsg{Data: cert})
}

// clientLeave takes this machine out of the VM: its membership record
// moves from alive to left (a CAS at this incarnation), then the node
// stops for good (Err is ErrLeft). A voter cannot leave (the voters are
// fixed), nor a machine with processes or threads.
func (n *Node) clientLeave(s *clientSession, m *ClientMsg) {
	seq := m.Seq
	if n.denyUnlessAdmin(s, seq, "making a machine leave") {
		return
	}
	cs := &n.clients
	for _, v := range n.cfg.Voters {
		if v == n.cfg.ID {
			n.answer(s, seq, &ClientMsg{Code: CodeRefused, Text: fmt.Sprintf(
				"machine %v is a metadata voter (%v): voters cannot leave until voter changes exist", n.cfg.ID, n.cfg.Voters)})
			return
		}
	}
	if busy := n.busyText(); busy != "" {
		n.answer(s, seq, &ClientMsg{Code: CodeRefused, Text: fmt.Sprintf("machine %v %s: kill them first", n.cfg.ID, busy)})
		return
	}
	if !n.joined {
		n.answer(s, seq, n.notJoined())
		return
	}
	if cs.leaving {
		n.answer(s, seq, &ClientMsg{Code: CodeUnavailable, Text: fmt.Sprintf("machine %v is already leaving", n.cfg.ID)})
		return
	}
	cs.leaving = true
	alive := machineRecord{Incarnation: n.inc, State: stateAlive, Provide: n.cfg.Provide}
	left := alive
	left.State = stateLeft
	key, inc := machineKey(n.cfg.ID), n.inc
	n.pushMeta("client-leave", true, func(c *raftkv.Client, done func(raftkv.Result)) error {
		return c.CAS(key, alive.encode(), true, left.encode(), done)
	}, func(res raftkv.Result) {
		switch {
		case n.inc != inc:
			cs.leaving = false
			n.answer(s, seq, &ClientMsg{Code: CodeUnavailable, Text: fmt.Sprintf("machine %v restarted as a new incarnation meanwhile: try again", n.cfg.ID)})
		case res.Err != nil:
			cs.leaving = false
			n.answer(s, seq, &ClientMsg{Code: CodeUnavailable, Text: fmt.Sprintf("recording the departure: %v", res.Err)})
		case !res.Swapped:
			cs.leaving = false
			n.answer(s, seq, &ClientMsg{Code: CodeRefused, Text: fmt.Sprintf("machine %v's membership record changed meanwhile", n.cfg.ID)})
		default:
			n.answer(s, seq, &ClientMsg{Text: fmt.Sprintf("machine %v left the VM", n.cfg.ID)})
			n.cfg.Record("left the VM at incarnation %d", inc)
			n.failure = ErrLeft
		}
	})
}

// busyText says what runs here, or "" if nothing does.
func (n *Node) busyText() string {
	running := 0
	for _, pid := range n.table.PIDs() {
		if n.isRunning(pid) {
			running++
		}
	}
	if running == 0 && n.Threads() == 0 {
		return ""
	}
	return fmt.Sprintf("is home to %d running processes and runs %d threads", running, n.Threads())
}
