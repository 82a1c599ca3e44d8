//! traillake: a local CloudTrail Lake.
//!
//! Data flows one way: sources → [`ingest`] → [`store`] ← [`engine`] ← front ends ([`cli`], [`repl`]).

pub mod allocator;
pub mod cli;
pub mod demo;
pub mod engine;
pub mod flight;
pub mod ingest;
pub mod library;
pub mod lookup;
pub mod repl;
pub mod s3;
pub mod saved;
pub mod schema;
pub mod store;
