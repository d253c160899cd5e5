//! What every Unix build shares, whichever backend drives the writes (the real one in
//! `unix/`, or the simulated kernel in `fake.rs` of model-checking and Miri builds): the E-1
//! error table and pipe creation (S-1).

pub(crate) mod errors;
pub(crate) mod pipe;
