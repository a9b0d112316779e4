// Command flock runs Flock programs and works with their bytecode.
//
//	flock run [flags] prog.fl [args...]   run on an embedded local VM
//	flock asm [-o out.flb] prog.fl        assemble to bytecode
//	flock disasm prog.fl|prog.flb         print the instructions
//	flock check prog.fl...                report assembly errors only
//
// Exit statuses of flock run: the program's exit code (its low 8 bits);
// 64 usage error; 65 assembly error; 66 the program file cannot be read;
// 70 the program trapped (or deadlocked, or ran out of budget).
package main
