package checker

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// Options configures a linearizability check.
type Options struct {
	// Timeout bounds each porcupine search (wall clock); 0 means no bound.
	// A check makes a bounded number of searches (the whole history, each
	// failing partition, the shrinking of one witness, the visualisation),
	// so the call can take a small multiple of Timeout. A search that hits
	// the bound makes the outcome unknown (Result.TimedOut): that is not
	// reproducible, so deterministic tests and seed sweeps use 0.
	Timeout time.Duration
	// VizDir, when set, receives porcupine's self-contained HTML page of the
	// history when the check fails. The directory is created if needed.
	VizDir string
	// VizName is the file name without ".html"; empty means the family name
	// ("kv" or "words").
	VizName string
}

// Result is the outcome of a linearizability check.
type Result struct {
	// OK is true only when porcupine proved the history linearizable.
	OK bool
	// Ops is the number of operations handed to porcupine: the history
	// without failed operations and without read-only operations of unknown
	// outcome (which can neither change nor observe anything).
	Ops int
	// Violation is empty when OK; otherwise it says what failed: the keys or
	// addresses whose sub-history is not linearizable and, for the first of
	// them, the smallest illegal set of its operations the checker found, in
	// call order, and the longest legal order of that set.
	Violation string
	// VizPath is the HTML visualisation written when the check failed and
	// Options.VizDir was set.
	VizPath string
	// TimedOut: the search hit Options.Timeout before reaching a verdict.
	// OK is false and the history may or may not be linearizable: callers
	// must treat it as a failure (and should rerun without a timeout).
	TimedOut bool
}

// ErrNotLinearizable is wrapped by Result.Err when a check failed or timed out.
var ErrNotLinearizable = errors.New("history not proven linearizable")

// Err returns nil when the history is linearizable and otherwise an error
// wrapping ErrNotLinearizable with the violation text. A timed-out check is an
// error too.
func (r Result) Err() error {
	if r.OK {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrNotLinearizable, r.Violation)
}

// result is the porcupine Output of an operation.
type result[O any] struct {
	out     O
	unknown bool
}

// opMeta is the porcupine Metadata of an operation: it names the operation
// in the visualisation and in violation text.
type opMeta struct {
	client int
	id     OpID
}

func (m opMeta) String() string { return fmt.Sprintf("client %d op %d", m.client, m.id) }

// spec is one family of operations: its per-partition model and what the
// shrinker may assume about each operation kind.
type spec[I any, O outcome, S comparable, K cmp.Ordered] struct {
	family      string
	key         func(I) K
	describeKey func(K) string
	init        S
	// step applies an operation with a definite output: ok is false when
	// the output is impossible in state s.
	step func(s S, in I, out O) (ok bool, next S)
	// effect applies an operation whose output is unknown.
	effect func(s S, in I) S
	// valid reports whether an input's kind is one the model knows.
	valid func(I) bool
	// readOnly: the operation never changes the state.
	readOnly func(I) bool
	// blind: the operation's effect and accepted outputs do not depend on
	// the state, and it replaces the whole per-partition state.
	blind func(I) bool
	// changes reports whether a definite operation changed the state.
	changes       func(in I, out O) bool
	describeOp    func(in I, out O, unknown bool) string
	describeState func(S) string
}

func (sp *spec[I, O, S, K]) model() porcupine.Model {
	return porcupine.Model{
		Partition: func(ops []porcupine.Operation) [][]porcupine.Operation {
			_, parts := sp.partition(ops)
			return parts
		},
		Init: func() any { return sp.init },
		Step: func(state, input, output any) (bool, any) {
			s, in, r := state.(S), input.(I), output.(result[O])
			if r.unknown {
				return true, sp.effect(s, in)
			}
			return sp.step(s, in, r.out)
		},
		DescribeOperation: func(input, output any) string {
			r := output.(result[O])
			return sp.describeOp(input.(I), r.out, r.unknown)
		},
		DescribeState: func(state any) string { return sp.describeState(state.(S)) },
	}
}

// operations converts a history to porcupine operations, leaving out failed
// operations and read-only operations of unknown outcome, which constrain
// nothing. Pending operations become unknown ones.
func (sp *spec[I, O, S, K]) operations(h *History[I, O]) []porcupine.Operation {
	ops := make([]porcupine.Operation, 0, len(h.ops))
	for i := range h.ops {
		op := &h.ops[i]
		if !sp.valid(op.Input) {
			panic(fmt.Sprintf("checker: %s op %d of client %d has an invalid input %+v", sp.family, i, op.Client, op.Input))
		}
		unknown := op.Status == StatusUnknown || op.Status == StatusPending
		if op.Status == StatusFailed || (unknown && sp.readOnly(op.Input)) {
			continue
		}
		ops = append(ops, porcupine.Operation{
			ClientId: h.slots[i],
			Input:    op.Input,
			Call:     op.Call,
			Output:   result[O]{out: op.Output, unknown: unknown},
			Return:   op.Return,
			Metadata: opMeta{client: op.Client, id: OpID(i)},
		})
	}
	return ops
}

