// Package sessiontest holds helpers for tests of packages that run sessions: it records
// the JSON lines of go-log loggers so a test can assert what a session logged.
package sessiontest
