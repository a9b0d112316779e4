package asm_test

import (
	"fmt"

	"github.com/flockvm/flock/vm/asm"
	"github.com/flockvm/flock/vm/isa"
)

func ExampleAssemble() {
	src := `
main:
    ENTER 0, 2          ; 0 = i, 1 = sum
loop:
    GET 0
    PUSH 10
    LT
    JZ done
    GET 1
    GET 0
    ADD
    SET 1
    GET 0
    PUSH 1
    ADD
    SET 0
    JMP loop
done:
    GET 1
    PRINT
    PUSH 0
    EXIT
`
	p, err := asm.Assemble("sum.flasm", []byte(src), asm.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for pc, in := range p.Code[:5] {
		fmt.Printf("%d %-20s %s\n", pc, isa.FormatInstr(in, nil), p.Where(pc))
	}
	_, err = asm.Assemble("bad.flasm", []byte("main:\n    PUSH 1\n    JMP nowhere\n"), asm.Options{})
	fmt.Println(err)
	// Output:
	// 0 ENTER 0, 2           sum.flasm:3:5
	// 1 JGELI 0, 10, 5       sum.flasm:5:5
	// 2 ADDLL 1, 0           sum.flasm:9:5
	// 3 INCL 0, 1            sum.flasm:13:5
	// 4 JLTLI 0, 10, 2       sum.flasm:17:5
	// bad.flasm:3:9: undefined name nowhere
}
