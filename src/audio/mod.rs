//! Audio primitives: G.711 μ-law, sample-rate conversion and the pre-rendered prompts.
//!
//! Nothing here does I/O or knows about calls; the hot path (per 20 ms frame) only uses the
//! table-driven μ-law functions.

pub mod asset;
pub mod mulaw;
pub mod prompts;
pub mod resample;
pub mod stream_resample;
