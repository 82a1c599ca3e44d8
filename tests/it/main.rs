//! The one integration-test binary (each extra binary relinks DataFusion).

mod common;
mod formats;
mod real_data;
