package session

import "time"

// entry is one registered session.
type entry struct {
	s      *Session
	tr     Transport
	since  time.Time
	rng    Range
	ranged bool // rng was recorded in the range set of tr
}

// collections are one direction's sessions of every transport, keyed by peer (Key: at
// most one session per peer and direction). A peer is in at most one of the two maps.
// The counts per transport are kept with the maps, since each transport has its own
// limits; change the maps only through add, promote and remove.
type collections struct {
	uncons map[Key]*entry
	cons   map[Key]*entry
	n      [NumTransports]int // sessions in both maps
	ncons  [NumTransports]int // sessions in cons
}

func newCollections() collections {
	return collections{uncons: map[Key]*entry{}, cons: map[Key]*entry{}}
}

// total returns the number of sessions of transport tr, consolidated or not.
func (c *collections) total(tr Transport) int { return c.n[tr] }

// add puts e in the unconsolidated map.
func (c *collections) add(k Key, e *entry) {
	c.uncons[k] = e
	c.n[e.tr]++
}

// promote moves e from the unconsolidated to the consolidated map.
func (c *collections) promote(k Key, e *entry) {
	delete(c.uncons, k)
	c.cons[k] = e
	c.ncons[e.tr]++
}

// remove takes the entry of k out of either map and reports whether it was consolidated.
func (c *collections) remove(k Key) (wasCons bool) {
	if e, ok := c.uncons[k]; ok {
		delete(c.uncons, k)
		c.n[e.tr]--
		return false
	}
	if e, ok := c.cons[k]; ok {
		delete(c.cons, k)
		c.n[e.tr]--
		c.ncons[e.tr]--
		return true
	}
	return false
}

// lookup returns the entry of k and whether it is consolidated.
func (c *collections) lookup(k Key) (*entry, Status, bool) {
	if e, ok := c.uncons[k]; ok {
		return e, Unconsolidated, true
	}
	if e, ok := c.cons[k]; ok {
		return e, Consolidated, true
	}
	return nil, 0, false
}
