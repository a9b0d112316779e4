package node

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/flockvm/flock/netmodel"
	"github.com/flockvm/flock/vm/raftkv"
	"github.com/flockvm/flock/vm/sys"
)

// Admin requests: join tokens, users, a machine's departure. Only the
// admin user may make them.

// ErrLeft: the machine left the VM (flock leave); it stops for good and its
// data dir must not rejoin.
var ErrLeft = errors.New("node: the machine left the VM")

// ErrAdminUnavailable wraps an Admin's refusal that passes (its machine
// has not read the VM's certificate authority yet): the client is answered
// unavailable and tries again.
var ErrAdminUnavailable = errors.New("node: the VM's issuer is not available on this machine yet")

// adminErr is the answer to an Admin's error.
func adminErr(err error, code ReplyCode) *ClientMsg {
	if errors.Is(err, ErrAdminUnavailable) {
		code = CodeUnavailable
	}
	return &ClientMsg{Code: code, Text: err.Error()}
}

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

// noCA is the answer of a machine without an Admin (one that has not yet
// read the VM's certificate authority answers through its Admin).
func (n *Node) noCA() *ClientMsg {
	return &ClientMsg{Code: CodeRefused, Text: fmt.Sprintf(
		"machine %v does not hold the VM's certificate authority", n.cfg.ID)}
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
	g, err := n.clients.cfg.Admin.CreateToken(int(m.Uses), ttl)
	if err != nil {
		n.answer(s, m.Seq, adminErr(err, CodeRefused))
		return
	}
	if g.Key == "" {
		n.answer(s, m.Seq, &ClientMsg{Text: g.Token})
		return
	}
	seq := m.Seq
	n.pushClientMeta(s, seq, "client-token", func(c *raftkv.Client, done func(raftkv.Result)) error { return c.Put(g.Key, g.Value, done) },
		func(res raftkv.Result) {
			if res.Err != nil {
				n.answer(s, seq, &ClientMsg{Code: CodeUnavailable, Text: fmt.Sprintf("recording the token in the metadata store: %v", res.Err)})
				return
			}
			n.answer(s, seq, &ClientMsg{Text: g.Token})
		})
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
		n.answer(s, m.Seq, adminErr(err, CodeBadRequest))
		return
	}
	n.answer(s, m.Seq, &ClientMsg{Data: cert})
}

// clientLeave takes this machine out of the VM: a voter of the metadata
// group first asks to be replaced (m/leave/<id>) and waits until the
// configuration no longer counts it as a voter; then its membership record
// moves from alive to left (a CAS at this incarnation), and the node stops
// for good (Err is ErrLeft). A machine with processes or threads cannot
// leave, nor the group's only member.
func (n *Node) clientLeave(s *clientSession, m *ClientMsg) {
	seq := m.Seq
	if n.denyUnlessAdmin(s, seq, "making a machine leave") {
		return
	}
	cs := &n.clients
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
	if !n.isVoter() {
		cs.leaving = true
		n.recordLeft(s, seq)
		return
	}
	if n.onlyMember() {
		n.answer(s, seq, n.onlyMemberText())
		return
	}
	cs.leaving = true
	n.requestVoterLeave(s, seq)
}

// Bounds of a voter's departure.
const (
	// voterLeavePollsMax: membership polls a voter waits to be replaced
	// before its leave is answered "try again".
	voterLeavePollsMax = 100
)

// voterLeave is a voter's departure waiting for its replacement.
type voterLeave struct {
	s        *clientSession
	seq      uint64
	inc      uint64
	deadline uint64 // in ticks
	asked    bool   // m/leave/<id> is written
}

// requestVoterLeave writes the departure request the deciding node acts
// on, then waits for the configuration (tickVoterLeave).
func (n *Node) requestVoterLeave(s *clientSession, seq uint64) {
	l := &voterLeave{s: s, seq: seq, inc: n.inc, deadline: n.ticks + voterLeavePollsMax*n.cfg.MembershipPollTicks}
	n.vs.leave = l
	key, val := leaveKey(n.cfg.ID), strconv.FormatUint(n.inc, 10)
	n.cfg.Record("leaving: asking for a replacement as metadata voter")
	n.pushMeta("leave-request", true, func(c *raftkv.Client, done func(raftkv.Result)) error { return c.Put(key, val, done) },
		func(res raftkv.Result) {
			if n.vs.leave != l {
				return
			}
			if res.Err != nil {
				n.endVoterLeave(&ClientMsg{Code: CodeUnavailable, Text: fmt.Sprintf("asking for a replacement: %v", res.Err)})
				return
			}
			l.asked = true
		})
}

// tickVoterLeave goes on with a voter's departure once the configuration
// read last no longer counts it as a voter, or gives up at its deadline
// (the request stays: a later leave finds the machine replaced).
func (n *Node) tickVoterLeave() {
	l := n.vs.leave
	switch {
	case l == nil:
	case l.inc != n.inc:
		n.endVoterLeave(&ClientMsg{Code: CodeUnavailable, Text: fmt.Sprintf("machine %v restarted as a new incarnation meanwhile: try again", n.cfg.ID)})
	case n.onlyMember():
		n.endVoterLeave(n.onlyMemberText())
	case l.asked && !n.isVoter():
		n.vs.leave = nil
		n.cfg.Record("leaving: replaced as metadata voter (%v)", n.vs.conf)
		n.recordLeft(l.s, l.seq)
	case n.ticks >= l.deadline:
		n.endVoterLeave(&ClientMsg{Code: CodeUnavailable, Text: fmt.Sprintf(
			"machine %v is still a metadata voter (%v): no replacement yet; try again", n.cfg.ID, n.vs.conf)})
	}
}

// onlyMember reports whether this machine is the metadata group's only
// member as last read: nothing could replace it.
func (n *Node) onlyMember() bool {
	conf := n.vs.conf
	return conf.Index > 0 && slices.Equal(conf.Members(), []netmodel.NodeID{n.cfg.ID})
}

func (n *Node) onlyMemberText() *ClientMsg {
	return &ClientMsg{Code: CodeRefused, Text: fmt.Sprintf(
		"machine %v is the metadata group's only member (%v): another machine must join first", n.cfg.ID, n.vs.conf)}
}

func (n *Node) endVoterLeave(m *ClientMsg) {
	l := n.vs.leave
	n.vs.leave, n.clients.leaving = nil, false
	n.answer(l.s, l.seq, m)
}

// recordLeft moves this incarnation's record from alive to left, answers,
// and stops the node.
func (n *Node) recordLeft(s *clientSession, seq uint64) {
	cs := &n.clients
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
