// Package repotest holds repository-wide checks that belong to no one
// package: every package documents what it owns.
package repotest
