package node

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/flockvm/flock/netmodel"
)

// TestLazyInteraction runs the scripts in testdata/lazy: the races of lazy
// local memory (docs/node.md, "Lazy local memory"), one script each.
// Regenerate with
//
//	go test ./vm/node -run TestLazyInteraction -rewrite
//
// and read the diff. Commands:
//
//	start machines=N [migrate]  a VM of N one-core machines (migration on: only the script
//	                            marks threads); run until every node joined
//	run on=N prog=P             start program P (lazyPrograms) on machine N
//	deliver [steps=N] [until=fetch|ended]
//	                            run N steps (default 2000), or until a fetch-pages is sent or
//	                            the process ended; print the lazy-memory messages delivered
//	dup kind=K | drop kind=K    from now on deliver messages of kind K (fetch-pages,
//	                            fetch-reply, release-pin, ...) twice / never; "off" undoes
//	crash id=N                  machine N stops for good
//	migrate tid=T to=N          mark thread T of the process for migration to N
//	state                       pins and held references on every node, and the run's end
func TestLazyInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata/lazy", func(t *testing.T, path string) {
		var h *lazyHarness
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd == "start" {
				h = newLazyHarness(t, d)
				return h.flush()
			}
			if h == nil {
				t.Fatalf("%s: %q before start", d.Pos, d.Cmd)
			}
			h.command(t, d)
			return h.flush()
		})
	})
}

var lazyPrograms = map[string]string{
	"spawnbig":  spawnBigProgram(256<<10, 0),
	"spawnspin": spawnBigProgram(256<<10, 200_000),
	"nested":    nestedSpawnProgram(256<<10, 0),
	// exitearly: main spawns leaf lazily and exits at once, while leaf's
	// first fetch may still be in flight.
	"exitearly": strings.Replace(spawnBigProgram(256<<10, 0), "    GET 0\n    SPAWN leaf\n    JOIN\n    PRINT\n", "    GET 0\n    SPAWN leaf\n    DROP\n", 1),
}

type lazyHarness struct {
	c        *cluster
	out      strings.Builder
	run      *runResult
	kinds    map[string]msgKind // request id → kind, to name replies
	dup      map[string]bool
	drop     map[string]bool
	sawFetch bool
}

func newLazyHarness(t *testing.T, d *datadriven.TestData) *lazyHarness {
	machines, migrate := 2, false
	for _, a := range d.CmdArgs {
		switch a.Key {
		case "machines":
			machines, _ = strconv.Atoi(a.Vals[0])
		case "migrate":
			migrate = true
		}
	}
	h := &lazyHarness{kinds: map[string]msgKind{}, dup: map[string]bool{}, drop: map[string]bool{}}
	h.c = newClusterWith(t, machines, func(cfg *Config) {
		cfg.Provide.Cores = 1
		cfg.PlaceLocalPerCore = 1
		cfg.MigrateMissesMin = -1
		if migrate {
			cfg.MigrateMissesMin = 1 << 30 // on, but only the script marks threads
		}
		cfg.LeaseRenewTicks, cfg.MembershipPollTicks, cfg.LeaseExpireTicks = 5, 5, 40
	})
	if !h.c.runUntil(h.c.allJoined, 40000) {
		t.Fatalf("nodes did not join")
	}
	h.c.filter = h.observe
	fmt.Fprintf(&h.out, "%d machines joined\n", machines)
	return h
}

func (h *lazyHarness) flush() string {
	s := h.out.String()
	h.out.Reset()
	return s
}

// observe prints the lazy-memory messages and applies dup and drop.
func (h *lazyHarness) observe(e envelope) (bool, bool) {
	hd, body, err := DecodeHeader(e.payload)
	if err != nil || hd.Service != ServiceProcs {
		return true, false
	}
	m, err := decodeProcMsg(body)
	if err != nil {
		return true, false
	}
	name := m.kind.String()
	if m.kind == msgReply {
		k, ok := h.kinds[m.req.String()]
		if !ok {
			return true, false
		}
		name = map[msgKind]string{msgFetchPages: "fetch-reply", msgReleasePin: "release-reply", msgStartThread: "start-reply", msgMigrate: "migrate-reply"}[k]
	}
	switch m.kind {
	case msgFetchPages, msgReleasePin, msgStartThread, msgMigrate:
		h.kinds[m.req.String()] = m.kind
		if m.kind == msgFetchPages {
			h.sawFetch = true
		}
	case msgReply:
	default:
		return true, false
	}
	verb := "->"
	deliver, dup := !h.drop[name], h.dup[name]
	if !deliver {
		verb = "-x"
	} else if dup {
		verb = "=>"
	}
	fmt.Fprintf(&h.out, "%v %s %v %s%s\n", e.from, verb, e.to, name, describeLazyMsg(m))
	return deliver, dup
}

