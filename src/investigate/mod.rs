//! Investigations: what a responder reaches for before writing SQL. Saved queries (`saved`: a
//! `.sql` file with a header of parameters), the library of them built into the binary
//! (`library`), and CloudTrail's Event history (`lookup`, LookupEvents over a store). Every
//! front end (the CLI, the REPL's `\run`, the demo) takes them from here.

pub mod library;
pub mod lookup;
pub mod saved;
