package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flockvm/flock/host"
)

// Tests with real flock processes on loopback: the test binary stands in
// for flock (TestMain), machines are separate processes on 127.0.0.x with
// data dirs in a temp dir, killed with SIGKILL and restarted. Every wait is
// bounded; every process is killed at the end.

// envBeFlock makes the test binary run as flock.
const envBeFlock = "FLOCK_TEST_BE_FLOCK"

func TestMain(m *testing.M) {
	if os.Getenv(envBeFlock) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// clusterWait bounds every wait for the cluster to do something.
const clusterWait = 30 * time.Second

// flockProc is a flock process the test started.
type flockProc struct {
	t       *testing.T
	name    string
	cmd     *exec.Cmd
	logPath string
	mu      sync.Mutex
	lines   []string
	newLine chan struct{}
	done    chan struct{}
	exit    int
}

// env is the environment of every flock process: nothing of the user's
// home or config is read or written.
func flockEnv(home string) []string {
	return append(os.Environ(), envBeFlock+"=1", "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, "config"),
		envVM+"=", envCredential+"=")
}

// startFlock starts `flock args...`; its stdout is kept by line, its
// stderr (the logs) goes to a file.
func startFlock(t *testing.T, home, name string, args ...string) *flockProc {
	t.Helper()
	p := &flockProc{t: t, name: name, newLine: make(chan struct{}, 1), done: make(chan struct{}),
		logPath: filepath.Join(home, name+".log")}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(os.Args[0], args...)
	p.cmd.Env = flockEnv(home)
	p.cmd.Stderr = logf
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			select {
			case p.newLine <- struct{}{}:
			default:
			}
		}
		err := p.cmd.Wait()
		logf.Close()
		p.exit = exitCode(err)
		close(p.done)
	}()
	t.Cleanup(func() { p.kill(syscall.SIGKILL) })
	return p
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return -1
}

// waitLine waits for a line of stdout starting with prefix and returns it.
func (p *flockProc) waitLine(prefix string) string {
	p.t.Helper()
	deadline := time.After(clusterWait)
	for seen := 0; ; {
		p.mu.Lock()
		lines := p.lines[seen:]
		seen = len(p.lines)
		p.mu.Unlock()
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		select {
		case <-p.newLine:
		case <-p.done:
			p.mu.Lock()
			n := len(p.lines)
			p.mu.Unlock()
			if n == seen {
				p.t.Fatalf("%s exited (%d) without printing %q; log:\n%s", p.name, p.exit, prefix, p.logTail())
			}
		case <-deadline:
			p.t.Fatalf("%s did not print %q within %v; log:\n%s", p.name, prefix, clusterWait, p.logTail())
		}
	}
}

func (p *flockProc) logTail() string {
	data, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-30):], "\n")
}

// kill sends sig (if the process still runs) and waits for it to end.
func (p *flockProc) kill(sig syscall.Signal) int {
	select {
	case <-p.done:
		return p.exit
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(clusterWait):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Errorf("%s did not end on %v", p.name, sig)
	}
	return p.exit
}

// runFlock runs `flock args...` to its end.
func runFlock(t *testing.T, home string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clusterWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = flockEnv(home)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("flock %s did not end within %v; stderr:\n%s", strings.Join(args, " "), clusterWait, errb.String())
	}
	return out.String(), errb.String(), exitCode(err)
}

