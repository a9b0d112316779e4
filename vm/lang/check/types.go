package check

import (
	"fmt"
	"strings"
)

// Type is a Flock type.
type Type interface {
	String() string
	isType()
}

// BasicKind names a predeclared type.
type BasicKind uint8

const (
	Invalid BasicKind = iota // the type of an expression that had an error
	Int
	Uint
	Byte
	Bool
	String
	Thread
	UntypedInt // an integer constant not yet given a type
	UntypedNil
)

// Basic is a predeclared type.
type Basic struct {
	Kind BasicKind
	Name string
}

// Pointer is *Elem.
type Pointer struct{ Elem Type }

// Array is [Len]Elem.
type Array struct {
	Len  int64
	Elem Type
}

// Slice is []Elem: a pointer and a length.
type Slice struct{ Elem Type }

// Func is a function type: its parameters and results.
type Func struct {
	Params  []Type
	Results []Type
}

// Tuple is the several results of a call.
type Tuple struct{ Types []Type }

// Struct is a named struct type.
type Struct struct {
	Name    string
	Module  *Module
	Fields  []*Field
	Methods map[string]*FuncObj
	Pub     bool
	size    int64
	align   int64
	state   uint8 // 0 not laid out, 1 laying out, 2 done
}

// Field is one field of a struct, with its byte offset.
type Field struct {
	Name   string
	Type   Type
	Offset int64
	Pub    bool
}

func (*Basic) isType()   {}
func (*Pointer) isType() {}
func (*Array) isType()   {}
func (*Slice) isType()   {}
func (*Func) isType()    {}
func (*Tuple) isType()   {}
func (*Struct) isType()  {}

func (t *Basic) String() string   { return t.Name }
func (t *Pointer) String() string { return "*" + t.Elem.String() }
func (t *Array) String() string   { return fmt.Sprintf("[%d]%s", t.Len, t.Elem) }
func (t *Slice) String() string   { return "[]" + t.Elem.String() }
func (t *Struct) String() string {
	if t.Module != nil && !t.Module.Main {
		return t.Module.Name + "." + t.Name
	}
	return t.Name
}

func (t *Func) String() string {
	var sb strings.Builder
	sb.WriteString("fn(")
	for i, p := range t.Params {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(p.String())
	}
	sb.WriteString(")")
	writeResults(&sb, t.Results)
	return sb.String()
}

func writeResults(sb *strings.Builder, rs []Type) {
	switch len(rs) {
	case 0:
	case 1:
		sb.WriteString(" " + rs[0].String())
	default:
		sb.WriteString(" (")
		for i, r := range rs {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(r.String())
		}
		sb.WriteString(")")
	}
}

func (t *Tuple) String() string {
	var sb strings.Builder
	sb.WriteString("(")
	for i, r := range t.Types {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(r.String())
	}
	sb.WriteString(")")
	return sb.String()
}

// The predeclared types.
var (
	TypInvalid    = &Basic{Invalid, "invalid type"}
	TypInt        = &Basic{Int, "int"}
	TypUint       = &Basic{Uint, "uint"}
	TypByte       = &Basic{Byte, "byte"}
	TypBool       = &Basic{Bool, "bool"}
	TypString     = &Basic{String, "string"}
	TypThread     = &Basic{Thread, "thread"}
	TypUntypedInt = &Basic{UntypedInt, "untyped int"}
	TypUntypedNil = &Basic{UntypedNil, "untyped nil"}
)

// Identical reports whether two types are the same type.
func Identical(a, b Type) bool {
	if a == b {
		return true
	}
	switch a := a.(type) {
	case *Pointer:
		if b, ok := b.(*Pointer); ok {
			return Identical(a.Elem, b.Elem)
		}
	case *Slice:
		if b, ok := b.(*Slice); ok {
			return Identical(a.Elem, b.Elem)
		}
	case *Array:
		if b, ok := b.(*Array); ok {
			return a.Len == b.Len && Identical(a.Elem, b.Elem)
		}
	case *Func:
		if b, ok := b.(*Func); ok {
			return identicalList(a.Params, b.Params) && identicalList(a.Results, b.Results)
		}
	}
	return false
}

