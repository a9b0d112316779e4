// Command flock runs Flock programs, works with their bytecode, and makes
// and runs VMs of many machines.
//
//	flock run [flags] prog.fl [args...]   run on an embedded local VM (.fl, .flasm or .flb)
//	flock run prog.fl --vm NAME@ADDR ...  run on a VM, as the credential's user
//	flock new NAME --listen ADDR --data DIR [--voters N]   make a VM, serve as its machine 1
//	flock join NAME@ADDR --token T [--provide ...] --data DIR  add a machine, serve as it
//	flock ps | kill PID | status | leave | user add NAME | token create | kv ...  (--vm NAME@ADDR)
//	flock build [-o out.flb] prog.fl      compile (or assemble .flasm) to bytecode; also flock asm
//	flock disasm prog.fl|prog.flb         print the instructions
//	flock check prog.fl...                report compile errors only
//	flock fmt [-w|-l] prog.fl...          print .fl source in its canonical layout
//
// Commands and flags follow the conventions of etcdctl and kubectl (the CLI
// is built on spf13/cobra): long flags with two dashes, `flock COMMAND
// --help`, errors naming what was wrong. Flags of run come before the
// program file; everything after it is the program's.
//
// Exit statuses of flock run: the program's exit code (its low 8 bits);
// 64 usage error; 65 the program does not compile; 66 the program file cannot be read;
// 70 the program trapped (or deadlocked, or ran out of budget).
//
// The cluster commands' exit statuses are in docs/operating.md: 69 the VM
// cannot be reached or serve now, 70 a program trapped or was lost with a
// machine, 77 not allowed, 130 interrupted.
//
// One file per command: run.go, asm.go, disasm.go, check.go, fmt.go, new.go,
// join.go, ps.go, kill.go, status.go, leave.go, user.go, token.go, kv.go;
// run_vm.go is run's --vm branch, machine.go what new and join share,
// client.go what the commands that talk to a VM share; main.go holds the
// root command and the mapping of errors to exit statuses.
package main
