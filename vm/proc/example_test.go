package proc_test

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/flockvm/flock/diskmodel/osdisk"
	"github.com/flockvm/flock/vm/asm"
	"github.com/flockvm/flock/vm/proc"
	"github.com/flockvm/flock/vm/storage"
)

func ExampleVM() {
	src := `
.string hi "hello from thread "
main:
    PUSH 0
    SPAWN greet
    JOIN
    EXIT
greet:
    PUSH hi
    PUSH len(hi)
    PRINTS
    TID
    PRINT
    PUSH 7
    RET
`
	prog, err := asm.Assemble("greet.flasm", []byte(src), asm.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	dir, _ := os.MkdirTemp("", "flock-example")
	defer os.RemoveAll(dir)
	disk, _ := osdisk.Open(dir)
	defer disk.Close()
	st := storage.NewLocal(disk)
	var out strings.Builder
	vm := proc.New(proc.DefaultConfig, st, proc.LoadFile(st.ReadFile), io.Discard)
	pid, _ := vm.Start(prog, nil, &out)
	vm.Run()
	status, _ := vm.Status(pid)
	fmt.Printf("%s, exit %d\n", out.String(), status.Code)
	// Output: hello from thread 2, exit 7
}
