package gen

import (
	"github.com/flockvm/flock/vm/lang/ast"
	"github.com/flockvm/flock/vm/lang/check"
)

// needsFrame reports whether a function needs a memory frame: a parameter
// or local in memory, a literal or a call result held in memory.
func needsFrame(info *check.Info, fn *check.FuncObj) bool {
	for _, p := range fn.Params {
		if inMemory(p) {
			return true
		}
	}
	return bodyNeedsFrame(info, fn.Decl.Body)
}

func startNeedsFrame(info *check.Info, p *check.Program) bool {
	for _, m := range p.Modules {
		for _, v := range m.Vars {
			if v.Decl.Value != nil && bodyNeedsFrame(info, v.Decl.Value) {
				return true
			}
		}
	}
	return false
}

func bodyNeedsFrame(info *check.Info, n ast.Node) bool {
	need := false
	defVar := func(id *ast.Ident) {
		if id == nil {
			return
		}
		if v, ok := info.Defs[id].(*check.Var); ok && inMemory(v) {
			need = true
		}
	}
	ast.Inspect(n, func(n ast.Node) bool {
		if need {
			return false
		}
		switch n := n.(type) {
		case *ast.Define:
			for _, id := range n.Names {
				defVar(id)
			}
		case *ast.VarDecl:
			defVar(n.Name)
		case *ast.ForIn:
			defVar(n.Key)
			defVar(n.Val)
		case *ast.CompositeLit:
			need = true
		case *ast.Call:
			if memoryResults(info, n) {
				need = true
			}
		case *ast.Assign:
			if len(n.Lhs) > 1 {
				for _, l := range n.Lhs {
					if t := info.TypeOf(l); t != nil && check.ClassOf(t) == check.ClassMemory {
						need = true
					}
				}
			}
		}
		return true
	})
	return need
}

// memoryResults reports whether a call returns a struct or array (which the
// caller receives in a temporary of its frame).
func memoryResults(info *check.Info, c *ast.Call) bool {
	ci := info.Calls[c]
	if ci == nil || ci.Kind == check.CallBuiltin || ci.Sig == nil {
		return false
	}
	for _, r := range ci.Sig.Results {
		if check.ClassOf(r) == check.ClassMemory {
			return true
		}
	}
	return false
}
