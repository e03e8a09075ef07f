package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the unit of the CPU times in /proc/stat and /proc/<pid>/stat: USER_HZ,
// which Linux fixes at 100 ticks per second on every architecture Go supports.
const userHZ = 100

// machineSample is the machine's state at one instant, read from /proc: enough to tell
// the CPU other processes used between two samples.
type machineSample struct {
	at    time.Time
	load1 float64       // 1-minute load average
	busy  int64         // ticks all CPUs spent on anything but idling (/proc/stat)
	self  int64         // ticks this process spent (/proc/self/stat utime + stime)
	cpu   time.Duration // this process's CPU time, finer than its ticks (getrusage)
	ok    bool          // the /proc counters were read
}

func sampleMachine() machineSample {
	m := machineSample{at: time.Now(), cpu: cpuTime()}
	var err1, err2, err3 error
	m.load1, err1 = loadAverage()
	m.busy, err2 = busyTicks()
	m.self, err3 = selfTicks()
	m.ok = err1 == nil && err2 == nil && err3 == nil
	return m
}

// otherCores returns the CPU other processes used between a and b, in cores (seconds of
// CPU per second): all CPUs' busy time minus this process's, over the elapsed time. Tick
// counts make it exact to about 2 ticks (20 ms) per window. NaN when /proc could not be
// read.
func otherCores(a, b machineSample) float64 {
	wall := b.at.Sub(a.at).Seconds()
	if !a.ok || !b.ok || wall <= 0 {
		return nan
	}
	other := float64((b.busy-a.busy)-(b.self-a.self)) / userHZ
	return other / wall
}

// loadAverage returns the 1-minute load average of /proc/loadavg.
func loadAverage() (float64, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nan, err
	}
	return parseLoadAverage(b)
}

func parseLoadAverage(b []byte) (float64, error) {
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return nan, errors.New("empty /proc/loadavg")
	}
	return strconv.ParseFloat(f[0], 64)
}

// busyTicks returns the ticks all CPUs spent busy since boot: the "cpu" line of
// /proc/stat without idle and iowait (guest time is already inside user and nice).
func busyTicks() (int64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseBusyTicks(b)
}

func parseBusyTicks(b []byte) (int64, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 8 || f[0] != "cpu" {
		return 0, fmt.Errorf("unexpected /proc/stat line %q", line)
	}
	// user nice system idle iowait irq softirq steal ...
	var busy int64
	for i, s := range f[1:min(len(f), 9)] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		if i != 3 && i != 4 {
			busy += v
		}
	}
	return busy, nil
}

// selfTicks returns this process's utime + stime from /proc/self/stat.
func selfTicks() (int64, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, err
	}
	return parseSelfTicks(b)
}

func parseSelfTicks(b []byte) (int64, error) {
	// The command name (field 2) is in parentheses and may hold spaces: count fields
	// after its closing parenthesis, where field 3 (state) comes first.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc/self/stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc/self/stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/self/stat: %w", err)
	}
	return utime + stime, nil
}

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startProfile starts a CPU profile into path (nothing when path is empty) and returns
// the function that stops it.
func startProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}
