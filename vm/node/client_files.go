package node

import (
	"errors"
	"fmt"

	"github.com/flockvm/flock/vm/sys"
)

// The storage commands (flock ls, cat, put, mkdir, rm, chmod, redundancy):
// a client's file operation runs on the node it talks to, as the client's
// user, through a file session of that node (files.go): the same
// permissions, redundancy and durability as a program's.

// ClientFileBytesMax bounds a file flock put sends or flock cat receives
// in one message (a frame must hold it whole).
const ClientFileBytesMax = 8 << 20

func (n *Node) clientFile(s *clientSession, m *ClientMsg) {
	seq, op, path := m.Seq, m.FileOp, m.Key
	bad := func(why string) {
		n.answer(s, seq, &ClientMsg{Code: CodeBadRequest, Text: fmt.Sprintf("%v %s: %s", op, path, why)})
	}
	switch {
	case len(path) > 4096:
		bad("a path of more than 4096 bytes")
		return
	case len(m.Data) > ClientFileBytesMax:
		bad(fmt.Sprintf("a file of more than %d bytes", ClientFileBytesMax))
		return
	case !n.joined:
		n.answer(s, seq, n.notJoined())
		return
	}
	var change sys.AttrChange
	switch {
	case op == FileSetAttr:
		var err error
		if change, err = sys.ParseAttrChange([]byte(m.Text)); err != nil {
			bad(err.Error())
			return
		}
	case op == 0 || op >= numFileOps:
		bad("not a file operation")
		return
	}
	limit := uint64(ClientFileBytesMax)
	reply := func(data []byte, err error) {
		if err == nil && uint64(len(data)) > limit {
			err = &FileError{Op: op.String(), Path: path, Errno: sys.EFBIG}
		}
		n.answer(s, seq, fileReply(op, data, err))
	}
	if op == FileRead {
		n.readFile(s.user, path, limit, reply)
		return
	}
	n.fileOp(op, s.user, path, m.Data, change, reply)
}

// fileReply is the answer to a file operation: the errno maps to a code
// (EACCES denied, EAGAIN unavailable: try again, EIO on a change unknown:
// it may have happened), the text names the operation and the path.
func fileReply(op FileOp, data []byte, err error) *ClientMsg {
	if err == nil {
		return &ClientMsg{Data: data}
	}
	var fe *FileError
	if !errors.As(err, &fe) {
		return &ClientMsg{Code: CodeRefused, Text: err.Error()}
	}
	rep := &ClientMsg{Code: CodeRefused, Errno: uint64(fe.Errno), Text: fe.Error()}
	switch fe.Errno {
	case sys.EACCES:
		rep.Code = CodeDenied
	case sys.EAGAIN:
		rep.Code = CodeUnavailable
	case sys.EIO:
		if op != FileList && op != FileRead && op != FileGetAttr {
			rep.Code = CodeUnknown
		}
	}
	return rep
}
