package raftkv

import (
	"fmt"
	"io"

	"github.com/flockvm/flock/netmodel"
)

// raftLogger is raft's Logger: no timestamps, no globals, so its output
// (when kept at all) is as deterministic as the run. Panic and Fatal panic,
// as raft expects them to stop the caller.
type raftLogger struct {
	w  io.Writer // nil: discard
	id netmodel.NodeID
}

func (l raftLogger) out(level, msg string) {
	if l.w != nil {
		fmt.Fprintf(l.w, "%v raft %s: %s\n", l.id, level, msg)
	}
}

func (l raftLogger) Debug(v ...any)                   {}
func (l raftLogger) Debugf(format string, v ...any)   {}
func (l raftLogger) Info(v ...any)                    { l.out("INFO", fmt.Sprint(v...)) }
func (l raftLogger) Infof(format string, v ...any)    { l.out("INFO", fmt.Sprintf(format, v...)) }
func (l raftLogger) Warning(v ...any)                 { l.out("WARN", fmt.Sprint(v...)) }
func (l raftLogger) Warningf(format string, v ...any) { l.out("WARN", fmt.Sprintf(format, v...)) }
func (l raftLogger) Error(v ...any)                   { l.out("ERROR", fmt.Sprint(v...)) }
func (l raftLogger) Errorf(format string, v ...any)   { l.out("ERROR", fmt.Sprintf(format, v...)) }

func (l raftLogger) Fatal(v ...any) { l.Panic(v...) }
func (l raftLogger) Fatalf(format string, v ...any) {
	l.Panicf(format, v...)
}

func (l raftLogger) Panic(v ...any) {
	msg := fmt.Sprint(v...)
	l.out("PANIC", msg)
	panic(fmt.Sprintf("raftkv: %v: raft: %s", l.id, msg))
}

func (l raftLogger) Panicf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.out("PANIC", msg)
	panic(fmt.Sprintf("raftkv: %v: raft: %s", l.id, msg))
}
