package secrets

// Hit is called at the named crash points of a vault rewrite. It does
// nothing in a normal build; a test build (-tags faults) replaces it to
// kill the process there with SIGKILL, so that a test can prove a vault
// rewritten by a process killed at any of these moments still opens, with
// the old content or the new (RELIABILITY.md).
var Hit = func(point string) {}

// Crash points of a vault rewrite.
const (
	// PointVaultTemp: the new vault is written and synced under its
	// temporary name; the old one is still in place.
	PointVaultTemp = "vault.temp"
	// PointVaultRenamed: the new vault has replaced the old one; the
	// directory is not synced yet.
	PointVaultRenamed = "vault.renamed"
)

// Points lists the crash points of this package.
var Points = []string{PointVaultTemp, PointVaultRenamed}
