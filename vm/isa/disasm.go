package isa

import (
	"fmt"
	"sort"
	"strings"
)

// Disassemble renders a program as text: one instruction per line with its
// pc and source position, labels where the source had them (or L<pc> for
// other jump targets), and the data as commented hex.
func Disassemble(p *Program) string {
	var sb strings.Builder
	labels := codeLabels(p)
	fmt.Fprintf(&sb, "; %s: %d instructions, entry pc %d, %d bytes read-only data at %#x, %d bytes data at %#x\n",
		p.File, len(p.Code), p.Entry, len(p.ROData), RODataBase, len(p.Data), p.DataBase())
	fmt.Fprintf(&sb, ".entry %s\n", labels[p.Entry])
	data := map[int64]string{}
	for _, s := range p.Symbols {
		if _, seen := data[s.Value]; s.Kind == SymData && !seen {
			data[s.Value] = s.Name
		}
	}
	for pc, in := range p.Code {
		if name, ok := labels[pc]; ok {
			fmt.Fprintf(&sb, "%s:\n", name)
		}
		text := FormatInstr(in, labels)
		note := ""
		if name, ok := data[in.B]; ok && in.Op == PUSH {
			note = "  = " + name
		}
		fmt.Fprintf(&sb, "    %-32s ; pc %d  %s%s\n", text, pc, p.Where(pc), note)
	}
	dumpData(&sb, "read-only data", RODataBase, p.ROData)
	dumpData(&sb, "data", p.DataBase(), p.Data)
	return sb.String()
}

// codeLabels names every pc that is a jump target or the entry.
func codeLabels(p *Program) map[int]string {
	labels := map[int]string{}
	syms := append([]Symbol(nil), p.Symbols...)
	sort.SliceStable(syms, func(i, j int) bool { return syms[i].Name < syms[j].Name })
	for _, s := range syms {
		if s.Kind == SymCode && s.Value >= 0 && s.Value < int64(len(p.Code)) {
			if _, ok := labels[int(s.Value)]; !ok {
				labels[int(s.Value)] = s.Name
			}
		}
	}
	add := func(pc int) {
		if _, ok := labels[pc]; !ok {
			labels[pc] = fmt.Sprintf("L%d", pc)
		}
	}
	add(p.Entry)
	for _, in := range p.Code {
		if in.Op.Valid() && in.Op.HasTarget() {
			add(int(in.A))
		}
	}
	return labels
}

// FormatInstr renders one instruction in source syntax; labels names code
// addresses (nil: numbers).
func FormatInstr(in Instr, labels map[int]string) string {
	if !in.Op.Valid() {
		return fmt.Sprintf("OP(%d) %d, %d", in.Op, in.A, in.B)
	}
	target := func() string {
		if name, ok := labels[int(in.A)]; ok {
			return name
		}
		return fmt.Sprint(in.A)
	}
	name := in.Op.String()
	switch in.Op.Info().Operands {
	case OperImm:
		return fmt.Sprintf("%s %d", name, in.B)
	case OperLabel:
		return fmt.Sprintf("%s %s", name, target())
	case OperSlot, OperCount:
		return fmt.Sprintf("%s %d", name, in.A)
	case OperEnter, OperSlotImm, OperSlotSlot:
		return fmt.Sprintf("%s %d, %d", name, in.A, in.B)
	case OperImmLabel:
		return fmt.Sprintf("%s %d, %s", name, in.B, target())
	case OperSlotSlotL, OperSlotImmL:
		return fmt.Sprintf("%s %d, %d, %s", name, Lo(in.B), Hi(in.B), target())
	}
	return name
}

func dumpData(sb *strings.Builder, what string, base uint64, data []byte) {
	if len(data) == 0 {
		return
	}
	fmt.Fprintf(sb, "; %s:\n", what)
	for off := 0; off < len(data); off += 16 {
		end := min(off+16, len(data))
		fmt.Fprintf(sb, ";   %#06x  % x\n", base+uint64(off), data[off:end])
	}
}
