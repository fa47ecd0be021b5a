// Package printable makes text that packs send safe to show on a
// terminal or a page: control characters, the invisible characters that
// reorder text, and bytes that are not UTF-8 are written as Go escapes
// (\x1b, \u202e), so a pack cannot move the cursor, recolour or hide what
// the host prints. What a run records (results.json) keeps the text exact;
// only what is shown goes through here.
package printable
