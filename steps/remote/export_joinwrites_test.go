package remote

// JoinedWrites is how many writes the pool's connections have joined so
// far (joinwrites.go), for the tests of package remote_test.
func JoinedWrites() int64 { return joined.Load() }