func describeLazyMsg(m *procMsg) string {
	var b strings.Builder
	switch m.kind {
	case msgFetchPages:
		fmt.Fprintf(&b, " snapshot %d pages %v", m.value, m.span)
	case msgReleasePin:
		fmt.Fprintf(&b, " snapshot %d", m.value)
	case msgStartThread, msgMigrate:
		fmt.Fprintf(&b, " tid %d (%d bytes)", m.tid, len(m.data))
	case msgReply:
		if m.errno != replyOK {
			fmt.Fprintf(&b, " refused %d", m.errno)
		} else if len(m.data) > 0 {
			fmt.Fprintf(&b, " (%d bytes)", len(m.data))
		}
	}
	return b.String()
}

func (h *lazyHarness) command(t *testing.T, d *datadriven.TestData) {
	arg := func(key string) string {
		for _, a := range d.CmdArgs {
			if a.Key == key {
				return a.Vals[0]
			}
		}
		return ""
	}
	num := func(key string) uint64 {
		v, err := strconv.ParseUint(arg(key), 10, 64)
		if err != nil {
			t.Fatalf("%s: %s=%q: %v", d.Pos, key, arg(key), err)
		}
		return v
	}
	switch d.Cmd {
	case "run":
		src, ok := lazyPrograms[arg("prog")]
		if !ok {
			t.Fatalf("%s: unknown program %q", d.Pos, arg("prog"))
		}
		h.run = h.c.start(netmodel.NodeID(num("on")), src)
		fmt.Fprintf(&h.out, "started %s on %s\n", arg("prog"), arg("on"))
	case "deliver":
		h.deliver(t, d, arg("until"), arg("steps"))
	case "dup", "drop":
		set := h.dup
		if d.Cmd == "drop" {
			set = h.drop
		}
		if k := arg("kind"); k == "off" {
			clear(set)
		} else {
			set[k] = true
		}
		fmt.Fprintf(&h.out, "%s %s\n", d.Cmd, arg("kind"))
	case "crash":
		h.c.crash(netmodel.NodeID(num("id")))
		fmt.Fprintf(&h.out, "%s crashed\n", arg("id"))
	case "migrate":
		k := threadKey{h.run.pid, num("tid")}
		for _, id := range h.c.ids {
			if n := h.c.nodes[id]; n != nil && n.coreOf(k) >= 0 {
				n.migrating[k] = &migration{to: netmodel.NodeID(num("to")), missBytes: 1 << 40}
				fmt.Fprintf(&h.out, "thread %d on %v marked to move to %s\n", k.tid, id, arg("to"))
				return
			}
		}
		t.Fatalf("%s: thread %d is on no machine", d.Pos, k.tid)
	case "state":
		h.state()
	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
}

func (h *lazyHarness) deliver(t *testing.T, d *datadriven.TestData, until, steps string) {
	n := 2000
	if steps != "" {
		n, _ = strconv.Atoi(steps)
	}
	h.sawFetch = false
	cond := map[string]func() bool{
		"":      func() bool { return false },
		"fetch": func() bool { return h.sawFetch },
		"ended": func() bool { return h.run != nil && h.run.ended },
	}[until]
	if cond == nil {
		t.Fatalf("%s: until=%q", d.Pos, until)
	}
	if !h.c.runUntil(cond, n) && until != "" {
		t.Fatalf("%s: not %s after %d steps\n%s", d.Pos, until, n, h.c.dump())
	}
	if until == "ended" {
		h.ended()
	}
}

func (h *lazyHarness) ended() {
	if err := h.run.status.Err(); err != nil {
		fmt.Fprintf(&h.out, "process ended: %v\n", err)
	} else {
		fmt.Fprintf(&h.out, "process ended: exit %d, output %q\n", h.run.status.Code, h.run.out.String())
	}
}

func (h *lazyHarness) state() {
	for _, id := range h.c.ids {
		n := h.c.nodes[id]
		if n == nil {
			fmt.Fprintf(&h.out, "%v: down\n", id)
			continue
		}
		fmt.Fprintf(&h.out, "%v: %d pinned, %d held, %d pages fetched, %d lazy spawns\n", id, len(n.lazy.pins), len(n.lazy.held),
			n.stats.LocalPagesFetched, n.stats.ThreadsSpawnedLazy)
	}
}
