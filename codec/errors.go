package codec

import (
	"errors"
	"strconv"
)

// ErrFrameTooLarge is the sentinel for a frame whose length exceeds the configured
// maximum. The error actually returned is a *FrameTooLargeError carrying the figures;
// errors.Is(err, ErrFrameTooLarge) matches it.
var ErrFrameTooLarge = errors.New("codec: frame too large")

// FrameTooLargeError reports a frame longer than the maximum frame size: announced by a
// length header on the read side, or the length of a payload being framed.
type FrameTooLargeError struct {
	// Size is the payload length in bytes (the header value when reading).
	Size uint64
	// Max is the maximum payload length in force.
	Max int
}

// Error describes the size and the limit on one line.
func (e *FrameTooLargeError) Error() string {
	return "codec: frame of " + strconv.FormatUint(e.Size, 10) +
		" bytes exceeds the maximum of " + strconv.Itoa(e.Max) + " bytes"
}

// Is reports whether target is ErrFrameTooLarge, so that errors.Is matches the sentinel.
func (e *FrameTooLargeError) Is(target error) bool { return target == ErrFrameTooLarge }
