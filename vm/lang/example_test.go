package lang_test

import (
	"bytes"
	"fmt"
	"io"

	"github.com/flockvm/flock/vm/lang"
	"github.com/flockvm/flock/vm/proc"
)

func ExampleCompile() {
	src := `
fn square(x int) int {
    return x * x
}

fn main() {
    println(square(12))
}
`
	prog, err := lang.Compile("square.fl", []byte(src), nil, lang.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	var out bytes.Buffer
	vm := proc.New(proc.DefaultConfig, noStorage{}, nil, io.Discard)
	if _, err := vm.Start(prog, nil, &out); err != nil {
		fmt.Println(err)
		return
	}
	vm.Run()
	fmt.Print(out.String())
	// Output: 144
}

func ExampleCompile_errors() {
	src := "fn main() {\n    var n int = \"one\"\n    println(m)\n}\n"
	_, err := lang.Compile("bad.fl", []byte(src), nil, lang.Options{})
	fmt.Println(err)
	// Output:
	// bad.fl:2:17: cannot use string as int in the declaration of n
	//         var n int = "one"
	//                     ^
	// bad.fl:3:13: undefined: m
	//         println(m)
	//                 ^
}
