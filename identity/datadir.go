package identity

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/flockvm/flock/diskmodel"
)

// The identity files of a machine's data dir, relative to the dir. The
// node keeps its own state (the metadata store, chunks) beside them.
const (
	LockFile        = "LOCK"                 // held by the running flock (flock(2))
	IncarnationFile = "incarnation"          // the last incarnation drawn, decimal
	IdentityDir     = "identity"             //
	MachineFile     = "identity/machine.pem" // the machine's credential
	CAFile          = "identity/ca.pem"      // the CA: only where machines are admitted
	AdminFile       = "identity/admin.pem"   // the admin user's credential, written by flock new
	TokensDir       = "identity/tokens"      // join tokens issued here, one file per token id
	JoinKeyFile     = "identity/join.key"    // the key a joining machine asks to be certified (until it is)
)

// ErrLocked means another process holds the data dir.
var ErrLocked = errors.New("identity: data dir in use")

// Lock is a held data dir lock; it lasts until Unlock or the process ends
// (the kernel drops a flock(2) lock with its holder, so a SIGKILL never
// leaves a stale lock behind).
type Lock struct {
	f *os.File
}

// LockDir takes the lock of the data dir dir, creating the lock file. A
// second holder, in this process or another, gets an error wrapping
// ErrLocked that names the holder's pid.
func LockDir(dir string) (*Lock, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("identity: lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is held by pid %s", ErrLocked, dir, strings.TrimSpace(string(holder)))
		}
		return nil, fmt.Errorf("identity: lock %s: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l.f == nil {
		return nil
	}
	err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// Dir reads and writes the identity files of a data dir through fsys
// (rooted at the data dir). Every write is atomic and durable.
type Dir struct {
	FS diskmodel.FS
}

func (d Dir) write(name string, data []byte) error {
	if err := diskmodel.MkdirAll(d.FS, pathDir(name)); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	if err := diskmodel.WriteFileAtomic(d.FS, name, data); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	return nil
}

func pathDir(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return "."
}

