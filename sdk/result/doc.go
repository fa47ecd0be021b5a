// Package result is the contract of results between packs and the host:
// the seven pyATS results and their rollup (Result, Rollup), the counts of
// a set of results (Counts), and the run summary the host hands to hooks
// (RunSummary, with the hook Stages). The host and the SDK both use these
// types, so each is defined once; the sdk package re-exports them, so a
// pack author seldom imports this package directly.
package result