func identicalList(a, b []Type) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !Identical(a[i], b[i]) {
			return false
		}
	}
	return true
}

func isBasic(t Type, k BasicKind) bool {
	b, ok := t.(*Basic)
	return ok && b.Kind == k
}

// IsInvalid reports whether t is the type of an erroneous expression.
func IsInvalid(t Type) bool { return t == nil || isBasic(t, Invalid) }

// IsInteger reports whether t is int, uint, byte or an untyped integer.
func IsInteger(t Type) bool {
	b, ok := t.(*Basic)
	return ok && (b.Kind == Int || b.Kind == Uint || b.Kind == Byte || b.Kind == UntypedInt)
}

// IsUnsigned reports whether comparisons, division and right shifts on t
// are unsigned.
func IsUnsigned(t Type) bool {
	b, ok := t.(*Basic)
	if ok {
		return b.Kind == Uint || b.Kind == Byte || b.Kind == Bool
	}
	switch t.(type) {
	case *Pointer, *Func:
		return true
	}
	return false
}

// Class says how a value of a type is held by generated code.
type Class uint8

const (
	ClassWord   Class = iota // one word: integers, bool, pointers, threads, functions
	ClassPair                // two words (pointer, length): strings and slices
	ClassMemory              // in memory, handled by address: structs and arrays
	ClassNone                // no value (a tuple or invalid)
)

// ClassOf is how values of t are held.
func ClassOf(t Type) Class {
	switch t := t.(type) {
	case *Basic:
		if t.Kind == String {
			return ClassPair
		}
		if t.Kind == Invalid {
			return ClassNone
		}
		return ClassWord
	case *Pointer, *Func:
		return ClassWord
	case *Slice:
		return ClassPair
	case *Array, *Struct:
		return ClassMemory
	}
	return ClassNone
}

// Words is how many stack words a value of t takes (an address for memory
// types).
func Words(t Type) int {
	switch ClassOf(t) {
	case ClassPair:
		return 2
	case ClassNone:
		return 0
	}
	return 1
}

// IsWord reports whether t is held in one word that atomics can work on:
// int, uint or a pointer.
func IsWord(t Type) bool {
	switch t := t.(type) {
	case *Basic:
		return t.Kind == Int || t.Kind == Uint
	case *Pointer:
		return true
	}
	return false
}

// SizeOf is the size of a value of t in memory, in bytes.
func SizeOf(t Type) int64 {
	switch t := t.(type) {
	case *Basic:
		switch t.Kind {
		case Byte, Bool:
			return 1
		case String:
			return 16
		}
		return 8
	case *Pointer, *Func:
		return 8
	case *Slice:
		return 16
	case *Array:
		return t.Len * SizeOf(t.Elem)
	case *Struct:
		return t.size
	}
	return 8
}

// AlignOf is the alignment of a value of t in memory.
func AlignOf(t Type) int64 {
	switch t := t.(type) {
	case *Basic:
		if t.Kind == Byte || t.Kind == Bool {
			return 1
		}
	case *Array:
		return AlignOf(t.Elem)
	case *Struct:
		return t.align
	}
	return 8
}

// FieldByName finds a field of a struct.
// A field named _ is padding: it takes room and has no name.
func (t *Struct) FieldByName(name string) *Field {
	if name == "_" {
		return nil
	}
	for _, f := range t.Fields {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// Elem is the element type of an array, slice or string (byte), or nil.
func Elem(t Type) Type {
	switch t := t.(type) {
	case *Array:
		return t.Elem
	case *Slice:
		return t.Elem
	case *Basic:
		if t.Kind == String {
			return TypByte
		}
	}
	return nil
}
