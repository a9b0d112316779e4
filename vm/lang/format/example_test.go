package format_test

import (
	"fmt"

	"github.com/flockvm/flock/vm/lang/format"
)

func ExampleSource() {
	out, err := format.Source("hello.fl", []byte("fn main(){println( \"hi\" )}"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(out))
	// Output:
	// fn main() {
	//     println("hi")
	// }
}
