// Command flock runs Flock programs and works with their bytecode.
//
//	flock run [flags] prog.fl [args...]   run on an embedded local VM (.fl, .flasm or .flb)
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
// One file per command: run.go, asm.go, disasm.go, check.go, fmt.go; main.go holds
// the root command and the mapping of errors to exit statuses.
package main
