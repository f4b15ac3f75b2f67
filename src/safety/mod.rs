//! Safety rules the server enforces itself, whatever the model says.
//!
//! - [`red_flag`]: the deterministic matcher run on every caller transcript (911 / 988).

pub mod red_flag;
