package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// runMainCapture runs the whole CLI in-process as main does and returns its exit code and
// output.
func runMainCapture(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = runMain(append([]string{"witnet-p2p"}, args...), strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestUnknownCommand: an unknown command, at the top or below a command with
// sub-commands, directly or as a help topic, is a one-line error with exit code 1 and no
// help text (urfave/cli's default is "No help topic" and exit code 3).
func TestUnknownCommand(t *testing.T) {
	tests := []struct {
		args   []string
		stderr string
	}{
		{[]string{"bogus"}, `witnet-p2p: unknown command "bogus"` + "\n"},
		{[]string{"bogus", "decode"}, `witnet-p2p: unknown command "bogus"` + "\n"},
		{[]string{"help", "bogus"}, `witnet-p2p: unknown command "bogus"` + "\n"},
		{[]string{"message", "bogus"}, `witnet-p2p: unknown message command "bogus": want decode, encode or hash` + "\n"},
		{[]string{"message", "help", "bogus"}, `witnet-p2p: unknown message command "bogus": want decode, encode or hash` + "\n"},
		{[]string{"message", "h", "bogus"}, `witnet-p2p: unknown message command "bogus": want decode, encode or hash` + "\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runMainCapture(t, tt.args...)
			require.Equal(t, 1, code)
			require.Equal(t, tt.stderr, stderr)
			require.Empty(t, stdout, "no help text")
		})
	}
}

// TestHelpTopics: help still works at every level, bare or as "help [NAME]", with exit
// code 0.
func TestHelpTopics(t *testing.T) {
	tests := []struct {
		args []string
		want string // first line of the help after NAME:
	}{
		{nil, "witnet-p2p - a Witnet P2P peer over libp2p"},
		{[]string{"help"}, "witnet-p2p - a Witnet P2P peer over libp2p"},
		{[]string{"--help"}, "witnet-p2p - a Witnet P2P peer over libp2p"},
		{[]string{"help", "message"}, "witnet-p2p message - decode, encode and hash Witnet P2P messages"},
		{[]string{"help", "version"}, "witnet-p2p version - print the version"},
		{[]string{"message"}, "witnet-p2p message - decode, encode and hash Witnet P2P messages"},
		{[]string{"message", "help"}, "witnet-p2p message - decode, encode and hash Witnet P2P messages"},
		{[]string{"message", "help", "decode"}, "witnet-p2p message decode - print a protobuf Message (hex) as JSON"},
		{[]string{"message", "decode", "--help"}, "witnet-p2p message decode - print a protobuf Message (hex) as JSON"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runMainCapture(t, tt.args...)
			require.Equal(t, 0, code, stderr)
			require.Empty(t, stderr)
			require.True(t, strings.HasPrefix(stdout, "NAME:\n"), stdout)
			require.Contains(t, stdout, "\n   "+tt.want)
		})
	}
}

// TestRunMainExitCodes: success is 0, any failure 1 with the error on one line.
func TestRunMainExitCodes(t *testing.T) {
	code, stdout, stderr := runMainCapture(t, "message", "decode", "08cc5312021200")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, `"Verack"`)

	code, stdout, stderr = runMainCapture(t, "message", "decode", "zz")
	require.Equal(t, 1, code)
	require.Empty(t, stdout)
	require.True(t, strings.HasPrefix(stderr, "witnet-p2p: "), stderr)
	require.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
}

// TestUnknownSubcommandText: the list of sub-commands in the error follows the command's
// visible sub-commands.
func TestUnknownSubcommandText(t *testing.T) {
	cmd := messageCommand()
	require.EqualError(t, unknownSubcommand(cmd)("x"), `unknown message command "x": want decode, encode or hash`)
	cmd.Subcommands = cmd.Subcommands[:1]
	require.EqualError(t, unknownSubcommand(cmd)("x"), `unknown message command "x": want decode`)
	cmd.Subcommands[0].Hidden = true
	require.EqualError(t, unknownSubcommand(cmd)("x"), `unknown message command "x"`)
}
