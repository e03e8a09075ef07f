//go:build !race

package codec

// raceEnabled reports whether the race detector is on; it changes allocation counts.
const raceEnabled = false
