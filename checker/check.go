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
	// MaxSteps bounds the model steps of each porcupine search, per
	// partition; 0 means no bound. The bound is deterministic: use it, not
	// Timeout, to keep a seed sweep from hanging on a pathological history.
	// A legal history of a few thousand operations per key takes well under
	// a million steps; an illegal one with many unknown deletes or
	// non-unique values can take exponentially many. A search that hits the
	// bound makes the verdict unknown (Result.TimedOut).
	MaxSteps int64
	// Timeout bounds each porcupine search (wall clock); 0 means no bound.
	// A check makes a bounded number of searches (one per partition, then
	// on failure the shrinking of one witness and the visualisation), so
	// the call can take a multiple of Timeout. A search that hits it makes
	// the verdict unknown (Result.TimedOut), which is not reproducible:
	// deterministic tests and seed sweeps use 0.
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
	// Ops is the number of operations checked: every recorded operation
	// except those that failed with a definite error.
	Ops int
	// Violation is empty when OK; otherwise it says what failed: the keys or
	// addresses whose sub-history is not linearizable and, for the first of
	// them, the smallest illegal set of its operations the checker found, in
	// call order, and the longest legal order of that set.
	Violation string
	// VizPath is the HTML visualisation written when the check failed and
	// Options.VizDir was set.
	VizPath string
	// Claimed is the number of partitions (keys, addresses) proven
	// linearizable by the order History.Claim recorded, without a search.
	Claimed int
	// TimedOut: a search hit Options.Timeout or Options.MaxSteps before
	// reaching a verdict, and no partition was proven illegal. OK is false
	// and the history may or may not be linearizable: callers must treat it
	// as a failure (and may rerun with a larger bound).
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
	claim  int64 // History.Claim: claimNone, claimMany or the moment
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

	// reduce describes values for reduceUnknowns; nil switches it off.
	reduce *reduceHooks[I, O]
	// dropUnknowns marks, in drop, unknown operations of one partition
	// whose removal cannot change the verdict (file_reduce.go); nil: none.
	dropUnknowns func(part []porcupine.Operation, drop map[OpID]bool)
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
// nothing, and those of the keys skip holds (proven already). Pending
// operations become unknown ones.
func (sp *spec[I, O, S, K]) operations(h *History[I, O], skip map[K]bool) []porcupine.Operation {
	ops := make([]porcupine.Operation, 0, len(h.ops))
	for i := range h.ops {
		op := &h.ops[i]
		if !sp.valid(op.Input) {
			panic(fmt.Sprintf("checker: %s op %d of client %d has an invalid input %+v", sp.family, i, op.Client, op.Input))
		}
		unknown := op.Status == StatusUnknown || op.Status == StatusPending
		if op.Status == StatusFailed || (unknown && sp.readOnly(op.Input)) || skip[sp.key(op.Input)] {
			continue
		}
		ops = append(ops, porcupine.Operation{
			ClientId: h.slots[i],
			Input:    op.Input,
			Call:     op.Call,
			Output:   result[O]{out: op.Output, unknown: unknown},
			Return:   op.Return,
			Metadata: opMeta{client: op.Client, id: OpID(i), claim: h.claimAt(OpID(i))},
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
	res := Result{Ops: h.Len() - h.failed()}
	var proven map[K]bool
	if h.claimed {
		proven = sp.provenByClaims(h)
		res.Claimed = len(proven)
	}
	ops := sp.operations(h, proven)
	if len(ops) == 0 && len(proven) > 0 {
		res.OK = true
		return res
	}
	ops = sp.reduceUnknowns(ops)
	keys, parts := sp.partition(ops)
	v := sp.judge(keys, parts, opts)
	res.Claimed += v.claimed
	switch {
	case v.first < 0 && len(v.undecided) == 0:
		res.OK = true
		return res
	case v.first < 0:
		res.TimedOut = true
		res.Violation = fmt.Sprintf("%s: linearizability undecided: the search of %d ops hit its bound (%s) on %s; "+
			"treat as a failure", sp.family, len(ops), bounds(opts), listNames(v.undecided))
		return res
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: not linearizable on %d of %d partitions: %s", sp.family, len(v.failing), len(parts), listNames(v.failing))
	if len(v.undecided) > 0 {
		fmt.Fprintf(&b, " (undecided within %s: %s)", bounds(opts), listNames(v.undecided))
	}
	b.WriteString("\n")
	sp.describeFailure(&b, v.failing[0], parts[v.first], opts, v.firstSteps, v.firstStatic)
	res.Violation = b.String()
	if opts.VizDir != "" {
		path, err := sp.visualize(ops, capSteps(opts, 2*v.firstSteps+explainStepsMin+4*int64(len(ops))), res.Violation)
		if err != nil {
			res.Violation += fmt.Sprintf("\n(visualisation not written: %v)", err)
		} else {
			res.VizPath = path
		}
	}
	return res
}

// verdicts is what judge found, partition names in key order.
type verdicts struct {
	failing, undecided []string
	first              int   // index of the first failing partition; -1 for none
	firstSteps         int64 // steps of its search (0 for a static witness)
	firstStatic        []porcupine.Operation
	claimed            int // partitions proven by their claims after reduction
}

// judge searches each partition on its own, in key order: explaining a
// failure needs each verdict and step count, where porcupine's partitioned
// search would only say "some partition failed".
func (sp *spec[I, O, S, K]) judge(keys []K, parts [][]porcupine.Operation, opts Options) verdicts {
	v := verdicts{first: -1}
	for i, part := range parts {
		if w := sp.staticWitness(part); w != nil {
			v.failing = append(v.failing, sp.describeKey(keys[i]))
			if v.first < 0 {
				v.first, v.firstStatic = i, w
			}
			continue
		}
		if sp.claimedLegal(claimedOps[I, O](part)) { // the reduction may have fixed what failed before
			v.claimed++
			continue
		}
		switch verdict, steps := sp.search(part, opts); verdict {
		case porcupine.Illegal:
			v.failing = append(v.failing, sp.describeKey(keys[i]))
			if v.first < 0 {
				v.first, v.firstSteps = i, steps
			}
		case porcupine.Unknown:
			v.undecided = append(v.undecided, sp.describeKey(keys[i]))
		}
	}
	return v
}

// listNames joins partition names, at most namesMax of them.
func listNames(names []string) string {
	const namesMax = 10
	if len(names) <= namesMax {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:namesMax], ", "), len(names)-namesMax)
}

func bounds(opts Options) string {
	var parts []string
	if opts.MaxSteps > 0 {
		parts = append(parts, fmt.Sprintf("%d steps", opts.MaxSteps))
	}
	if opts.Timeout > 0 {
		parts = append(parts, opts.Timeout.String())
	}
	if len(parts) == 0 {
		return "no bound"
	}
	return strings.Join(parts, ", ")
}

// visualize writes porcupine's HTML page of the whole history, annotated
// with the violation text, and returns its path.
func (sp *spec[I, O, S, K]) visualize(ops []porcupine.Operation, opts Options, violation string) (string, error) {
	name := opts.VizName
	if name == "" {
		name = sp.family
	}
	if err := os.MkdirAll(opts.VizDir, 0o755); err != nil {
		return "", fmt.Errorf("create viz dir: %w", err)
	}
	path := filepath.Join(opts.VizDir, name+".html")
	// The search is bounded by the caller: the page shows what it found.
	verdict, info := sp.searchVerbose(ops, opts)
	if verdict == porcupine.Ok {
		// A partition of the same operations was just found illegal.
		panic(fmt.Sprintf("checker: %s history of %d ops judged illegal, then legal", sp.family, len(ops)))
	}
	start, end := timeSpan(ops)
	info.AddAnnotations([]porcupine.Annotation{{
		Tag:         "checker",
		Start:       start,
		End:         end,
		Description: firstLine(violation),
		Details:     violation,
	}})
	// An unbudgeted model: the page replays the partial linearizations.
	if err := porcupine.VisualizePath(sp.model(), info, path); err != nil {
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
