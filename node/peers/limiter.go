package peers

// maxLimited bounds the token buckets kept. A bucket that refilled to its burst holds no
// information and is dropped first; only beyond that (thousands of sources sending within
// hours) is the least recently used one dropped, which hands its source a full bucket.
const maxLimited = 4096

// tokenBucket is one source's allowance of gossiped addresses.
type tokenBucket struct {
	tokens float64
	last   int64 // Unix seconds of the last refill
}

// limiter rate-limits gossiped addresses per source (Bitcoin Core's per-peer addr token
// bucket). A source starts with a full bucket: our own GetPeers is what makes peers send
// addresses, and its first reply must fit.
type limiter struct {
	buckets map[Key]*tokenBucket
}

// take spends up to n tokens of k's bucket at now and returns how many it got. A
// negative rate means no limit.
func (l *limiter) take(k Key, n int, now int64, rate float64, burst int) int {
	if rate < 0 || n <= 0 {
		return max(n, 0)
	}
	tb := l.buckets[k]
	if tb == nil {
		if len(l.buckets) >= maxLimited {
			l.prune(now, rate, burst)
		}
		tb = &tokenBucket{tokens: float64(burst), last: now}
		l.buckets[k] = tb
	}
	if now > tb.last {
		tb.tokens = min(float64(burst), tb.tokens+float64(now-tb.last)*rate)
		tb.last = now
	}
	got := min(n, int(tb.tokens))
	tb.tokens -= float64(got)
	return got
}

// prune drops the buckets that are full again at now, and if none is, the least recently
// refilled one.
func (l *limiter) prune(now int64, rate float64, burst int) {
	var lru Key
	lruAt := int64(-1)
	for k, tb := range l.buckets {
		if tb.tokens+float64(now-tb.last)*rate >= float64(burst) {
			delete(l.buckets, k)
			continue
		}
		if lruAt < 0 || tb.last < lruAt {
			lru, lruAt = k, tb.last
		}
	}
	if len(l.buckets) >= maxLimited {
		delete(l.buckets, lru)
	}
}
