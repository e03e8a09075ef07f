package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// flagsFirst returns args (args[0] the program name) with the flags of the command they
// name moved before its positional arguments. urfave/cli v2 stops reading flags at the
// first positional argument, so "add-peers ADDR --rpc-addr X" would take "--rpc-addr" and
// "X" as two more addresses; after this reordering it reads the flag.
//
// The command is found by following command names from args[1] (through sub-commands:
// "inventory get"); args without a known command are returned as they are. A flag that
// takes a value keeps the next argument with it unless written "--flag=value"; a bool
// flag never takes the next argument. Everything after "--" stays positional, in order.
func flagsFirst(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	cmds := app.Commands
	var cmd *cli.Command
	i := 1
	for i < len(args) {
		next := findCommand(cmds, args[i])
		if next == nil {
			break
		}
		cmd, cmds = next, next.Subcommands
		i++
	}
	if cmd == nil || len(cmd.Subcommands) > 0 || cmd.SkipFlagParsing {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, name := range f.Names() {
			takesValue[name] = !isBool
		}
	}
	head := append([]string(nil), args[:i]...)
	var flags, positional []string
	rest := args[i:]
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		switch {
		case a == "--":
			positional = append(positional, rest[j:]...)
			j = len(rest)
		case len(a) > 1 && a[0] == '-':
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && takesValue[name] && j+1 < len(rest) {
				j++
				flags = append(flags, rest[j])
			}
		default:
			positional = append(positional, a)
		}
	}
	if len(positional) > 0 && positional[0] != "--" && len(flags) > 0 {
		// Keep a positional argument that starts with "-" (none of ours does) from being
		// read as a flag once the flags moved: they are separated by "--".
		return append(append(append(head, flags...), "--"), positional...)
	}
	return append(append(head, flags...), positional...)
}

// findCommand returns the command of cmds named (or aliased) name, or nil.
func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// didYouMean returns ` (did you mean "NAME"?)` for the visible command of cmds closest
// to name, or "" when none is close: at most a third of the name's letters differ (one
// letter at least), or one name is a prefix of the other.
func didYouMean(cmds []*cli.Command, name string) string {
	best, bestDist := "", -1
	for _, c := range cmds {
		if c.Hidden {
			continue
		}
		for _, n := range c.Names() {
			d := editDistance(strings.ToLower(name), n)
			if strings.HasPrefix(n, name) || strings.HasPrefix(name, n) {
				d = min(d, 1)
			}
			if bestDist < 0 || d < bestDist {
				best, bestDist = n, d
			}
		}
	}
	if best == "" || bestDist > max(1, len(name)/3) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
