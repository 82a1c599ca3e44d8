//! The one integration-test binary (each extra binary relinks DataFusion).

mod cli;
mod common;
mod crash;
mod formats;
mod query;
mod real_data;
mod s3;
mod slt;
