package kernel

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/flockvm/flock/vm/sys"
)

type answers map[sys.ReqID]sys.Reply

func (a answers) Complete(id sys.ReqID, r sys.Reply) {
	if _, dup := a[id]; dup {
		panic("answered twice")
	}
	a[id] = r
}

func req(n uint64) sys.ReqID { return sys.ReqID{Machine: 1, Incarnation: 1, Seq: n} }

func newTable(t *testing.T, cfg Config, pids ...uint64) (*Table, answers) {
	t.Helper()
	got := answers{}
	tb := NewTable(cfg, got)
	for _, pid := range pids {
		if err := tb.Add(&Process{PID: pid}, 1); err != nil {
			t.Fatalf("Add(%d) = %v", pid, err)
		}
	}
	return tb, got
}

func TestJoinWaitsForExit(t *testing.T) {
	tb, got := newTable(t, Config{}, 7)
	if err := tb.Register(7, 2, 3); err != nil {
		t.Fatal(err)
	}
	if _, now := tb.Join(sys.Caller{PID: 7, Req: req(1)}, 2); now {
		t.Fatalf("Join of a running thread answered at once")
	}
	tb.ThreadExited(7, 2, 42)
	if r, ok := got[req(1)]; !ok || r.Val != 42 {
		t.Errorf("JOIN answer = %+v, %v; want 42", r, ok)
	}
	if r, now := tb.Join(sys.Caller{PID: 7, Req: req(2)}, 2); !now || r.Trap != sys.TrapBadThread {
		t.Errorf("second Join = %+v, %v; want a bad-thread trap now", r, now)
	}
}

// The exit of a spawned thread may reach the home before its registration.
func TestExitOvertakesRegistration(t *testing.T) {
	tb, _ := newTable(t, Config{}, 7)
	tb.ThreadExited(7, 1<<32|1, 5)
	if err := tb.Register(7, 1<<32|1, 2); err != nil {
		t.Fatalf("Register after the exit = %v", err)
	}
	if r, now := tb.Join(sys.Caller{PID: 7, Req: req(1)}, 1<<32|1); !now || r.Val != 5 {
		t.Errorf("Join = %+v, %v; want 5 at once", r, now)
	}
	if p, _ := tb.Process(7); p.Live() != 1 {
		t.Errorf("live threads = %d, want 1 (the main thread)", p.Live())
	}
}

func TestUnregisteredThreadCannotBeJoined(t *testing.T) {
	tb, _ := newTable(t, Config{}, 7)
	tb.ThreadExited(7, 9, 5) // exit known, registration not yet
	if r, now := tb.Join(sys.Caller{PID: 7, Req: req(1)}, 9); !now || r.Trap != sys.TrapBadThread {
		t.Errorf("Join of an unregistered tid = %+v, %v; want bad thread", r, now)
	}
}

func TestMainThreadExitEndsTheProcess(t *testing.T) {
	tb, got := newTable(t, Config{}, 7, 8)
	if _, now := tb.Wait(sys.Caller{PID: 8, Req: req(1)}, []uint64{7, 99}); now {
		t.Fatalf("Wait answered before process 7 ended")
	}
	if ended := tb.ThreadExited(7, 1, 3); !ended {
		t.Fatalf("main thread exit did not end the process")
	}
	r := got[req(1)]
	if len(r.Data) != 16 || binary.LittleEndian.Uint64(r.Data) != 3 || binary.LittleEndian.Uint64(r.Data[8:]) != sys.ESRCH.Neg() {
		t.Errorf("PWAIT answer = %x, want [3, -ESRCH]", r.Data)
	}
	if st, done := mustProcess(t, tb, 7).Done(); !done || st.Code != 3 || st.Err() != nil {
		t.Errorf("status = %+v, %v; want exit 3", st, done)
	}
	if tb.Live() != 1 || tb.Parked() != 0 {
		t.Errorf("Live() = %d, Parked() = %d; want 1, 0", tb.Live(), tb.Parked())
	}
}

func mustProcess(t *testing.T, tb *Table, pid uint64) *Process {
	t.Helper()
	p, ok := tb.Process(pid)
	if !ok {
		t.Fatalf("process %d not in the table", pid)
	}
	return p
}

func TestEndedProcessesAreForgottenOldestFirst(t *testing.T) {
	tb, _ := newTable(t, Config{EndedMax: 2}, 1, 2, 3)
	for pid := uint64(1); pid <= 3; pid++ {
		tb.End(pid, Status{Code: pid})
	}
	if _, ok := tb.Process(1); ok {
		t.Errorf("process 1 still remembered with EndedMax 2")
	}
	for _, pid := range []uint64{2, 3} {
		if _, ok := tb.Process(pid); !ok {
			t.Errorf("process %d forgotten, want remembered", pid)
		}
	}
}

func TestLimits(t *testing.T) {
	tb, _ := newTable(t, Config{ThreadsMax: 2, WaitersMax: 1}, 7)
	if err := tb.Reserve(7); err != nil {
		t.Fatalf("Reserve with 1 of 2 threads = %v", err)
	}
	if err := tb.Register(7, 2, 1); err != nil {
		t.Fatal(err)
	}
	if err := tb.Reserve(7); !errors.Is(err, ErrThreadLimit) {
		t.Errorf("Reserve at the limit = %v, want ErrThreadLimit", err)
	}
	if _, now := tb.Join(sys.Caller{PID: 7, Req: req(1)}, 2); now {
		t.Fatalf("first Join answered at once")
	}
	if r, now := tb.Wait(sys.Caller{PID: 7, Req: req(2)}, []uint64{7}); !now || r.Trap == sys.TrapNone {
		t.Errorf("Wait past WaitersMax = %+v, %v; want a trap at once", r, now)
	}
	if err := tb.Register(9, 2, 1); !errors.Is(err, ErrNoProcess) {
		t.Errorf("Register in an unknown process = %v, want ErrNoProcess", err)
	}
	tb.End(7, Status{})
	if err := tb.Reserve(7); !errors.Is(err, ErrEnded) {
		t.Errorf("Reserve in an ended process = %v, want ErrEnded", err)
	}
}

func TestThreadsOn(t *testing.T) {
	tb, _ := newTable(t, Config{}, 7, 8)
	tb.Register(7, 5, 3)
	tb.Register(7, 6, 3)
	tb.Register(8, 2, 4)
	tb.ThreadExited(8, 2, 0)
	got := tb.ThreadsOn(3)
	if len(got) != 1 || got[0] != (ThreadRef{PID: 7, TID: 5}) {
		t.Errorf("ThreadsOn(3) = %v, want [{7 5}]", got)
	}
	if got := tb.ThreadsOn(4); len(got) != 0 {
		t.Errorf("ThreadsOn(4) = %v, want none (the thread exited)", got)
	}
}

func TestStatusWordAndErr(t *testing.T) {
	lost := Status{Lost: &LostError{PID: 3, Machine: 2, Incarnation: 4, What: "thread 5"}}
	if lost.Word() != ^uint64(0) || lost.Err() == nil {
		t.Errorf("lost status: Word %d Err %v, want -1 and an error", int64(lost.Word()), lost.Err())
	}
	if got, want := lost.Err().Error(), "process 3: lost with machine 2 (incarnation 4): thread 5"; got != want {
		t.Errorf("LostError.Error() = %q, want %q", got, want)
	}
}
