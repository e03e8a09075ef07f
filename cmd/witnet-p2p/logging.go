package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	logging "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/gologshim"
)

// setupLogging gives the whole process one log format and sets the level of the witnet/*
// loggers, unless GOLOG_LOG_LEVEL is set (go-log has then applied it to every logger
// already). Every witnet logger is a package variable, so they all exist by now;
// SetLogLevelRegex reaches only existing loggers.
func setupLogging(level string) error {
	lvl, err := logging.Parse(level)
	if err != nil {
		return fmt.Errorf("--%s %q: want debug, info, warn or error", flagLogLevel, level)
	}
	routeSlog()
	if os.Getenv("GOLOG_LOG_LEVEL") != "" {
		return nil
	}
	return logging.SetLogLevelRegex("witnet/.*", lvl.String())
}

// routeSlog sends the log/slog records of go-libp2p (and of anything else logging
// through slog) into go-log, so they come out in go-log's format (GOLOG_LOG_FMT) under
// go-log's per-logger levels, rather than in slog's own text format with module-cache
// paths. It must run before the libp2p host is built: libp2p's loggers pick their
// handler at their first use.
//
// libp2p's start-up framework (fx, in the p2p-config logger) reports a failed start at
// ERROR, three lines for the one error that libp2p.New also returns, and which the node
// reports itself; its records are logged at DEBUG instead.
func routeSlog() {
	h := quietFx{logging.SlogHandler()}
	gologshim.SetDefaultHandler(h)
	slog.SetDefault(slog.New(h))
}

// quietFx is a slog.Handler that logs the records of fx's logger (attribute
// system=fx) at DEBUG.
type quietFx struct{ slog.Handler }

func (q quietFx) WithAttrs(attrs []slog.Attr) slog.Handler {
	for _, a := range attrs {
		if a.Key == "system" && a.Value.String() == "fx" {
			return debugOnly{q.Handler.WithAttrs(attrs)}
		}
	}
	return quietFx{q.Handler.WithAttrs(attrs)}
}

func (q quietFx) WithGroup(name string) slog.Handler { return quietFx{q.Handler.WithGroup(name)} }

// debugOnly logs every record at DEBUG, whatever its level.
type debugOnly struct{ slog.Handler }

func (d debugOnly) Enabled(ctx context.Context, _ slog.Level) bool {
	return d.Handler.Enabled(ctx, slog.LevelDebug)
}

func (d debugOnly) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return d.Handler.Handle(ctx, r)
}

func (d debugOnly) WithAttrs(attrs []slog.Attr) slog.Handler {
	return debugOnly{d.Handler.WithAttrs(attrs)}
}

func (d debugOnly) WithGroup(name string) slog.Handler { return debugOnly{d.Handler.WithGroup(name)} }
