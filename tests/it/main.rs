//! The one integration-test binary (each extra binary relinks DataFusion).

mod architecture;
mod awsapi;
mod cli;
mod common;
mod crash;
mod dashboards;
mod detect;
mod flight;
mod formats;
mod insights;
mod integrity;
mod investigations;
mod kinds;
mod lifecycle;
mod query;
mod real_data;
mod repl;
mod s3;
mod sigma;
mod slt;
