package ast_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/flockvm/flock/vm/lang/ast"
	"github.com/flockvm/flock/vm/lang/diag"
	"github.com/flockvm/flock/vm/lang/parse"
)

func TestInspectOrder(t *testing.T) {
	var errs diag.List
	f := parse.File("w.fl", []byte("fn main() {\n    x := a + b * c\n    if x {\n        f(y)\n    }\n}\n"), &errs)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var names []string
	ast.Inspect(f, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok {
			names = append(names, id.Name)
		}
		return true
	})
	if got := strings.Join(names, " "); got != "a b c x f y" {
		t.Errorf("Inspect visited %q, want %q", got, "a b c x f y")
	}
	// Returning false prunes the subtree.
	count := 0
	ast.Inspect(f, func(n ast.Node) bool {
		count++
		_, isIf := n.(*ast.If)
		return !isIf
	})
	if count != 10 {
		t.Errorf("Inspect with the if pruned visited %d nodes, want 10", count)
	}
}

func TestPosBefore(t *testing.T) {
	tests := []struct {
		a, b ast.Pos
		want bool
	}{
		{ast.Pos{Line: 1, Col: 2}, ast.Pos{Line: 1, Col: 3}, true},
		{ast.Pos{Line: 2, Col: 1}, ast.Pos{Line: 1, Col: 9}, false},
		{ast.Pos{Line: 3, Col: 3}, ast.Pos{Line: 3, Col: 3}, false},
	}
	for _, tc := range tests {
		if got := tc.a.Before(tc.b); got != tc.want {
			t.Errorf("%v.Before(%v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
	if s := fmt.Sprint(ast.Pos{Line: 4, Col: 7}); s != "4:7" {
		t.Errorf("Pos.String = %q, want 4:7", s)
	}
}
