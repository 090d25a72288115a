// Package security is tenantrun's red-team suite: each test attacks one escape class
// (docs/security.md lists the invariants and the test that proves each) through the
// mechanism that closes it, with more than the single instance that first broke it.
package security
