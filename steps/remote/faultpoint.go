package remote

// Hit is called at the named crash points of the transports below. It
// does nothing in a normal build; a test build (-tags faults) replaces it
// to kill the process there with SIGKILL, so that the crash-point sweep
// can prove a release killed at any of these moments resumes exactly
// (RELIABILITY.md). It must stay cheap.
var Hit = func(point string) {}

// Crash points of the transports.
const (
	// PointExecStart: a command with run markers has been started: the
	// SSH session runs the wrapper (which may not have read the script
	// yet), or the local process was forked.
	PointExecStart = "remote.exec.start"
	// PointExecForked: a local command's shell is forked, but .started
	// does not hold its pid yet and its script has not been sent.
	PointExecForked = "remote.exec.forked"
	// PointExecOutput: the first output of a command with run markers
	// came back over SSH: the command is running on the host.
	PointExecOutput = "remote.exec.output"
	// PointUploadMid: half of the artifact has been read for an upload.
	PointUploadMid = "upload.mid"
	// PointRenameBefore: the upload's temp file is complete and its
	// checksum verified on the host; it is not renamed into place yet.
	PointRenameBefore = "upload.rename.before"
	// PointRenameAfter: the staged file has its final name; the upload
	// has not reported back yet.
	PointRenameAfter = "upload.rename.after"
	// PointSwitchBefore: the previous link is written; current is not
	// switched yet.
	PointSwitchBefore = "activate.switch.before"
	// PointSwitchAfter: current points at the new release; the cleanup
	// of old releases has not run yet.
	PointSwitchAfter = "activate.switch.after"
)

// Points lists the crash points of this package.
var Points = []string{
	PointExecForked, PointExecStart, PointExecOutput, PointUploadMid,
	PointRenameBefore, PointRenameAfter, PointSwitchBefore, PointSwitchAfter,
}
