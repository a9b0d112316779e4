package lang_test

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/flockvm/flock/diskmodel/osdisk"
	"github.com/flockvm/flock/vm/lang"
	"github.com/flockvm/flock/vm/proc"
	"github.com/flockvm/flock/vm/storage"
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
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	disk, err := osdisk.Open(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer disk.Close()
	var out bytes.Buffer
	vm := proc.New(proc.DefaultConfig, storage.NewLocal(disk), nil, io.Discard)
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
