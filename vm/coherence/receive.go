package coherence

import (
	"github.com/flockvm/flock/netmodel"
)

// Receive takes one payload addressed to this machine's memory service.
// The payload is untrusted: garbage is counted and dropped.
func (a *Agent) Receive(from netmodel.NodeID, payload []byte) {
	a.begin()
	defer a.end()
	a.stats.PayloadsReceived++
	if from == 0 || from == a.cfg.Self {
		a.stats.DecodeErrors++
		return
	}
	// The messages are decoded into a scratch the agent reuses: a handler
	// that keeps a message keeps a copy of it (stash, graceFwd).
	env, err := decodeEnvelopeInto(payload, a.cfg.PageBytes, a.recvMsgs)
	if env.msgs != nil && cap(env.msgs) <= msgsPerPayloadMax {
		defer func() { a.recvMsgs = clear0(env.msgs) }()
	}
	if err != nil {
		a.stats.DecodeErrors++
		return
	}
	pr := a.peer(from)
	if env.fromInc < pr.deadBelow {
		a.stats.StaleIncarnation++
		markStaleIncarnation.Hit()
		return
	}
	a.learnIncarnation(pr, env.fromInc)
	if env.toInc != 0 && env.toInc != a.cfg.Incarnation {
		// Meant for an earlier incarnation of this machine: tell the
		// sender who answers now.
		a.stats.StaleIncarnation++
		markStaleIncarnation.Hit()
		if env.toInc < a.cfg.Incarnation {
			a.reply(from, msg{kind: kStale})
		}
		return
	}
	if a.unknownHomeIncs > 0 {
		a.learnHomeIncarnations(from, env.fromInc)
	}
	sess := a.session(pr)
	if env.ackBelow > sess.ackBelow {
		sess.ackBelow = env.ackBelow
		sess.done.prune(env.ackBelow)
	}
	for i := range env.msgs {
		m := &env.msgs[i]
		a.stats.Received[m.kind]++
		a.handle(pr, m)
	}
	a.pollGrace()
}

// learnHomeIncarnations records inc as the incarnation of the regions
// homed on id whose home incarnation was not given to AddProcess.
func (a *Agent) learnHomeIncarnations(id netmodel.NodeID, inc uint64) {
	for _, p := range a.sortedProcs() {
		for r, h := range p.homes {
			if h == id && p.homeIncs[r] == 0 {
				p.homeIncs[r] = inc
				a.unknownHomeIncs--
			}
		}
	}
}

func (a *Agent) handle(pr *peer, m *msg) {
	switch m.kind {
	case kGetS, kGetM:
		a.onFetch(pr, m)
	case kData:
		a.onData(pr.id, m)
	case kInv:
		a.onInv(pr.id, m)
	case kInvAck:
		a.onInvAck(pr, m)
	case kFwd:
		a.onFwd(pr.id, m)
	case kXfer:
		a.onXfer(pr, m)
	case kXferAck:
		a.onXferAck(pr.id, m)
	case kNotHeld:
		a.onNotHeld(pr, m)
	case kDenied:
		a.onDenied(pr.id, m)
	case kOp:
		a.onOp(pr, m)
	case kOpReply:
		a.onOpReply(pr.id, m)
	case kWake:
		a.onWake(pr, m)
	case kWakeAck:
		a.onWakeAck(pr, m)
	case kStale:
		// The header's incarnation already taught us the new one.
	}
}

// clear0 zeroes msgs (so the scratch pins no payload or page) and returns
// it empty.
func clear0(msgs []msg) []msg {
	clear(msgs)
	return msgs[:0]
}

// keep returns a copy of a received message that outlives its payload's
// handling (Receive reuses the messages' memory).
func keep(m *msg) *msg {
	c := *m
	return &c
}