// partition groups operations by key, keys in ascending order, each group in
// input order (so porcupine's operation ids index the group).
func (sp *spec[I, O, S, K]) partition(ops []porcupine.Operation) ([]K, [][]porcupine.Operation) {
	groups := make(map[K][]porcupine.Operation)
	for _, op := range ops {
		k := sp.key(op.Input.(I))
		groups[k] = append(groups[k], op)
	}
	keys := make([]K, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([][]porcupine.Operation, len(keys))
	for i, k := range keys {
		parts[i] = groups[k]
	}
	return keys, parts
}

// check is the whole pipeline behind CheckKV and CheckWords.
func check[I any, O outcome, S comparable, K cmp.Ordered](sp *spec[I, O, S, K], h *History[I, O], opts Options) Result {
	ops := sp.operations(h)
	res := Result{Ops: len(ops)}
	model := sp.model()
	switch porcupine.CheckOperationsTimeout(model, ops, opts.Timeout) {
	case porcupine.Ok:
		res.OK = true
		return res
	case porcupine.Unknown:
		res.TimedOut = true
		res.Violation = fmt.Sprintf("%s: linearizability check of %d ops timed out after %v: verdict unknown, "+
			"treat as failure and rerun without a timeout", sp.family, len(ops), opts.Timeout)
		return res
	}
	res.Violation = sp.explain(model, ops, opts.Timeout)
	if opts.VizDir != "" {
		path, err := visualize(model, ops, opts, sp.family, res.Violation)
		if err != nil {
			res.Violation += fmt.Sprintf("\n(visualisation not written: %v)", err)
		} else {
			res.VizPath = path
		}
	}
	return res
}

// explain finds the failing partitions and describes the first of them.
func (sp *spec[I, O, S, K]) explain(model porcupine.Model, ops []porcupine.Operation, timeout time.Duration) string {
	keys, parts := sp.partition(ops)
	var failing []int
	undecided := 0
	for i, part := range parts {
		switch porcupine.CheckOperationsTimeout(model, part, timeout) {
		case porcupine.Illegal:
			failing = append(failing, i)
		case porcupine.Unknown:
			undecided++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: not linearizable", sp.family)
	if len(failing) == 0 {
		fmt.Fprintf(&b, " (the per-partition re-check timed out on %d partitions, so which one fails is unknown)", undecided)
		return b.String()
	}
	names := make([]string, 0, len(failing))
	for _, i := range failing {
		names = append(names, sp.describeKey(keys[i]))
	}
	fmt.Fprintf(&b, " on %d of %d partitions: %s", len(failing), len(parts), strings.Join(names, ", "))
	if undecided > 0 {
		fmt.Fprintf(&b, " (%d more timed out)", undecided)
	}
	b.WriteString("\n")
	sp.describeFailure(&b, model, sp.describeKey(keys[failing[0]]), parts[failing[0]], timeout)
	return b.String()
}

// visualize writes porcupine's HTML page of the whole history, annotated
// with the violation text, and returns its path.
func visualize(model porcupine.Model, ops []porcupine.Operation, opts Options, family, violation string) (string, error) {
	name := opts.VizName
	if name == "" {
		name = family
	}
	if err := os.MkdirAll(opts.VizDir, 0o755); err != nil {
		return "", fmt.Errorf("create viz dir: %w", err)
	}
	path := filepath.Join(opts.VizDir, name+".html")
	verdict, info := porcupine.CheckOperationsVerbose(model, ops, opts.Timeout)
	if verdict == porcupine.Ok {
		// porcupine just said Illegal for the same input and model.
		panic(fmt.Sprintf("checker: %s history of %d ops judged illegal, then legal", family, len(ops)))
	}
	start, end := timeSpan(ops)
	info.AddAnnotations([]porcupine.Annotation{{
		Tag:         "checker",
		Start:       start,
		End:         end,
		Description: firstLine(violation),
		Details:     violation,
	}})
	if err := porcupine.VisualizePath(model, info, path); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}

// timeSpan returns the first call and the last finite return of ops.
func timeSpan(ops []porcupine.Operation) (start, end int64) {
	for i, op := range ops {
		if i == 0 || op.Call < start {
			start = op.Call
		}
		end = max(end, op.Call)
		if op.Return != maxTime {
			end = max(end, op.Return)
		}
	}
	return start, end
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
