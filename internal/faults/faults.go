// Package faults holds callbackd's fault tests: they build the real binary,
// run it as a child process against SQLite or PostgreSQL, drive it with a
// sender that retries like the LLM job service, inject faults (SIGKILL,
// SIGTERM under load, a killed replica, lost database connections, a full
// disk) and then check the stored rows and the change feed against what the
// sender was told. The tests live in package faults_test; this file only
// documents the package. RELIABILITY.md at the repository root describes
// each test, how to run it and the figures it printed.
package faults
