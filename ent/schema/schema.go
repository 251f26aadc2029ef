// Package schema defines callbackd's tables for ent. The tables are created
// by the hand-written migrations in store/migrations, not by ent; a test in
// package store checks that both agree.
package schema
