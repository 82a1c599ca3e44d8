//! `traillake demo`: generate a realistic sample trail, ingest it, and walk through a few
//! investigations — offline and deterministic.

pub mod generate;
pub mod kinds;
pub mod tour;

pub use generate::{generate, GenerateOptions, GenerateReport};
pub use tour::{TourOptions, TOUR};