// Exists reports whether the data dir already holds a machine credential.
func (d Dir) Exists() (bool, error) {
	_, err := d.FS.Stat(MachineFile)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// SaveMachine writes the machine's credential.
func (d Dir) SaveMachine(c *Credential) error {
	if c.Principal.Kind != KindMachine {
		return fmt.Errorf("identity: %v is not a machine", c.Principal)
	}
	return d.write(MachineFile, c.Encode())
}

// Machine reads the machine's credential.
func (d Dir) Machine(now time.Time) (*Credential, error) {
	c, err := d.credential(MachineFile, now)
	if err == nil && c.Principal.Kind != KindMachine {
		err = fmt.Errorf("%w: %s names %v, not a machine", ErrCredential, MachineFile, c.Principal)
	}
	return c, err
}

// SaveAdmin writes the admin user's credential.
func (d Dir) SaveAdmin(c *Credential) error { return d.write(AdminFile, c.Encode()) }

// Admin reads the admin user's credential.
func (d Dir) Admin(now time.Time) (*Credential, error) { return d.credential(AdminFile, now) }

func (d Dir) credential(name string, now time.Time) (*Credential, error) {
	data, err := diskmodel.ReadFile(d.FS, name)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	c, err := DecodeCredential(data, now)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// JoinKey reads the key of a join in progress, or makes and saves one: a
// machine that asks again after a lost answer asks with the same key, and
// the issuer gives it the same id (Issuer.Join).
func (d Dir) JoinKey() (ed25519.PrivateKey, error) {
	data, err := diskmodel.ReadFile(d.FS, JoinKeyFile)
	switch {
	case err == nil:
		blk, _ := pem.Decode(data)
		if blk == nil || blk.Type != pemKey {
			return nil, fmt.Errorf("%w: %s is not a PEM private key", ErrCredential, JoinKeyFile)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		key, ok := k.(ed25519.PrivateKey)
		if err != nil || !ok {
			return nil, fmt.Errorf("%w: %s: not an ed25519 key", ErrCredential, JoinKeyFile)
		}
		return key, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("identity: %w", err)
	}
	key, err := NewKey(nil)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if err := d.write(JoinKeyFile, pem.EncodeToMemory(&pem.Block{Type: pemKey, Bytes: der})); err != nil {
		return nil, err
	}
	return key, nil
}

// RemoveJoinKey deletes the key of a finished (or refused) join.
func (d Dir) RemoveJoinKey() error {
	if err := d.FS.Remove(JoinKeyFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("identity: %w", err)
	}
	return nil
}

// SaveCA writes the CA.
func (d Dir) SaveCA(ca *CA) error { return d.write(CAFile, ca.Encode()) }

// CA reads the CA; an error wrapping fs.ErrNotExist means this machine
// does not hold it.
func (d Dir) CA() (*CA, error) {
	data, err := diskmodel.ReadFile(d.FS, CAFile)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	ca, err := DecodeCA(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CAFile, err)
	}
	return ca, nil
}

// IncarnationMax bounds the incarnation counter, far beyond any number of
// restarts, so a garbled file cannot wrap it.
const IncarnationMax = 1 << 48

// NextIncarnation draws this start's incarnation: one more than the last,
// durable before it returns, so a restarted machine never reuses one.
func (d Dir) NextIncarnation() (uint64, error) {
	last := uint64(0)
	data, err := diskmodel.ReadFile(d.FS, IncarnationFile)
	switch {
	case err == nil:
		last, err = strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
		if err != nil || last >= IncarnationMax {
			return 0, fmt.Errorf("identity: %s holds %q, not an incarnation", IncarnationFile, data)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return 0, fmt.Errorf("identity: %w", err)
	}
	next := last + 1
	if err := d.write(IncarnationFile, []byte(strconv.FormatUint(next, 10)+"\n")); err != nil {
		return 0, err
	}
	return next, nil
}

// SaveToken writes a token record (replacing one of the same id).
func (d Dir) SaveToken(r TokenRecord) error {
	return d.write(TokensDir+"/"+r.Token.IDString(), r.Encode())
}

// RemoveToken deletes a token record; a missing one is no error.
func (d Dir) RemoveToken(id string) error {
	name := TokensDir + "/" + id
	if err := d.FS.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("identity: %w", err)
	}
	return d.FS.SyncDir(TokensDir)
}

// Tokens lists the token records, by id. A record that does not decode is
// an error: the issuer must not guess.
func (d Dir) Tokens() ([]TokenRecord, error) {
	infos, err := d.FS.ReadDir(TokensDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	var out []TokenRecord
	for _, info := range infos {
		if info.IsDir || strings.HasSuffix(info.Name, ".tmp") {
			continue
		}
		data, err := diskmodel.ReadFile(d.FS, TokensDir+"/"+info.Name)
		if err != nil {
			return nil, fmt.Errorf("identity: %w", err)
		}
		r, err := DecodeTokenRecord(data)
		if err != nil {
			return nil, fmt.Errorf("identity: %s/%s: %w", TokensDir, info.Name, err)
		}
		if r.Token.IDString() != info.Name {
			return nil, fmt.Errorf("%w: %s/%s holds token %s", ErrToken, TokensDir, info.Name, r.Token.IDString())
		}
		out = append(out, r)
	}
	return out, nil
}

// TokenRecordSizeMax bounds a token record file.
const TokenRecordSizeMax = 1 << 10

// Encode is the record as a file:
//
//	token flk1-...
//	expires 2026-01-02T15:04:05Z
//	uses 3
func (r *TokenRecord) Encode() []byte {
	return fmt.Appendf(nil, "token %s\nexpires %s\nuses %d\n", r.Token, r.Expires.UTC().Format(time.RFC3339), r.UsesLeft)
}

// DecodeTokenRecord parses a file written by TokenRecord.Encode.
func DecodeTokenRecord(data []byte) (TokenRecord, error) {
	if len(data) > TokenRecordSizeMax {
		return TokenRecord{}, fmt.Errorf("%w: record of %d bytes", ErrToken, len(data))
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 3 {
		return TokenRecord{}, fmt.Errorf("%w: record has %d lines, want 3", ErrToken, len(lines))
	}
	field := func(i int, key string) (string, error) {
		v, ok := strings.CutPrefix(lines[i], key+" ")
		if !ok {
			return "", fmt.Errorf("%w: line %d is not %q", ErrToken, i+1, key)
		}
		return v, nil
	}
	var r TokenRecord
	v, err := field(0, "token")
	if err == nil {
		r.Token, err = ParseToken(v)
	}
	if err == nil {
		v, err = field(1, "expires")
	}
	if err == nil {
		r.Expires, err = time.Parse(time.RFC3339, v)
	}
	if err == nil {
		v, err = field(2, "uses")
	}
	if err == nil {
		r.UsesLeft, err = strconv.Atoi(v)
		if err == nil && (r.UsesLeft < 0 || strconv.Itoa(r.UsesLeft) != v) {
			err = fmt.Errorf("uses %q", v)
		}
	}
	if err != nil {
		return TokenRecord{}, fmt.Errorf("%w: %w", ErrToken, err)
	}
	return r, nil
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
