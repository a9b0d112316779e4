package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestClusterFiles: on a VM of three flock processes, the admin makes a
// directory for alice and gives it to her alone; alice puts a file through
// one machine and cats it back through another; bob is refused (EACCES:
// exit 77, naming the path) while the admin reads everything; usage
// errors exit 64.
func TestClusterFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	c := newProcCluster(t, "filevm", 3, 3)
	creds := map[string]string{}
	for _, user := range []string{"alice", "bob"} {
		creds[user] = filepath.Join(c.home, user+".pem")
		if _, errs, code := c.flock(0, "user", "add", user, "--out", creds[user]); code != 0 {
			t.Fatalf("flock user add %s: exit %d: %s", user, code, errs)
		}
	}
	as := func(user string, machine int, args ...string) (string, string, int) {
		t.Helper()
		return runFlock(t, c.home, append(args, "--vm", c.vm(machine), "--credential", creds[user])...)
	}
	mustAdmin := func(args ...string) {
		t.Helper()
		if _, errs, code := c.flock(0, args...); code != 0 {
			t.Fatalf("flock %s: exit %d: %s\n%s", strings.Join(args, " "), code, errs, c.logs())
		}
	}
	mustAdmin("mkdir", "alice")
	mustAdmin("chmod", "alice", "--readers", "alice", "--writers", "alice")
	mustAdmin("redundancy", "alice", "2")
	if out, errs, code := c.flock(2, "redundancy", "alice"); out != "2\n" || code != 0 {
		t.Errorf("flock redundancy alice = %q, exit %d (%s), want \"2\\n\"", out, code, errs)
	}
	local := filepath.Join(c.home, "diary.txt")
	const text = "dear diary: flock keeps two copies of this\n"
	if err := os.WriteFile(local, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := as("alice", 0, "put", local, "alice/diary.txt"); code != 0 {
		t.Fatalf("alice: flock put: exit %d: %s\n%s", code, errs, c.logs())
	}
	if out, errs, code := as("alice", 1, "cat", "alice/diary.txt"); out != text || code != 0 {
		t.Errorf("alice: flock cat on another machine = %q, exit %d (%s), want %q", out, code, errs, text)
	}
	// The admin is the filesystem's superuser; no user may take its name.
	if out, errs, code := c.flock(2, "cat", "alice/diary.txt"); out != text || code != 0 {
		t.Errorf("admin: flock cat alice/diary.txt = %q, exit %d (%s), want %q", out, code, errs, text)
	}
	if _, _, code := c.flock(0, "user", "add", "root", "--out", filepath.Join(c.home, "root.pem")); code == 0 {
		t.Errorf("flock user add root: exit 0, want a refusal (the admin is the filesystem's root)")
	}
	if out, _, code := as("alice", 2, "ls", "alice"); out != "diary.txt\n" || code != 0 {
		t.Errorf("alice: flock ls alice = %q, exit %d, want \"diary.txt\\n\"", out, code)
	}
	tests := []struct {
		name string
		args []string
		code int
		says string // in stderr
	}{
		{"bob cats", []string{"cat", "alice/diary.txt"}, exitNoPerm, "alice/diary.txt: permission denied"},
		{"bob lists", []string{"ls", "alice"}, exitNoPerm, "alice: permission denied"},
		{"bob puts", []string{"put", local, "alice/other.txt"}, exitNoPerm, "alice/other.txt: permission denied"},
		{"bob chmods", []string{"chmod", "alice", "--readers", "*"}, exitNoPerm, "alice: permission denied"},
		{"bob removes", []string{"rm", "alice/diary.txt"}, exitNoPerm, "alice/diary.txt: permission denied"},
		{"missing file", []string{"cat", "nothing/here"}, exitFailed, "nothing/here: no such file or directory"},
		{"cat usage", []string{"cat"}, exitUsage, "accepts 1 arg"},
		{"redundancy usage", []string{"redundancy", "alice", "9"}, exitUsage, "want 1 to 7"},
	}
	for _, tc := range tests {
		_, errs, code := as("bob", 2, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.says) {
			t.Errorf("%s: flock %s = exit %d, stderr %q; want exit %d saying %q", tc.name, strings.Join(tc.args, " "), code, errs, tc.code, tc.says)
		}
	}
	if _, errs, code := as("alice", 1, "rm", "alice/diary.txt"); code != 0 {
		t.Errorf("alice: flock rm: exit %d: %s", code, errs)
	}
	if out, _, code := as("alice", 0, "ls", "alice"); out != "" || code != 0 {
		t.Errorf("alice: flock ls after rm = %q, exit %d, want nothing", out, code)
	}
	if body := httpGet(t, "http://"+c.metrics+"/metrics"); !strings.Contains(body, "flock_storage_writes_total") || !strings.Contains(body, "flock_storage_used_bytes") {
		t.Errorf("machine 1's metrics lack the storage series")
	}
	// Programs on the VM: their files and the programs PSTART loads are
	// the same filesystem.
	examples, err := filepath.Abs(filepath.Join("..", "..", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	golden := func(name string) string {
		b, err := os.ReadFile(filepath.Join(examples, "golden", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if out, errs, code := c.flock(0, "run", filepath.Join(examples, "files.flasm")); out != golden("files.out") || code != 0 {
		t.Errorf("flock run files.flasm --vm = %q, exit %d (%s), want %q", out, code, errs, golden("files.out"))
	}
	mustAdmin("put", filepath.Join(examples, "child.flasm"), "child.flasm")
	if out, errs, code := c.flock(1, "run", filepath.Join(examples, "procs.flasm")); sortLines(out) != sortLines(golden("procs.out")) || code != 0 {
		t.Errorf("flock run procs.flasm --vm (PSTART from the filesystem) = %q, exit %d (%s), want %q", out, code, errs, golden("procs.out"))
	}
}

func sortLines(s string) string {
	lines := strings.SplitAfter(s, "\n")
	slices.Sort(lines)
	return strings.Join(lines, "")
}
