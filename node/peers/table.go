package peers

// table is a fixed array of slots plus a dense list of the occupied ones, so that picking a
// uniformly random occupied slot and counting them are O(1).
type table struct {
	slots    []*entry
	pos      []int32 // position of each slot in occupied, -1 when empty
	occupied []uint16
}

func newTable(capacity int) *table {
	t := &table{slots: make([]*entry, capacity), pos: make([]int32, capacity)}
	for i := range t.pos {
		t.pos[i] = -1
	}
	return t
}

func (t *table) get(i uint16) *entry { return t.slots[i] }

func (t *table) len() int { return len(t.occupied) }

// set writes slot i; a nil e empties it.
func (t *table) set(i uint16, e *entry) {
	t.slots[i] = e
	p := t.pos[i]
	switch {
	case e != nil && p < 0:
		t.pos[i] = int32(len(t.occupied))
		t.occupied = append(t.occupied, i)
	case e == nil && p >= 0:
		last := len(t.occupied) - 1
		moved := t.occupied[last]
		t.occupied[p] = moved
		t.pos[moved] = p
		t.occupied = t.occupied[:last]
		t.pos[i] = -1
	}
}

// clear empties every slot.
func (t *table) clear() {
	for _, i := range t.occupied {
		t.slots[i] = nil
		t.pos[i] = -1
	}
	t.occupied = t.occupied[:0]
}