// freeAddr is an address on ip with a port nothing listens on now.
func freeAddr(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot listen on %s (loopback addresses beyond 127.0.0.1 needed): %v", ip, err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// procCluster is a VM of flock processes.
type procCluster struct {
	t        *testing.T
	home     string
	name     string
	addrs    []string // where clients reach the machines
	listen   []string // where the machines listen, if not addrs (behind proxies)
	dirs     []string
	procs    []*flockProc
	joinLine string // as flock new printed it
	runLine  string
	cred     string
	metrics  string // machine 1's metrics address
}

// newProcCluster starts `flock new` and machines-1 `flock join`s, with the
// commands flock new printed, and waits until every machine has joined.
func newProcCluster(t *testing.T, name string, machines, voters int) *procCluster {
	t.Helper()
	c := &procCluster{t: t, home: t.TempDir(), name: name}
	for i := range machines {
		c.addrs = append(c.addrs, freeAddr(t, fmt.Sprintf("127.0.0.%d", i+1)))
		c.dirs = append(c.dirs, filepath.Join(c.home, fmt.Sprintf("m%d", i+1)))
	}
	c.metrics = freeAddr(t, "127.0.0.1")
	first := startFlock(t, c.home, "m1", "new", name, "--listen", c.addrs[0], "--data", c.dirs[0],
		"--voters", fmt.Sprint(voters), "--provide", "cpu:1,ram:256MiB,disk:1GiB", "--metrics", c.metrics)
	c.procs = append(c.procs, first)
	c.joinLine = first.waitLine("flock join ")
	c.runLine = first.waitLine("flock run ")
	c.cred = filepath.Join(c.dirs[0], "identity", "admin.pem")
	for i := 1; i < machines; i++ {
		c.procs = append(c.procs, nil)
		c.start(i)
	}
	c.waitStatus(func(st host.Status) bool { return aliveCount(st) == machines && st.Leader != 0 }, "every machine joined")
	return c
}

// start runs machine i with the join command flock new printed (a restart
// runs the very same command).
func (c *procCluster) start(i int) {
	args := append(strings.Fields(c.joinLine)[1:], "--data", c.dirs[i], "--listen", c.addrs[i], "--provide", "cpu:2,ram:256MiB,disk:1GiB") // two cores: on OS threads of their own
	p := startFlock(c.t, c.home, fmt.Sprintf("m%d", i+1), args...)
	c.procs[i] = p
	p.waitLine("")
}

func (c *procCluster) vm(i int) string { return c.name + "@" + c.addrs[i] }

// flock runs a client command against machine i as the admin.
func (c *procCluster) flock(i int, args ...string) (string, string, int) {
	c.t.Helper()
	return runFlock(c.t, c.home, append(args, "--vm", c.vm(i), "--credential", c.cred)...)
}

func (c *procCluster) status(i int) (host.Status, error) {
	out, errs, code := c.flock(i, "status", "--json")
	if code != 0 {
		return host.Status{}, fmt.Errorf("status exit %d: %s", code, errs)
	}
	var st host.Status
	err := json.Unmarshal([]byte(out), &st)
	return st, err
}

func aliveCount(st host.Status) int {
	n := 0
	for _, m := range st.Machines {
		if m.State == "alive" && m.Reported && m.Joined {
			n++
		}
	}
	return n
}

func (c *procCluster) waitStatus(ok func(host.Status) bool, what string) host.Status {
	c.t.Helper()
	deadline := time.Now().Add(clusterWait)
	for {
		st, err := c.status(0)
		if err == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("cluster: %s did not happen within %v: %+v (%v)\n%s", what, clusterWait, st, err, c.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *procCluster) logs() string {
	var b strings.Builder
	for _, p := range c.procs {
		if p != nil {
			fmt.Fprintf(&b, "--- %s:\n%s\n", p.name, p.logTail())
		}
	}
	return b.String()
}

// testProgram is a program of host/testdata (spread, spreadspin, spin).
func testProgram(t *testing.T, name string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "..", "host", "testdata", name+".flasm"))
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// TestClusterProcesses: flock new and two flock joins as real processes;
// flock run --vm spreads a program over them with its exact output and
// exit status; a machine the client does not talk to is SIGKILLed and
// restarted with the same command, rejoins as a new incarnation and runs
// threads again; ps, kill and Ctrl-C work across processes.
func TestClusterProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	c := newProcCluster(t, "procvm", 3, 3)
	if want := fmt.Sprintf("flock run prog.fl --vm %s --credential %s", c.vm(0), c.cred); c.runLine != want {
		t.Errorf("flock new printed %q, want %q", c.runLine, want)
	}
	prog := testProgram(t, "spread")
	runSpread := func(what string) {
		t.Helper()
		// The README's form: flock run prog --vm NAME@ADDR --credential FILE.
		out, errs, code := runFlock(t, c.home, "run", prog, "--vm", c.vm(0), "--credential", c.cred)
		if out != "4324\n" || code != 3 {
			t.Fatalf("%s: flock run --vm = %q, exit %d, stderr %q; want \"4324\\n\", exit 3\n%s", what, out, code, errs, c.logs())
		}
	}
	runSpread("first run")
	st := c.waitStatus(func(host.Status) bool { return true }, "status")
	started := map[uint64]uint64{}
	for _, m := range st.Machines {
		started[uint64(m.ID)] = m.ThreadsStarted
	}
	if spread := len(slices.DeleteFunc(slices.Collect(func(yield func(uint64) bool) {
		for _, v := range started {
			yield(v)
		}
	}), func(v uint64) bool { return v == 0 })); spread < 2 {
		t.Errorf("threads started per machine %v: the program did not spread", started)
	}

	// SIGKILL machine 3 (the client talks to machine 1) and restart it
	// with the very same command: it rejoins as a new incarnation.
	inc3 := st.Machines[2].Incarnation
	if code := c.procs[2].kill(syscall.SIGKILL); code != 128+int(syscall.SIGKILL) {
		t.Errorf("machine 3 ended with %d after SIGKILL", code)
	}
	c.start(2)
	st = c.waitStatus(func(st host.Status) bool {
		return aliveCount(st) == 3 && len(st.Machines) == 3 && st.Machines[2].Incarnation > inc3
	}, "machine 3 rejoined as a new incarnation")
	// The first run after the rejoin may start before every machine's
	// view has the new incarnation in it (its span then leaves machine 3
	// out); a few runs, bounded, must reach it.
	before := st.Machines[2].ThreadsStarted
	after := before
	for run := 0; run < 3 && after <= before; run++ {
		runSpread("after the restart")
		st = c.waitStatus(func(host.Status) bool { return true }, "status")
		after = st.Machines[2].ThreadsStarted
	}
	if after <= before {
		t.Errorf("the restarted machine 3 ran no threads of three runs after the restart (%d started before, %d after)", before, after)
	}

	// Ctrl-C kills the process: the run ends with the kill, exit 130, and
	// ps lists it killed.
	spin := testProgram(t, "spin")
	r := startFlock(t, c.home, "run-spin", "run", "--vm", c.vm(1), "--credential", c.cred, spin)
	r.waitLine("spinning")
	out, errs, code := c.flock(2, "ps")
	if code != 0 || !strings.Contains(out, "running") || !strings.Contains(out, "spin.flasm") {
		t.Errorf("flock ps = %q, exit %d, %q; want the spinning process", out, code, errs)
	}
	if code := r.kill(syscall.SIGINT); code != exitInterrupted {
		t.Errorf("flock run after SIGINT exit %d, want %d; log:\n%s", code, exitInterrupted, r.logTail())
	}
	if out, _, _ := c.flock(0, "ps", "--all"); !strings.Contains(out, "trapped: killed") {
		t.Errorf("flock ps --all after Ctrl-C = %q, want the process killed", out)
	}
	if _, errs, code := c.flock(0, "kill", "999999"); code != exitFailed {
		t.Errorf("flock kill of no process = exit %d (%s), want %d", code, errs, exitFailed)
	}

	// A machine with threads of a running process dies: the run ends
	// with the machine-loss error naming it, exit 70.
	spread := testProgram(t, "spreadspin")
	r = startFlock(t, c.home, "run-spread", "run", "--vm", c.vm(0), "--credential", c.cred, spread)
	r.waitLine("spawned")
	c.waitStatus(func(st host.Status) bool { return len(st.Machines) == 3 && st.Machines[1].Threads > 0 }, "machine 2 runs threads")
	c.procs[1].kill(syscall.SIGKILL)
	select {
	case <-r.done:
	case <-time.After(clusterWait):
		t.Fatalf("flock run did not end after machine 2 died; log:\n%s", r.logTail())
	}
	if log := r.logTail(); r.exit != exitSoftware || !strings.Contains(log, "lost with machine 2") {
		t.Errorf("flock run after machine 2 died: exit %d, stderr %q; want %d and the error naming machine 2", r.exit, log, exitSoftware)
	}
	c.start(1)
	c.waitStatus(func(st host.Status) bool { return aliveCount(st) == 3 }, "machine 2 back")
	runSpread("after machine 2 came back")

	// Machine 1's metrics.
	body := httpGet(t, "http://"+c.metrics+"/metrics")
	for _, m := range []string{"flock_node_threads_started_total", "flock_raft_state", "flock_client_requests_total", "flock_net_messages_sent_total",
		"flock_mem_read_misses_total", "flock_mem_hits_total", "flock_node_service_messages_received_total"} {
		if !strings.Contains(body, m) {
			t.Errorf("machine 1's metrics lack %s", m)
		}
	}
	// Machine 1 is the spread programs' home: its cores ran their main threads.
	if ticks := metricValue(body, "flock_node_core_ticks_total"); ticks <= 0 {
		t.Errorf("machine 1's flock_node_core_ticks_total = %v, want > 0 after running programs", ticks)
	}
	// Its metadata replica talks to the others, its process manager places
	// the spread programs' threads on them.
	for _, svc := range []string{"meta-server", "procs"} {
		name := fmt.Sprintf(`flock_node_service_bytes_sent_total{machine="n1",node_service="%s",service="node"}`, svc)
		if got := metricValue(body, name); got <= 0 {
			t.Errorf("machine 1's %s = %v, want > 0\n%s", name, got, grepLines(body, "flock_node_service_bytes|flock_mem_"))
		}
	}
	// Machine 1 admitted the two joiners (from its data dir, or from the
	// metadata store once handed over) and issues from the store now.
	if got := metricValue(body, `flock_issuer_joins_total{machine="n1",outcome="admitted",service="node"}`); got != 2 {
		t.Errorf("machine 1's admitted joins = %v, want 2", got)
	}
	if got := metricValue(body, "flock_issuer_mode"); got != 2 {
		t.Errorf("machine 1's flock_issuer_mode = %v, want 2 (the metadata store)", got)
	}
}

// metricValue is the value of the first sample of name in a Prometheus
// text exposition (-1 if there is none).
func metricValue(body, name string) float64 {
	for _, line := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		fields := strings.Fields(rest)
		if v, err := strconv.ParseFloat(fields[len(fields)-1], 64); err == nil {
			return v
		}
	}
	return -1
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// TestClusterSecurity: joining without a token, with a wrong one, or with
// one of another VM is refused; a client with another VM's credential and
// a plaintext client are refused; none of these leaves state behind, and
// the VM serves on.
func TestClusterSecurity(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	c := newProcCluster(t, "secvm", 1, 1)
	other := newProcCluster(t, "othervm", 1, 1)
	issuer := filepath.Join(c.dirs[0], "identity")
	// Machine 1 hands its issuer over to the metadata store once the store
	// answers (marking its dir); the joins below are refused by the store's.
	waitFile(t, filepath.Join(c.dirs[0], "identity", "handed-over"))
	snapshot := func() string { return treeOf(t, issuer) }
	before := snapshot()
	token := strings.Fields(c.joinLine)[4]
	wrong := []byte(token)
	if wrong[20] == '0' { // a hex digit of the secret
		wrong[20] = '1'
	} else {
		wrong[20] = '0'
	}
	otherToken := strings.Fields(other.joinLine)[4]

	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"no token", []string{"join", c.vm(0)}, exitUsage},
		{"wrong token", []string{"join", c.vm(0), "--token", string(wrong)}, exitNoPerm},
		{"another VM's token", []string{"join", c.vm(0), "--token", otherToken}, exitNoPerm},
		{"the right token for another VM's name", []string{"join", "othervm@" + c.addrs[0], "--token", token}, exitNoPerm},
	} {
		dir := filepath.Join(c.home, "joiner-"+strings.ReplaceAll(tc.name, " ", "-"))
		args := append(tc.args, "--data", dir, "--listen", "127.0.0.1:0")
		if _, errs, code := runFlock(t, c.home, args...); code != tc.code {
			t.Errorf("%s: flock join exit %d, want %d; stderr:\n%s", tc.name, code, tc.code, errs)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s: the refused join left %s behind (%v): %s", tc.name, dir, err, treeOf(t, dir))
		}
	}
	if after := snapshot(); after != before {
		t.Errorf("refused joins changed the issuer's identity files:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// A client of another VM: refused by TLS.
	otherCred := filepath.Join(other.dirs[0], "identity", "admin.pem")
	if _, errs, code := runFlock(t, c.home, "status", "--vm", "secvm@"+c.addrs[0], "--credential", otherCred); code == 0 {
		t.Errorf("flock status with another VM's credential succeeded: %s", errs)
	}
	// The machine's own credential is not a user's.
	if _, _, code := runFlock(t, c.home, "status", "--vm", c.vm(0), "--credential", filepath.Join(issuer, "machine.pem")); code == 0 {
		t.Errorf("flock status with a machine's credential succeeded")
	}
	// A plaintext client: not one Flock byte comes back.
	conn, err := net.DialTimeout("tcp", c.addrs[0], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET / HTTP/1.0\r\n\r\n")
	reply, _ := io.ReadAll(conn)
	conn.Close()
	if bytes.Contains(reply, []byte("FL")) {
		t.Errorf("a plaintext client got %q", reply)
	}
	if after := snapshot(); after != before {
		t.Errorf("refused clients changed the issuer's identity files")
	}
	st := c.waitStatus(func(st host.Status) bool { return aliveCount(st) == 1 }, "the VM still serves")
	if len(st.Machines) != 1 {
		t.Errorf("refused joins added machines: %+v", st.Machines)
	}
}

// waitFile waits until path exists.
func waitFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(clusterWait); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %v", path, clusterWait)
		}
	}
}

