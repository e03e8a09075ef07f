package node

import (
	"testing"
	"time"
)

// pollInterval is how often the tests' conditions are checked.
const pollInterval = time.Millisecond

// eventually checks cond every tick until it holds or timeout has passed, and reports
// whether it held. It is for callers that measure or report rather than fail.
func eventually(timeout, tick time.Duration, cond func() bool) bool {
	if cond() {
		return true
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for {
		select {
		case <-deadline.C:
			return cond()
		case <-ticker.C:
			if cond() {
				return true
			}
		}
	}
}

// waitFor waits until cond holds, checking it every pollInterval, and fails the test
// after timeout with what explain says (explain may be nil; it is called only on
// failure).
func waitFor(t testing.TB, timeout time.Duration, cond func() bool, explain func() string) {
	t.Helper()
	if eventually(timeout, pollInterval, cond) {
		return
	}
	msg := ""
	if explain != nil {
		msg = ": " + explain()
	}
	t.Fatalf("condition not met within %v%s", timeout, msg)
}
