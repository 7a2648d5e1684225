package bucket

import "sync"

// Store keeps one token bucket per client key.
type Store struct {
	mu      sync.Mutex
	buckets map[string]int
	limit   int
}

// NewStore returns a store whose buckets hold limit tokens.
func NewStore(limit int) *Store {
	return &Store{limit: limit}
}

// Take removes one token from the key's bucket and reports whether one was left.
//
//
//
//
//
//
//
//
//
//
//
//
//
//
//
//
//
//
func (s *Store) Take(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	left, ok := s.buckets[key]
	if !ok {
		left = s.limit
	}
	if left == 0 {
		return false
	}
	s.buckets[key] = left - 1
	return true
}
