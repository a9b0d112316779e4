package scenarios

import (
	"fmt"
	"strings"

	"github.com/flockvm/flock/checker"
)

// check judges a finished kv run. Safety comes first: a run that broke a
// safety property fails as such even if it also got stuck, because the
// stuck part may be a consequence.
func (r *kvRun) check(rep *Report, finished, converged bool) {
	if v := r.safetyViolations(rep); len(v) > 0 {
		rep.Result, rep.Failure = ResultFail, FailureSafety
		rep.Violation = strings.Join(v, "\n")
		return
	}
	if v := r.livenessFailures(finished, converged); len(v) > 0 {
		rep.Result, rep.Failure = ResultFail, FailureLiveness
		rep.Violation = strings.Join(v, "\n") + "\nservers: " + r.statusLine()
		return
	}
	rep.Result = ResultPass
}

func (r *kvRun) safetyViolations(rep *Report) []string {
	var out []string
	out = append(out, r.surprises...)
	for _, s := range r.servers {
		// Only bit rot may corrupt what a machine synced; a machine whose
		// disk never rotted and still finds its state corrupt lost data it
		// had made durable (or acknowledged without making it durable).
		if s.failStop != "" && !s.m.Rotted() {
			out = append(out, fmt.Sprintf("durability: %v fail-stopped though its disk never rotted: %s", s.id, s.failStop))
		}
	}
	if err := checker.AppliedLogsAgree(r.applied); err != nil {
		out = append(out, "replicated logs: "+err.Error())
	}
	if err := checker.AtMostOnce(r.applied); err != nil {
		out = append(out, "at most once: "+err.Error())
	}
	if err := checker.AtMostOnceByIdentity(r.applied); err != nil {
		out = append(out, "at most once by identity: "+err.Error())
	}
	if err := checker.AckedWritesApplied(r.acked, r.applied); err != nil {
		out = append(out, "durability: "+err.Error())
	}
	res := checker.CheckKV(&r.history, checker.Options{
		// A deterministic bound on the search: a legal history costs about
		// a step per operation, so hitting it means an illegal history
		// whose proof explodes; that is reported as a failure.
		MaxSteps: kvCheckStepsMax,
		VizDir:   r.opts.VizDir,
		VizName:  fmt.Sprintf("%s-seed%d", kvScenarioName, r.opts.Seed),
	})
	rep.VizPath = res.VizPath
	switch {
	case res.TimedOut:
		out = append(out, fmt.Sprintf("linearizability: no verdict within %d search steps (%d ops); treat as a violation and inspect with -viz", kvCheckStepsMax, res.Ops))
	case !res.OK:
		out = append(out, "linearizability: "+res.Violation)
	}
	return out
}

func (r *kvRun) livenessFailures(finished, converged bool) []string {
	var out []string
	for _, c := range r.clients {
		if c.failure != "" {
			out = append(out, c.failure)
		}
	}
	if !finished {
		for _, c := range r.clients {
			if !c.done {
				out = append(out, fmt.Sprintf("client %d: not finished %v after Heal (%d final operations left, one in flight: %v)",
					c.index, kvLivenessBound, len(c.final), c.c.Busy()))
			}
		}
	} else if !converged {
		out = append(out, fmt.Sprintf("replicas did not catch up within %v after the clients finished", kvConvergeBound))
	}
	return out
}
