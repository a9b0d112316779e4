package interp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/flockvm/flock/vm/mem"
)

// A ThreadImage travels between machines as bytes: magic, ids and
// registers, the stack, the frames, the encoded local memory, and a
// CRC-32C.
const imageMagic = "FLKT\x01"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// EncodeImage serialises a thread image (to move it to another machine).
func EncodeImage(img *ThreadImage) []byte { return encodeImage(img, img.Local.Encode()) }

// EncodeImageLazy is EncodeImage with the local memory left, but for the
// pages eager selects, on this machine's pinned snapshot ref (it must stay
// pinned while the thread may fetch from it: mem.Local.EncodeLazy). absent
// counts the pages left behind.
func EncodeImageLazy(img *ThreadImage, ref mem.SnapshotRef, eager func(index uint64) bool) (data []byte, absent int) {
	local, absent := img.Local.EncodeLazy(ref, eager)
	return encodeImage(img, local), absent
}

func encodeImage(img *ThreadImage, local []byte) []byte {
	b := []byte(imageMagic)
	for _, v := range []uint64{img.PID, img.TID, uint64(img.PC), uint64(img.FP), uint64(img.FL), uint64(len(img.Stack))} {
		b = binary.AppendUvarint(b, v)
	}
	for _, w := range img.Stack {
		b = binary.AppendUvarint(b, w)
	}
	b = binary.AppendUvarint(b, uint64(len(img.Frames)))
	for _, f := range img.Frames {
		b = binary.AppendUvarint(b, uint64(uint32(f.Ret)))
		b = binary.AppendUvarint(b, uint64(uint32(f.FP)))
		b = binary.AppendUvarint(b, uint64(uint32(f.FL)))
	}
	b = binary.AppendUvarint(b, uint64(len(local)))
	b = append(b, local...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// ErrBadImage: the bytes are not an encoded thread image.
var ErrBadImage = errors.New("corrupt thread image")

// DecodeImage rebuilds a thread image, charging its local memory to acct.
// AddThread checks the registers against the program.
func DecodeImage(data []byte, acct *mem.Account) (*ThreadImage, error) {
	if len(data) < len(imageMagic)+4 || string(data[:len(imageMagic)]) != imageMagic {
		return nil, fmt.Errorf("%w: bad magic", ErrBadImage)
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrBadImage)
	}
	b := body[len(imageMagic):]
	var err error
	next := func(max uint64) uint64 {
		v, n := binary.Uvarint(b)
		if err == nil && (n <= 0 || v > max) {
			err = fmt.Errorf("%w: bad field", ErrBadImage)
		}
		if n > 0 {
			b = b[n:]
		}
		return v
	}
	const i32 = 1<<31 - 1
	img := &ThreadImage{PID: next(^uint64(0)), TID: next(^uint64(0)), PC: int(next(i32)), FP: int(next(i32)), FL: int(next(i32))}
	n := next(uint64(len(b)))
	for i := uint64(0); i < n && err == nil; i++ {
		img.Stack = append(img.Stack, next(^uint64(0)))
	}
	nf := next(uint64(len(b) / 3))
	for i := uint64(0); i < nf && err == nil; i++ {
		img.Frames = append(img.Frames, Frame{Ret: int32(next(i32)), FP: int32(next(i32)), FL: int32(next(i32))})
	}
	size := next(uint64(len(b)))
	if err != nil {
		return nil, err
	}
	if size != uint64(len(b)) {
		return nil, fmt.Errorf("%w: local memory of %d bytes, %d left", ErrBadImage, size, len(b))
	}
	local, lerr := mem.DecodeLocal(b, acct)
	if lerr != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadImage, lerr)
	}
	img.Local = local
	return img, nil
}
