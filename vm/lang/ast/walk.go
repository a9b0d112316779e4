package ast

// Inspect calls visit for n and, while visit returns true, for every node
// below it, in source order.
func Inspect(n Node, visit func(Node) bool) {
	if n == nil || !visit(n) {
		return
	}
	switch n := n.(type) {
	case *File:
		for _, d := range n.Decls {
			Inspect(d, visit)
		}
	case *FuncDecl:
		if n.Body != nil {
			Inspect(n.Body, visit)
		}
	case *StructDecl:
	case *VarDecl:
		if n.Value != nil {
			Inspect(n.Value, visit)
		}
	case *ConstDecl:
		Inspect(n.Value, visit)
	case *Block:
		for _, s := range n.Stmts {
			Inspect(s, visit)
		}
	case *ExprStmt:
		Inspect(n.X, visit)
	case *Assign:
		for _, e := range n.Lhs {
			Inspect(e, visit)
		}
		for _, e := range n.Rhs {
			Inspect(e, visit)
		}
	case *Define:
		for _, e := range n.Values {
			Inspect(e, visit)
		}
	case *IncDec:
		Inspect(n.X, visit)
	case *If:
		Inspect(n.Cond, visit)
		Inspect(n.Then, visit)
		if n.Else != nil {
			Inspect(n.Else, visit)
		}
	case *While:
		Inspect(n.Cond, visit)
		Inspect(n.Body, visit)
	case *ForIn:
		Inspect(n.X, visit)
		if n.Hi != nil {
			Inspect(n.Hi, visit)
		}
		Inspect(n.Body, visit)
	case *For:
		if n.Init != nil {
			Inspect(n.Init, visit)
		}
		if n.Cond != nil {
			Inspect(n.Cond, visit)
		}
		if n.Post != nil {
			Inspect(n.Post, visit)
		}
		Inspect(n.Body, visit)
	case *Return:
		for _, e := range n.Results {
			Inspect(e, visit)
		}
	case *Paren:
		Inspect(n.X, visit)
	case *Unary:
		Inspect(n.X, visit)
	case *Binary:
		Inspect(n.X, visit)
		Inspect(n.Y, visit)
	case *As:
		Inspect(n.X, visit)
	case *Call:
		Inspect(n.Fun, visit)
		for _, a := range n.Args {
			Inspect(a, visit)
		}
	case *Index:
		Inspect(n.X, visit)
		Inspect(n.Index, visit)
	case *SliceExpr:
		Inspect(n.X, visit)
		if n.Lo != nil {
			Inspect(n.Lo, visit)
		}
		if n.Hi != nil {
			Inspect(n.Hi, visit)
		}
	case *Selector:
		Inspect(n.X, visit)
	case *CompositeLit:
		for _, el := range n.Elts {
			Inspect(el.Value, visit)
		}
	case *New:
		if n.Len != nil {
			Inspect(n.Len, visit)
		}
	case *Spawn:
		Inspect(n.Call, visit)
	}
}
