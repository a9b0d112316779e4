package identity

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/flockvm/flock/diskmodel"
)

// The issuer's records in the VM's metadata store. Once machine 1 has
// handed its data dir's issuer state over (HandedOverFile), every machine
// admits joiners and signs users' certificates from these: a machine that
// dies takes none of it with it. Only machines read the metadata store
// (clients' keys live under a prefix of their own), so the CA's key there
// is as safe as on machine 1's disk: every machine of the VM is trusted
// with the VM's metadata already.
const (
	KeyCA            = "i/ca"                 // the CA, CA.Encode
	KeyLastMachineID = "i/last-machine-id"    // the last machine id handed out, decimal
	KeyTokenPrefix   = "i/t/"                 // + token id (hex): TokenRecord.Encode
	KeyIssuedPrefix  = "i/issued/"            // + IssuedKeyName: the machine id, decimal
	HandedOverFile   = "identity/handed-over" // machine 1: the state above is the VM's now
)

// ErrJoinUnavailable wraps a join the issuer could not serve now (its
// metadata store unreachable, its CA not read yet): the joiner tries again.
var ErrJoinUnavailable = errors.New("identity: join unavailable, retry later")

// TokenKey is the metadata key of a token's record.
func TokenKey(t Token) string { return KeyTokenPrefix + t.IDString() }

// IssuedKeyName names a public key in the issued records: the hex of the
// first 16 bytes of its SHA-256, as the data dir's identity/issued files.
func IssuedKeyName(pub []byte) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:16])
}

// IssuedKey is the metadata key of the machine id pub was admitted as.
func IssuedKey(pub ed25519.PublicKey) string { return KeyIssuedPrefix + IssuedKeyName(pub) }

// ParseMachineID reads a decimal machine id (what/holds name the value in
// the error).
func ParseMachineID(what, v string) (uint64, error) {
	id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
	if err != nil || id == 0 || id >= IncarnationMax {
		return 0, fmt.Errorf("identity: %s holds %q, not a machine id", what, v)
	}
	return id, nil
}

// IssuerState is a data dir's issuer state, as handed over to the
// metadata store.
type IssuerState struct {
	CA            *CA
	LastMachineID uint64
	Tokens        []TokenRecord
	Issued        map[string]uint64 // IssuedKeyName -> machine id
}

// IssuerState reads the data dir's issuer state (the dir holds the CA).
func (d Dir) IssuerState() (IssuerState, error) {
	ca, err := d.CA()
	if err != nil {
		return IssuerState{}, err
	}
	st := IssuerState{CA: ca, Issued: map[string]uint64{}}
	data, err := diskmodel.ReadFile(d.FS, MachinesFile)
	switch {
	case err == nil:
		if st.LastMachineID, err = ParseMachineID(MachinesFile, string(data)); err != nil {
			return IssuerState{}, err
		}
	case !isNotExist(err):
		return IssuerState{}, fmt.Errorf("identity: %w", err)
	}
	if st.Tokens, err = d.Tokens(); err != nil {
		return IssuerState{}, err
	}
	infos, err := d.FS.ReadDir(IssuedDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return IssuerState{}, fmt.Errorf("identity: %w", err)
	}
	for _, info := range infos {
		if info.IsDir || strings.HasSuffix(info.Name, ".tmp") {
			continue
		}
		data, err := diskmodel.ReadFile(d.FS, IssuedDir+"/"+info.Name)
		if err != nil {
			return IssuerState{}, fmt.Errorf("identity: %w", err)
		}
		id, err := ParseMachineID(IssuedDir+"/"+info.Name, string(data))
		if err != nil {
			return IssuerState{}, err
		}
		st.Issued[info.Name] = id
	}
	return st, nil
}

// HandedOver reports whether the data dir's issuer state was handed over
// to the metadata store.
func (d Dir) HandedOver() (bool, error) {
	_, err := d.FS.Stat(HandedOverFile)
	if isNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("identity: %w", err)
	}
	return true, nil
}

// MarkHandedOver records that the issuer state is the metadata store's.
func (d Dir) MarkHandedOver() error {
	return d.write(HandedOverFile, []byte("the issuer's state is in the VM's metadata store\n"))
}
