//! traillake: a local CloudTrail Lake.
//!
//! Data flows one way: sources → [`ingest`] → [`store`] ← [`engine`] ← front ends ([`cli`], [`repl`]).

pub mod allocator;
pub mod awsapi;
pub mod cli;
pub mod dashboards;
pub mod demo;
pub mod detect;
pub mod engine;
pub mod error;
pub mod flight;
pub mod human;
pub mod ingest;
pub mod insights;
pub mod investigate;
pub mod keys;
pub mod output;
pub mod repl;
pub mod rules;
pub mod s3;
pub mod schema;
pub mod store;
pub mod tape;
