// Package sessiontest holds helpers for tests of packages that run sessions: RawStream
// plays a session's peer by hand over a libp2p stream, and CaptureLogs records the JSON
// lines of go-log loggers so a test can assert what a session logged.
package sessiontest