// treeOf lists the files under dir with their contents' sizes and hashes
// of their bytes, to tell whether anything changed.
func treeOf(t *testing.T, dir string) string {
	var b strings.Builder
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		data, _ := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		fmt.Fprintf(&b, "%s %d %x\n", rel, len(data), hash(data))
		return nil
	})
	return b.String()
}

func hash(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h
}

// TestClusterWithoutMachineOne: machine 1, the one flock new made, is
// SIGKILLed for good once it handed the VM's issuer over; `flock token
// create` through machine 2 prints a join command that admits a new
// machine through machine 2, the VM runs a program through the newcomer,
// and the token's one use is spent.
func TestClusterWithoutMachineOne(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	c := newProcCluster(t, "lonevm", 3, 3)
	waitFile(t, filepath.Join(c.dirs[0], "identity", "handed-over"))
	c.procs[0].kill(syscall.SIGKILL)
	out, errs, code := c.flock(1, "token", "create", "--uses", "1", "--ttl", "1h")
	f := strings.Fields(out)
	if code != 0 || len(f) != 5 || f[0] != "flock" || f[1] != "join" || f[2] != c.vm(1) || f[3] != "--token" {
		t.Fatalf("flock token create via machine 2 = %q, exit %d, stderr %q; want flock join %s --token T\n%s", out, code, errs, c.vm(1), c.logs())
	}
	c.addrs = append(c.addrs, freeAddr(t, "127.0.0.4"))
	c.dirs = append(c.dirs, filepath.Join(c.home, "m4"))
	c.procs = append(c.procs, nil)
	p := startFlock(t, c.home, "m4", append(f[1:], "--data", c.dirs[3], "--listen", c.addrs[3], "--provide", "cpu:1,ram:256MiB,disk:1GiB")...)
	c.procs[3] = p
	p.waitLine("Joined VM ")
	deadline := time.Now().Add(clusterWait)
	for {
		st, err := c.status(3)
		if err == nil && aliveCount(st) == 3 && st.Leader != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("machine 4 did not join the VM without machine 1: %+v (%v)\n%s", st, err, c.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, errs, code = runFlock(t, c.home, "run", testProgram(t, "spread"), "--vm", c.vm(3), "--credential", c.cred)
	if out != "4324\n" || code != 3 {
		t.Errorf("flock run --vm machine 4 = %q, exit %d, stderr %q; want \"4324\\n\", exit 3\n%s", out, code, errs, c.logs())
	}
	dir := filepath.Join(c.home, "m5")
	if _, errs, code := runFlock(t, c.home, "join", c.vm(2), "--token", f[4], "--data", dir, "--listen", "127.0.0.5:0"); code != exitNoPerm {
		t.Errorf("a second join with a token of one use: exit %d, want %d; stderr:\n%s", code, exitNoPerm, errs)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the refused join left %s behind (%v)", dir, err)
	}
}

// grepLines is the lines of body matching the regular expression re.
func grepLines(body, re string) string {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		if ok, _ := regexp.MatchString(re, line); ok && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
